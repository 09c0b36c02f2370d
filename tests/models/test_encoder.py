"""SentenceEncoder: shapes, unit norm, padding invariance, all-padding rows, load_encoder."""
import pytest
import torch

from wenmai.models.encoder import EncoderConfig, SentenceEncoder, load_encoder

TINY = dict(char_vocab_size=30, word_vocab_size=20, char_dim=8, word_dim=4, hidden=6, dim=5,
            dropout=0.1)


def _model(**overrides) -> SentenceEncoder:
    torch.manual_seed(0)
    return SentenceEncoder(EncoderConfig(**{**TINY, **overrides})).eval()


def _batch():
    chars = torch.tensor([[5, 6, 7, 8], [9, 10, 0, 0], [11, 0, 0, 0]])  # (B=3, T=4), 0 = pad
    words = torch.tensor([[2, 2, 3, 3], [4, 5, 0, 0], [6, 0, 0, 0]])
    return chars, words


VARIANTS = [dict(), dict(pooling="mean"), dict(pooling="max"), dict(cell="lstm"),
            dict(n_layers=2), dict(word_dim=0), dict(embed_pool=True)]


@pytest.mark.parametrize("overrides", VARIANTS)
def test_shape_and_unit_norm(overrides):
    model = _model(**overrides)
    out = model(*_batch())
    assert out.shape == (3, model.dim) == (3, 5)
    assert torch.allclose(out.norm(dim=-1), torch.ones(3), atol=1e-5)


@pytest.mark.parametrize("overrides", VARIANTS)
def test_padding_invariance(overrides):
    model = _model(**overrides)
    chars, words = _batch()
    short = model(chars, words)
    pad = torch.zeros(3, 7, dtype=torch.long)
    longer = model(torch.cat([chars, pad], 1), torch.cat([words, pad], 1))  # (3, 11)
    assert torch.allclose(short, longer, atol=1e-6)
    alone = model(chars[2:, :1], words[2:, :1])  # the one-character row without batch-mates
    assert torch.allclose(alone[0], short[2], atol=1e-6)


@pytest.mark.parametrize("overrides", VARIANTS)
def test_all_padding_row_is_finite(overrides):
    model = _model(**overrides).train()  # dropout on, gradients flowing
    chars, words = _batch()
    chars = torch.cat([chars, torch.zeros(1, 4, dtype=torch.long)])
    words = torch.cat([words, torch.zeros(1, 4, dtype=torch.long)])
    out = model(chars, words)
    assert torch.isfinite(out).all()
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_word_ids_change_the_vector():
    model = _model()
    chars, words = _batch()
    assert not torch.allclose(model(chars, words)[0], model(chars, words.clamp(max=1))[0])


def test_invalid_options_are_rejected():
    with pytest.raises(AssertionError, match="pooling"):
        _model(pooling="cls")
    with pytest.raises(AssertionError, match="cell"):
        _model(cell="transformer")


def test_load_encoder_round_trip(tmp_path):
    from wenmai.models.checkpoint import load_encoder as load_from_checkpoint, save_pretrained
    from wenmai.models.vocab import Vocab

    model = _model()
    vocab = Vocab.build([("你好", ["你好"])])
    save_pretrained(model, tmp_path, vocab=vocab)
    for load in (load_encoder, load_from_checkpoint):
        loaded, loaded_vocab = load(tmp_path)
        assert isinstance(loaded, SentenceEncoder) and loaded.config == model.config
        assert loaded_vocab == vocab
        assert torch.equal(loaded(*_batch()), model(*_batch()))

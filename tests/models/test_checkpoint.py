"""Model directories: round trip, version/type/shape checks with useful messages, no pickle."""
import json
from pathlib import Path

import pytest
import torch

import wenmai.models.checkpoint as checkpoint
from wenmai.models.checkpoint import (FORMAT_VERSION, load_pretrained, model_sha256, read_config,
                                      save_pretrained)
from wenmai.models.encoder import EncoderConfig, SentenceEncoder
from wenmai.models.vocab import Vocab

CFG = EncoderConfig(char_vocab_size=20, word_vocab_size=10, char_dim=8, word_dim=4, hidden=6, dim=5)


@pytest.fixture()
def saved(tmp_path):
    torch.manual_seed(0)
    model = SentenceEncoder(CFG).eval()
    vocab = Vocab.build([("今天天气很好", ["今天", "天气", "很", "好"])])
    save_pretrained(model, tmp_path, vocab=vocab, card="# card\n", extra={"threshold": 0.8})
    return model, vocab, tmp_path


def test_writes_the_four_files(saved):
    _, _, path = saved
    assert sorted(p.name for p in path.iterdir()) == [
        "README.md", "config.json", "model.safetensors", "vocab.json"]
    meta = read_config(path)
    assert meta["format_version"] == FORMAT_VERSION == 1
    assert meta["model_type"] == "sentence_encoder"
    assert meta["config"]["hidden"] == 6 and meta["threshold"] == 0.8


def test_round_trip(saved):
    model, vocab, path = saved
    loaded, loaded_vocab = load_pretrained(path, SentenceEncoder, EncoderConfig)
    assert loaded.config == CFG and loaded_vocab == vocab
    assert not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor)


def _edit_config(path: Path, **changes):
    meta = json.loads((path / "config.json").read_text())
    for key, value in changes.items():
        if key in meta["config"]:
            meta["config"][key] = value
        else:
            meta[key] = value
    (path / "config.json").write_text(json.dumps(meta))


def test_format_version_mismatch(saved):
    *_, path = saved
    _edit_config(path, format_version=99)
    with pytest.raises(ValueError, match="format_version 99"):
        load_pretrained(path, SentenceEncoder, EncoderConfig)


def test_model_type_mismatch(saved):
    *_, path = saved
    _edit_config(path, model_type="titler")
    with pytest.raises(ValueError, match="model_type 'titler'"):
        load_pretrained(path, SentenceEncoder, EncoderConfig)


def test_shape_mismatch_names_file_and_shapes(saved):
    *_, path = saved
    _edit_config(path, dim=7)  # the projection now expects (7, 24), the file holds (5, 24)
    with pytest.raises(ValueError) as err:
        load_pretrained(path, SentenceEncoder, EncoderConfig)
    message = str(err.value)
    assert "model.safetensors" in message
    assert "proj.weight: expected shape (7, 24), found (5, 24)" in message


def test_missing_and_extra_tensors(saved):
    *_, path = saved
    _edit_config(path, word_dim=0)  # no word embedding any more: the file has one extra tensor
    with pytest.raises(ValueError, match=r"unexpected word_emb\.weight \(found shape \(10, 4\)\)"):
        load_pretrained(path, SentenceEncoder, EncoderConfig)


def test_missing_directory_and_files_name_the_path(saved, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_pretrained(tmp_path / "nowhere", SentenceEncoder, EncoderConfig)
    *_, path = saved
    (path / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_pretrained(path, SentenceEncoder, EncoderConfig)


def test_never_unpickles(saved, monkeypatch):
    *_, path = saved

    def forbidden(*args, **kwargs):
        raise AssertionError("torch.load (pickle) must not be used")

    monkeypatch.setattr(torch, "load", forbidden)
    load_pretrained(path, SentenceEncoder, EncoderConfig)
    assert "torch.load(" not in Path(checkpoint.__file__).read_text()
    assert (path / "model.safetensors").read_bytes()[8:9] == b"{"  # safetensors JSON header


def test_sha256_is_stable_and_tracks_the_weights(saved):
    model, vocab, path = saved
    first = model_sha256(path)
    assert first == model_sha256(path) and len(first) == 64
    (path / "README.md").write_text("another card")  # the card is not part of the identity
    assert model_sha256(path) == first
    with torch.no_grad():
        model.proj.bias.add_(1.0)
    save_pretrained(model, path, vocab=vocab)
    assert model_sha256(path) != first


def test_corrupted_weights_name_the_file(saved):
    _, _, directory = saved
    weights = directory / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated mid-header
    with pytest.raises(ValueError, match="model.safetensors: not a readable safetensors file"):
        load_pretrained(directory, SentenceEncoder, EncoderConfig)

import torch

from wenmai.models.encoder import EncoderConfig, SentenceEncoder
from wenmai.models.infomax import InfoMaxLoss


def _model(seed=0):
    torch.manual_seed(seed)
    return SentenceEncoder(EncoderConfig(char_vocab_size=40, word_vocab_size=10, char_dim=8,
                                         word_dim=4, hidden=8, dim=8, dropout=0.0))


def _batch(rows):
    chars = torch.tensor(rows)
    return [{"char_ids": chars, "word_ids": (chars > 0).long() * 2}]


ROWS = [[2, 3, 4, 5, 6], [7, 8, 9, 0, 0], [10, 11, 12, 13, 0], [14, 15, 0, 0, 0],
        [16, 17, 18, 19, 20], [21, 22, 23, 0, 0]]


def test_terms_are_finite_and_padding_does_not_count():
    loss = InfoMaxLoss(_model()).eval()
    terms = loss.terms(_batch(ROWS)[0])
    assert all(torch.isfinite(v) and v.dim() == 0 for v in terms.values())
    wider = [r + [0, 0] for r in ROWS]  # more padding: the same sentences
    again = loss.terms(_batch(wider)[0])
    assert all(torch.allclose(terms[k], again[k], atol=1e-5) for k in terms)


def test_kl_term_against_its_closed_form():
    model = _model()
    loss = InfoMaxLoss(model).eval()
    with torch.no_grad():
        model.proj.weight.zero_()
        loss.log_var.weight.zero_()
        loss.log_var.bias.zero_()  # sigma = 1
        model.proj.bias.zero_()  # mu = 0: the posterior is the prior
        assert loss.terms(_batch(ROWS)[0])["kl"].item() == 0.0
        model.proj.bias.fill_(1.0)  # mu = 1 in all 8 dims: KL = 0.5 * 8 * 1^2
        assert abs(loss.terms(_batch(ROWS)[0])["kl"].item() - 4.0) < 1e-5


def test_training_without_labels_lowers_the_objective_and_separates_sentences():
    model = _model()
    loss_fn = InfoMaxLoss(model)
    batch = _batch(ROWS)
    opt = torch.optim.Adam(loss_fn.parameters(), lr=1e-2)
    loss_fn.eval()
    with torch.no_grad():
        before = loss_fn(batch).item()
    loss_fn.train()
    for _ in range(150):
        opt.zero_grad()
        loss_fn(batch).backward()
        opt.step()
    loss_fn.eval()
    with torch.no_grad():
        after = loss_fn(batch).item()
        terms = loss_fn.terms(batch[0])
    assert after < 0.5 * before
    # the global term is InfoNCE over 6 sentences: log 6 = 1.79 at chance, near 0 when each y
    # identifies its own input
    assert terms["global"].item() < 0.5

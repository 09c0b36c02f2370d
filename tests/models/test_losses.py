"""Losses: parametrized property checks (scalar, differentiable, lower on correct pairs)."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from wenmai.models.encoder import EncoderConfig, SentenceEncoder
from wenmai.models.losses import AMSoftmaxInBatchLoss


class Normalize(nn.Module):
    """A stand-in 'model': its input vectors, L2-normalised."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return F.normalize(x * self.w, dim=-1)


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    cfg = EncoderConfig(char_vocab_size=40, word_vocab_size=10, char_dim=16, word_dim=4,
                        hidden=16, dim=16, dropout=0.0)
    return SentenceEncoder(cfg)


def _features(rows):
    chars = torch.tensor(rows)  # (B, T)
    return {"char_ids": chars, "word_ids": (chars > 0).long()}


ANCHORS = [[2, 3, 4, 5], [6, 7, 8, 0], [9, 10, 11, 12], [13, 14, 0, 0], [15, 16, 17, 18]]
SHUFFLED = ANCHORS[1:] + ANCHORS[:1]
NEGATIVES = [[20, 21, 0, 0], [22, 23, 24, 0], [25, 26, 27, 28], [29, 30, 0, 0], [31, 32, 33, 0]]

SETTINGS = [dict(), dict(symmetric=False), dict(margin=0.0), dict(scale=10.0),
            dict(hard_negatives=True), dict(labels=True), dict(joint_forward=False)]


def _loss(encoder, setting, positives):
    setting = dict(setting)
    hard = setting.pop("hard_negatives", False)
    with_labels = setting.pop("labels", False)
    loss_fn = AMSoftmaxInBatchLoss(encoder, **setting)
    features = [_features(ANCHORS), _features(positives)]
    if hard:
        features.append(_features(NEGATIVES))
    labels = torch.arange(len(ANCHORS)) if with_labels else None
    return loss_fn(features, labels)


@pytest.mark.parametrize("setting", SETTINGS)
def test_scalar_differentiable_positive(encoder, setting):
    loss = _loss(encoder, setting, ANCHORS)
    assert loss.dim() == 0
    assert loss.requires_grad
    assert loss.item() > 0 and math.isfinite(loss.item())


@pytest.mark.parametrize("setting", SETTINGS)
def test_lower_on_correct_pairs_than_shuffled(encoder, setting):
    correct = _loss(encoder, setting, ANCHORS)  # each anchor paired with itself: cos = 1
    shuffled = _loss(encoder, setting, SHUFFLED)
    assert correct.item() < shuffled.item()


def test_matches_the_formula():
    torch.manual_seed(1)
    a, p, n = torch.randn(4, 3), torch.randn(4, 3), torch.randn(2, 3)
    loss = AMSoftmaxInBatchLoss(Normalize(), scale=30.0, margin=0.2)([{"x": a}, {"x": p}, {"x": n}])
    an, pn, nn_ = F.normalize(a, dim=-1), F.normalize(p, dim=-1), F.normalize(n, dim=-1)
    cos = an @ pn.T - 0.2 * torch.eye(4)
    rows = torch.cat([cos, an @ nn_.T], 1) * 30
    expected = (F.cross_entropy(rows, torch.arange(4)) + F.cross_entropy(cos.T * 30, torch.arange(4))) / 2
    assert torch.allclose(loss, expected, atol=1e-5)


def test_rows_of_one_group_are_not_negatives():
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # rows 0 and 1: same sentence
    loss_fn = AMSoftmaxInBatchLoss(Normalize(), margin=0.2)
    unmasked = loss_fn([{"x": a}, {"x": a}])
    masked = loss_fn([{"x": a}, {"x": a}], torch.tensor([7, 7, 8]))
    assert masked.item() < unmasked.item()


def test_joint_forward_matches_separate_calls(encoder):
    features = [_features(ANCHORS), _features([r[:2] for r in SHUFFLED]), _features(NEGATIVES)]
    joint = AMSoftmaxInBatchLoss(encoder)(features)
    separate = AMSoftmaxInBatchLoss(encoder, joint_forward=False)(features)
    assert torch.allclose(joint, separate, atol=1e-5)


def test_config_dict():
    assert AMSoftmaxInBatchLoss(Normalize()).get_config_dict() == {
        "scale": 30.0, "margin": 0.2, "symmetric": True, "joint_forward": True}


# --- the comparison losses (issue 6): each a module of its own, same inputs ---------------------

from wenmai.models.losses import (LOSSES, AngularMarginInBatchLoss, ContrastiveInBatchLoss,  # noqa: E402
                                  NormalizedSoftmaxInBatchLoss)


def _unit(rows):
    return {"x": F.normalize(torch.tensor(rows, dtype=torch.float32), dim=-1)}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_prefers_aligned_pairs_and_backpropagates(name):
    model = Normalize()
    loss_fn = LOSSES[name](model, joint_forward=False)
    a = _unit([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    n = _unit([[0, 0.2, 1], [1, 0, 0.2], [0.2, 1, 0]])  # a hard-negative column (CoSENT needs one)
    aligned = loss_fn([a, _unit([[1, 0.1, 0], [0, 1, 0.1], [0.1, 0, 1]]), n])
    crossed = loss_fn([a, _unit([[0, 1, 0], [0, 0, 1], [1, 0, 0]]), n])
    assert aligned.dim() == 0 and aligned < crossed
    crossed.backward()
    assert model.w.grad is not None


def test_angular_margin_moves_the_angle_and_stays_monotone():
    loss = AngularMarginInBatchLoss(Normalize(), margin=0.3)
    cos = torch.tensor([[math.cos(0.5), 0.2], [0.1, math.cos(3.0)]])
    eye = torch.eye(2, dtype=torch.bool)
    out = loss.with_margin(cos, eye)
    assert out[0, 0].item() == pytest.approx(math.cos(0.8), abs=1e-5)  # cos(θ + m)
    assert out[0, 1].item() == pytest.approx(0.2)  # other classes untouched
    # θ = 3.0 > π - m: the fallback cos θ - m sin m, below cos θ and no wrap-around
    assert out[1, 1].item() == pytest.approx(math.cos(3.0) - 0.3 * math.sin(0.3), abs=1e-5)


def test_softmax_has_no_margin_and_am_has_one():
    cos = torch.full((2, 2), 0.5)
    eye = torch.eye(2, dtype=torch.bool)
    assert torch.equal(NormalizedSoftmaxInBatchLoss(Normalize()).with_margin(cos, eye), cos)
    am = AMSoftmaxInBatchLoss(Normalize(), margin=0.2).with_margin(cos, eye)
    assert am[0, 0].item() == pytest.approx(0.3) and am[0, 1].item() == pytest.approx(0.5)


def test_contrastive_is_zero_when_positives_match_and_negatives_are_beyond_the_margin():
    loss = ContrastiveInBatchLoss(Normalize(), margin=0.5, joint_forward=False)
    a = _unit([[1, 0], [0, 1]])
    assert loss([a, a]).item() == pytest.approx(0.0, abs=1e-6)  # cos(a0, a1) = 0 < 0.5
    close = _unit([[1, 0], [0.8, 0.6]])  # the two classes at cos 0.8: a negative above the margin
    assert loss([close, close]).item() == pytest.approx(0.3 ** 2, abs=1e-5)
    # the same pair marked as one group is not a negative
    assert loss([close, close], torch.tensor([0, 0])).item() == pytest.approx(0.0, abs=1e-6)


# --- CoSENT (issue 16): every positive pair's cosine above every negative pair's ----------------

from wenmai.models.losses import AMSoftmaxCoSENTLoss, cosent  # noqa: E402


def test_cosent_matches_the_formula():
    pos, neg = torch.tensor([0.9, 0.5]), torch.tensor([0.6, 0.1])
    gaps = [n - p for p in (0.9, 0.5) for n in (0.6, 0.1)]
    expected = math.log(1 + sum(math.exp(20 * g) for g in gaps))
    assert cosent(pos, neg, 20.0).item() == pytest.approx(expected, rel=1e-5)


def test_cosent_asks_for_one_order_across_anchors_where_am_softmax_does_not():
    """Each anchor ranks its own positive above its own negative in both batches, so AM-Softmax
    with a hard-negative column barely tells them apart; CoSENT charges the batch where one
    anchor's negative pair (cos 0.8) outranks the other anchor's positive pair (cos 0.6)."""
    model = Normalize()
    a = _unit([[1, 0, 0, 0], [0, 0, 1, 0]])

    def toward(anchor, other, c):  # a unit vector at cosine c to `anchor`, in the `other` plane
        return [x * c + y * math.sqrt(1 - c * c) for x, y in zip(anchor, other)]

    def batch(pos_cos, neg_cos):
        p = _unit([toward([1, 0, 0, 0], [0, 1, 0, 0], pos_cos[0]),
                   toward([0, 0, 1, 0], [0, 0, 0, 1], pos_cos[1])])
        n = _unit([toward([1, 0, 0, 0], [0, -1, 0, 0], neg_cos[0]),
                   toward([0, 0, 1, 0], [0, 0, 0, -1], neg_cos[1])])
        return [a, p, n]

    ordered, crossed = batch((0.95, 0.6), (0.3, 0.2)), batch((0.95, 0.6), (0.8, 0.2))
    combined = AMSoftmaxCoSENTLoss(model, weight=1.0, joint_forward=False)
    am = AMSoftmaxInBatchLoss(model, joint_forward=False)
    extra = [combined(b) - am(b) for b in (ordered, crossed)]  # the CoSENT term of each batch
    assert extra[1] > extra[0] + 1.0  # 0.8 > 0.6 across anchors costs ~ 20 * 0.2 = 4
    for b, term in zip((ordered, crossed), extra):
        positive = (b[0]["x"] * b[1]["x"]).sum(-1)
        negative = (b[0]["x"] * b[2]["x"]).sum(-1)
        assert term.item() == pytest.approx(cosent(positive, negative).item(), rel=1e-5)
    with pytest.raises(AssertionError, match="hard-negative"):
        combined(ordered[:2])

import torch

from wenmai.models.encoder import EncoderConfig, SentenceEncoder
from wenmai.models.onlstm import ONLSTM, ONLSTMCell, cumax


def test_cumax_rises_monotonically_to_one():
    out = cumax(torch.randn(3, 7))
    assert torch.all(out[:, 1:] >= out[:, :-1]) and torch.allclose(out[:, -1], torch.ones(3))


def test_master_gates_order_the_neurons():
    """With a master forget gate that keeps only the high chunks and an input gate that writes
    only the low ones, high neurons carry the old cell state and low ones the new input."""
    torch.manual_seed(0)
    cell = ONLSTMCell(4, 8, chunk_size=4)  # two chunks
    with torch.no_grad():
        cell.ih.weight.zero_()
        cell.hh.weight.zero_()
        cell.ih.bias.zero_()
        cell.ih.bias[:2] = torch.tensor([-20.0, 20.0])  # master forget: 0 low, 1 high chunk
        cell.ih.bias[2:4] = torch.tensor([-20.0, 20.0])  # master input: 1 low, 0 high chunk
        cell.ih.bias[4:] = 20.0  # f, i, o, candidate all saturated at 1
    h0, c0 = torch.zeros(1, 8), torch.full((1, 8), 5.0)
    _, c = cell(torch.zeros(1, 4), (h0, c0))
    assert torch.allclose(c[0, :4], torch.ones(4), atol=1e-3)  # low chunk: rewritten
    assert torch.allclose(c[0, 4:], torch.full((4,), 5.0), atol=1e-3)  # high chunk: kept


def test_padding_changes_nothing_for_real_positions():
    torch.manual_seed(0)
    layer = ONLSTM(5, 6, chunk_size=3)
    x = torch.randn(1, 4, 5)
    padded = torch.cat([x, torch.randn(1, 3, 5)], dim=1)  # garbage after the real tokens
    a = layer(x, torch.tensor([4]))
    b = layer(padded, torch.tensor([4]))
    assert torch.allclose(a, b[:, :4], atol=1e-6) and torch.all(b[:, 4:] == 0)


def test_backward_direction_reads_right_to_left():
    torch.manual_seed(0)
    layer = ONLSTM(3, 4, chunk_size=2)
    layer.fwd.load_state_dict(layer.bwd.state_dict())  # one cell both ways: outputs mirror
    x = torch.randn(2, 5, 3)
    lengths = torch.tensor([5, 3])
    out = layer(x, lengths)
    for row, n in enumerate(lengths.tolist()):
        mirrored = layer(x[row:row + 1, :n].flip(1), torch.tensor([n]))
        assert torch.allclose(out[row, :n, 4:], mirrored[0, :, :4].flip(0), atol=1e-6)


def test_encoder_with_onlstm_cell_trains():
    torch.manual_seed(0)
    model = SentenceEncoder(EncoderConfig(char_vocab_size=20, word_vocab_size=5, char_dim=8,
                                          word_dim=4, hidden=8, dim=6, cell="onlstm",
                                          chunk_size=4, dropout=0.0))
    chars = torch.tensor([[2, 3, 4, 0], [5, 6, 0, 0]])
    v = model(chars, (chars > 0).long())
    assert v.shape == (2, 6) and torch.allclose(v.norm(dim=1), torch.ones(2), atol=1e-5)
    v.sum().backward()
    assert model.rnn.fwd.ih.weight.grad.abs().sum() > 0

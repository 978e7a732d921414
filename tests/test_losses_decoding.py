import math

import pytest
import torch

from bbadj.model.decoders import Laplace
from bbadj.model.decoding import decode_edges
from bbadj.train.losses import edge_loss, edge_targets


def test_two_point_target_splits_mass_and_keeps_the_mean():
    t = edge_targets(torch.tensor([[2.25, 0.0, 9.0, 4.5]]), 10)
    assert t.shape == (1, 4, 10)
    assert torch.allclose(t.sum(-1), torch.ones(1, 4))
    assert t[0, 0, 2] == pytest.approx(0.75) and t[0, 0, 3] == pytest.approx(0.25)
    assert t[0, 1, 0] == 1 and t[0, 2, 9] == 1
    mean = (t * torch.arange(10.0)).sum(-1)
    assert torch.allclose(mean, torch.tensor([[2.25, 0.0, 9.0, 4.5]]))


def test_other_targets():
    one = edge_targets(torch.tensor([[2.6, 0.0, 9.0, 4.4]]), 10, "bce_onehot")
    assert one.argmax(-1).tolist() == [[3, 0, 9, 4]] and one.sum() == 4
    g = edge_targets(torch.tensor([[5.0, 5.0, 5.0, 5.0]]), 11, "gaussian", sigma=1.0)
    assert torch.allclose(g.sum(-1), torch.ones(1, 4)) and g[0, 0].argmax() == 5
    assert g[0, 0, 4] == pytest.approx(g[0, 0, 6])
    with pytest.raises(ValueError, match="unknown loss"):
        edge_targets(torch.zeros(1, 4), 10, "l2")
    with pytest.raises(ValueError, match="regresses the edges"):
        edge_targets(torch.zeros(1, 4), 10, "laplace_nll")


@pytest.mark.parametrize("kind", ["two_point", "bce_onehot", "gaussian"])
def test_loss_is_lowest_at_the_truth(kind):
    q = torch.tensor([[3.0, 7.0, 2.0, 8.0]])
    good = torch.full((1, 4, 10), -10.0)
    good[0, torch.arange(4), q[0].long()] = 10.0
    bad = good.roll(3, dims=-1)
    assert edge_loss(good, q, kind) < edge_loss(bad, q, kind)


def test_decoding_argmax_subpixel_confidence_and_order():
    S = 20
    logits = torch.full((1, 4, S), -30.0)
    logits[0, 0, 4] = logits[0, 0, 5] = 5.0  # top: two equal peaks -> subpixel 4.5
    logits[0, 1, 15] = 5.0  # bottom
    logits[0, 2, 12] = 5.0  # left: after right -> the pair is swapped
    logits[0, 3, 3] = 5.0
    pos, conf, spread = decode_edges(logits, "subpixel", window=2)
    assert pos[0].tolist() == pytest.approx([4.5, 15.0, 3.0, 12.0], abs=1e-4)
    assert conf.min() > 0.99
    # two equal peaks either side of 4.5: half a position off either way; one peak: none
    assert spread[0].tolist() == pytest.approx([0.5, 0.0, 0.0, 0.0], abs=1e-4)
    pos_a, _, _ = decode_edges(logits, "argmax")
    assert pos_a[0].tolist() == [4.0, 15.0, 3.0, 12.0]
    flat = torch.zeros(1, 4, S)
    _, conf_flat, spread_flat = decode_edges(flat, "subpixel", window=2)
    # uniform: the peak is position 0, so the window holds positions 0..2, 3 of 20
    assert torch.allclose(conf_flat, torch.full((1, 4), 3 / S))
    # decoded at 1.0 (the window's mean); the mean distance of 0..19 from 1 is (1 + 0 + 1 + ... + 18) / 20
    assert torch.allclose(spread_flat, torch.full((1, 4), (1 + sum(range(19))) / S))


def test_confidence_follows_its_edge_through_the_swap():
    S = 20
    logits = torch.full((1, 4, S), -30.0)
    logits[0, :, 10] = 0.0
    logits[0, 2, 14] = 3.0  # left: confident, at 14
    logits[0, 3, 2] = 0.0  # right: unsure, split between 2 and 10 ... peak at 2 (first max)
    pos, conf, spread = decode_edges(logits, "argmax", window=0)
    assert pos[0, 2:].tolist() == [2.0, 14.0]
    assert conf[0, 3] > 0.9 and conf[0, 2] < 0.6
    assert spread[0, 3] < 0.5 < spread[0, 2], "the expected error follows its edge too"


def test_an_edge_at_the_image_border_is_decoded_and_scored_clipped():
    """Mass beyond where the image ends lands on its border: the edge of an object cut by the
    image frame is expected exactly there, not spread over positions it cannot take."""
    logits = torch.full((1, 4, 10), -1e4)
    logits[0, [0, 2], 1] = logits[0, [0, 2], 3] = 0.0  # top, left: half the mass at 1, half at 3
    logits[0, [1, 3], 6] = logits[0, [1, 3], 8] = 0.0  # bottom, right: at 6 and 8
    pos, conf, spread = decode_edges(logits, "subpixel", window=2)
    assert pos[0].tolist() == [2.0, 7.0, 2.0, 7.0] and spread[0].tolist() == [1.0] * 4
    # the image starts at position 3 for top (but at 0 for left) and ends at 9
    lo, hi = torch.tensor([[3.0, 3.0, 0.0, 0.0]]), torch.tensor([[9.0, 9.0, 9.0, 9.0]])
    pos, conf, spread = decode_edges(logits, "subpixel", window=2, bounds=(lo, hi))
    assert pos[0].tolist() == [3.0, 7.0, 2.0, 7.0]
    assert spread[0].tolist() == [0.0, 1.0, 1.0, 1.0]  # 1 and 3 both mean 3 for top: no doubt left


def _laplace(mu, b):
    return Laplace(torch.tensor([mu]), torch.tensor([b]).log())


def test_regression_losses_on_hand_made_cases():
    out = _laplace([3.0, 7.0, 2.0, 8.0], [1.0, 2.0, 1.0, 1.0])
    truth = torch.tensor([[5.0, 7.0, 2.0, 9.0]])
    # log(2b) + |t - mu| / b: log 2 + 2, log 4 + 0, log 2 + 0, log 2 + 1
    assert edge_loss(out, truth, "laplace_nll").item() == pytest.approx((5 * math.log(2) + 3) / 4, abs=1e-6)
    assert edge_loss(out, truth, "l1").item() == pytest.approx((2 + 0 + 0 + 1) / 4)
    # the scale that fits an error of 2 is b = 2
    at = {b: edge_loss(_laplace([3.0] * 4, [b] * 4), torch.full((1, 4), 5.0), "laplace_nll").item() for b in (1, 2, 4)}
    assert at[2] < at[1] and at[2] < at[4]


def test_regression_targets_beyond_the_crop_are_not_clamped_classification_ones_are():
    beyond, border = torch.tensor([[-4.0, 5.0, 5.0, 14.0]]), torch.tensor([[0.0, 5.0, 5.0, 9.0]])
    out = _laplace([0.0, 5.0, 5.0, 9.0], [1.0] * 4)
    assert edge_loss(out, beyond, "l1").item() == pytest.approx((4 + 5) / 4)
    logits = torch.randn(1, 4, 10)
    assert edge_loss(logits, beyond, "two_point") == edge_loss(logits, border, "two_point")


def test_decoding_a_laplace():
    out = _laplace([4.0, 2.0, 3.0, 12.0], [1.0, 2.0, 0.5, 3.0])
    pos, conf, err = decode_edges(out, "subpixel", window=2)
    # top and bottom crossed: sorted, each keeping its own scale; err = b; conf = P(|x - mu| <= 2.5)
    assert pos[0].tolist() == [2.0, 4.0, 3.0, 12.0]
    assert err[0].tolist() == pytest.approx([2.0, 1.0, 0.5, 3.0])
    assert conf[0].tolist() == pytest.approx([1 - math.exp(-2.5 / b) for b in (2.0, 1.0, 0.5, 3.0)])
    assert all(torch.equal(a, b) for a, b in zip(decode_edges(out, "argmax", window=2), (pos, conf, err)))
    with pytest.raises(ValueError, match="unknown decoding 'median'"):
        decode_edges(out, "median")
    # beyond the image: on its border, the expected error still b (the tail beyond is memoryless)
    lo, hi = torch.tensor([[0.0, 3.0, 0.0, 0.0]]), torch.tensor([[20.0, 20.0, 20.0, 10.0]])
    pos, _, err = decode_edges(out, bounds=(lo, hi))
    assert pos[0].tolist() == [3.0, 4.0, 3.0, 10.0] and err[0].tolist() == pytest.approx([2.0, 1.0, 0.5, 3.0])

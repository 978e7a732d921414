"""From the model's output to edge positions, each with a confidence and an expected error.

Either output of the decoders (``decoders.py``) decodes here, into the same three numbers per edge:

- logits over the S positions (the paper's): the position by the decoding ``eval.decoding`` names
  (registered below), the confidence as the probability mass near the peak, the expected absolute
  error as the mean distance of the whole distribution from the decoded position;
- a Laplace per edge (the ``regression`` decoder): the position is its location ``mu`` whatever the
  decoding (a Laplace's mode, and its mean within any window symmetric about it), the expected
  absolute error its scale b, and the confidence its mass within the same window.
"""

from __future__ import annotations

import torch

from ..core.registry import DECODINGS
from .decoders import Laplace


def decode_edges(
    out, method: str = "subpixel", window: int = 2, bounds: tuple[torch.Tensor, torch.Tensor] | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The model's output for B crops (logits (B, 4, S), or a ``Laplace`` of (B, 4) tensors), in
    EDGES order -> positions (B, 4), confidences (B, 4) and expected absolute errors (B, 4), in
    positions (times the crop's pixel size, in image pixels: ``snap.adjust.predict_windows``).

    ``bounds`` (lo, hi), (B, 4) each: where the image ends, in positions; a position beyond is
    put on the border. Logits decode within [0, S - 1]; a Laplace's position may lie beyond the
    crop (not beyond the image).

    Top <= bottom and left <= right are enforced by sorting each pair, confidences and errors
    following their edge (each edge is predicted independently and can cross its partner on a
    tiny box).
    """
    decoding = DECODINGS.get(method)
    if isinstance(out, Laplace):
        pos, conf, spread = _laplace(out, window, bounds)
    else:
        pos, conf, spread = _over_positions(out, decoding, window, bounds)
    pairs = pos.view(-1, 2, 2)  # (top, bottom), (left, right)
    order = pairs.argsort(dim=-1)
    pos = pairs.gather(-1, order).view(-1, 4)
    conf, spread = (t.view(-1, 2, 2).gather(-1, order).view(-1, 4) for t in (conf, spread))
    return pos, conf, spread


@DECODINGS.register("argmax")
def argmax(prob: torch.Tensor, near: torch.Tensor, peak: torch.Tensor) -> torch.Tensor:
    """The most probable position."""
    return peak.to(prob.dtype)


@DECODINGS.register("subpixel")
def subpixel(prob: torch.Tensor, near: torch.Tensor, peak: torch.Tensor) -> torch.Tensor:
    """The expectation of the softmax restricted to ``window`` positions either side of the peak
    (at the border, the part of the window that exists)."""
    grid = torch.arange(prob.shape[-1], device=prob.device)
    return (prob * near * grid).sum(-1) / (prob * near).sum(-1).clamp(min=1e-12)


def _over_positions(logits: torch.Tensor, decoding, window: int, bounds):
    """Logits (B, 4, S): the position by ``decoding(prob, near, peak)``; the confidence is the
    probability mass within ``window`` positions of the peak (how sure the model is that the edge
    lies where it says); the expected absolute error sum_i p_i |i - pos| (what the model expects
    to be off by), with the mass beyond the image's border counted on the border."""
    prob = torch.softmax(logits.float(), dim=-1)
    grid = torch.arange(prob.shape[-1], device=prob.device)
    peak = prob.argmax(-1)
    near = (grid - peak[..., None]).abs() <= window
    conf = (prob * near).sum(-1)
    pos = decoding(prob, near, peak)
    grid = grid.to(prob.dtype).expand_as(prob)
    if bounds is not None:
        lo, hi = (b.to(prob.device, prob.dtype)[..., None] for b in bounds)
        pos = torch.minimum(torch.maximum(pos[..., None], lo), hi)[..., 0]
        grid = torch.minimum(torch.maximum(grid, lo), hi)
    spread = (prob * (grid - pos[..., None]).abs()).sum(-1)
    return pos, conf, spread


def _laplace(out: Laplace, window: int, bounds):
    """A Laplace per edge: the position ``mu`` (on the image's border where it lies beyond); the
    expected absolute error b, on the border too: given that the true edge lies within the image,
    its distance from the border is exponential with mean b (the Laplace's tail is memoryless);
    the confidence P(|x - mu| <= window + 1/2) = 1 - exp(-(window + 1/2) / b), the mass of the
    2 * window + 1 positions around the peak that the logits' confidence counts."""
    mu, b = out.mu.float(), out.log_b.float().exp()
    if bounds is not None:
        lo, hi = (t.to(mu.device, mu.dtype) for t in bounds)
        mu = torch.minimum(torch.maximum(mu, lo), hi)
    return mu, 1 - torch.exp(-(window + 0.5) / b), b

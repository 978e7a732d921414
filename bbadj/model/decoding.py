"""From four logit vectors to edge positions with a per-edge confidence."""
from __future__ import annotations

import torch

DECODINGS = ("argmax", "subpixel")


def decode_edges(logits: torch.Tensor, method: str = "subpixel", window: int = 2,
                 bounds: tuple[torch.Tensor, torch.Tensor] | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, 4, S) logits in EDGES order -> positions (B, 4) in [0, S - 1], confidences (B, 4) and
    expected absolute errors (B, 4), in positions.

    ``argmax``: the most probable position. ``subpixel``: the expectation of the softmax
    restricted to ``window`` positions either side of the peak (at the border, the part of the
    window that exists). The confidence is the probability mass within ``window`` positions of
    the peak: how sure the model is that the edge lies where it says. The expected absolute error
    is the mean distance of the model's whole distribution from the decoded position,
    sum_i p_i |i - pos|: what the model expects to be off by, in positions (times the crop's pixel
    size, in image pixels: ``snap.adjust.predict_windows``).

    Top <= bottom and left <= right are enforced by sorting each pair, confidences following
    their edge (each edge is predicted independently and can cross its partner on a tiny box).
    """
    if method not in DECODINGS:
        raise ValueError(f"unknown decoding {method!r}; choose from {DECODINGS}")
    prob = torch.softmax(logits.float(), dim=-1)
    grid = torch.arange(prob.shape[-1], device=prob.device)
    peak = prob.argmax(-1)
    near = (grid - peak[..., None]).abs() <= window
    conf = (prob * near).sum(-1)
    if method == "argmax":
        pos = peak.to(prob.dtype)
    else:
        pos = (prob * near * grid).sum(-1) / conf.clamp(min=1e-12)
    grid = grid.to(prob.dtype).expand_as(prob)
    if bounds is not None:
        lo, hi = (b.to(prob.device, prob.dtype)[..., None] for b in bounds)
        pos = torch.minimum(torch.maximum(pos[..., None], lo), hi)[..., 0]
        grid = torch.minimum(torch.maximum(grid, lo), hi)
    spread = (prob * (grid - pos[..., None]).abs()).sum(-1)
    pairs = pos.view(-1, 2, 2)  # (top, bottom), (left, right)
    order = pairs.argsort(dim=-1)
    pos = pairs.gather(-1, order).view(-1, 4)
    conf, spread = (t.view(-1, 2, 2).gather(-1, order).view(-1, 4) for t in (conf, spread))
    return pos, conf, spread

"""From four logit vectors to edge positions with a per-edge confidence."""
from __future__ import annotations

import torch

DECODINGS = ("argmax", "subpixel")


def decode_edges(logits: torch.Tensor, method: str = "subpixel", window: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 4, S) logits in EDGES order -> positions (B, 4) in [0, S - 1] and confidences (B, 4).

    ``argmax``: the most probable position. ``subpixel``: the expectation of the softmax
    restricted to ``window`` positions either side of the peak (at the border, the part of the
    window that exists). The confidence is the probability mass within ``window`` positions of
    the peak: how sure the model is that the edge lies where it says.

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
    pairs = pos.view(-1, 2, 2)  # (top, bottom), (left, right)
    order = pairs.argsort(dim=-1)
    pos = pairs.gather(-1, order).view(-1, 4)
    conf = conf.view(-1, 2, 2).gather(-1, order).view(-1, 4)
    return pos, conf

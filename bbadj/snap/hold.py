"""Do no harm: an edge of a snapped box stays where the input box had it when the model's move is
within what the model can tell, ``|move| <= hold x err_px`` (that edge's expected absolute error,
``adjust``'s ``err_px``). Two modes for the edges beyond: ``hold`` moves them where the model put
them; ``shrink`` moves them by the part of the move beyond ``hold x err_px`` (soft thresholding:
the model is trusted only for what it can tell, on every edge).

A box that is already tight is moved by the model by about its own error, in a random direction:
snapping the true boxes of coco128's val split moves them off the truth, and each further pass
moves them further (docs/snap.md, "Do no harm", has the figures). A move smaller than the error the model
expects of itself is not evidence that the edge was wrong; holding such an edge keeps a good
box good, and a second pass over a snapped file leaves what the first pass settled.

``bbadj snap`` (``SnapSettings.hold``, ``--hold``) and ``bbadj serve`` apply it after the model;
``bbadj bench snap-harm`` measures it. The study's evaluation (``bbadj.scoring``) does not: it
scores the model itself. Not imported by ``bbadj.snap``'s package or ``bbadj``'s.
"""

from __future__ import annotations

import math

import numpy as np

from ..core.box_ops import COORDS, EDGE_COORDS, EDGES
from ..util.errors import ConfigError
from .hold_defaults import MODES

# the coordinate of x0, y0, x1, y1 that each edge (EDGES order) is
_COORD = [COORDS.index(EDGE_COORDS[e]) for e in EDGES]


def check_hold(hold: float | None, name: str = "hold") -> None:
    """``hold`` is None (off) or a finite number >= 0 (0: off too)."""
    if hold is not None and not (math.isfinite(hold) and hold >= 0):
        raise ConfigError(f"{name} must be a number >= 0 (times each edge's err_px; 0: off), got {hold}")


def check_mode(mode: str, name: str = "hold_mode") -> None:
    if mode not in MODES:
        raise ConfigError(f"{name} must be one of {', '.join(MODES)}, got {mode!r}")


def hold_edges(rough, snapped, err_px, hold: float | None, mode: str = "hold") -> tuple[np.ndarray, np.ndarray]:
    """``snapped`` (N, 4 x0, y0, x1, y1) with every edge whose move from ``rough`` (the box the model
    was given, same shape) is at most ``hold`` x its ``err_px`` (N, 4, EDGES order) put back where
    ``rough`` had it; with ``mode`` ``shrink`` every other edge moved by its move less ``hold`` x its
    err_px. Returns (boxes (N, 4) float64, held (N, 4) bool in EDGES order: the edges put back).

    ``hold`` None or 0 changes nothing. An axis whose held edges would leave it with no width (or
    height), where the other edge moved past the held one, takes the model's two edges instead: a
    box is never turned inside out. An edge with a NaN err_px is never held."""
    check_hold(hold)
    check_mode(mode)
    rough = np.asarray(rough, dtype=np.float64).reshape(-1, 4)
    boxes = np.array(snapped, dtype=np.float64).reshape(-1, 4)
    err = np.asarray(err_px, dtype=np.float64).reshape(-1, 4)
    if not (rough.shape == boxes.shape == err.shape):
        raise ValueError(
            f"rough, snapped and err_px must be (N, 4) alike, got {rough.shape}, {boxes.shape}, {err.shape}"
        )
    if not hold:
        return boxes, np.zeros(err.shape, dtype=bool)
    move = boxes[:, _COORD] - rough[:, _COORD]  # EDGES order
    held = np.abs(move) <= hold * err  # False where err is NaN
    moved = boxes[:, _COORD]
    if mode == "shrink":
        shrunk = rough[:, _COORD] + np.sign(move) * (np.abs(move) - hold * err)
        moved = np.where(np.isnan(err), moved, shrunk)
    out = boxes.copy()
    out[:, _COORD] = np.where(held, rough[:, _COORD], moved)
    for lo, hi in ((0, 2), (1, 3)):  # x0 < x1, y0 < y1
        flat = out[:, hi] <= out[:, lo]
        if flat.any():
            out[flat, lo], out[flat, hi] = boxes[flat, lo], boxes[flat, hi]
            for c in (lo, hi):
                held[flat, _COORD.index(c)] = False
    return out, held


def held_names(held_row) -> list[str]:
    """The held edges of one box (a row of ``hold_edges``' mask), by name, in EDGES order."""
    return [e for e, h in zip(EDGES, held_row) if h]


def describe(hold: float | None, mode: str = "hold") -> str:
    """The rule in words, e.g. ``an edge moved by at most 1 x its err_px stays as it was``."""
    if not hold:
        return "off"
    text = f"an edge moved by at most {hold:g} x its err_px stays as it was"
    return text + (f"; the others move {hold:g} x their err_px less" if mode == "shrink" else "")

"""Which snapped edges a person should look at: the review rule, on the model's expected error
of each edge in image pixels (``err_px``, what ``adjust`` and ``predict_windows`` return).

Three rules, each optional; an edge fails when any rule given fails, and a box with a failed edge
is kept as it was and listed for review:

- ``max_err_px``: ``err_px`` above this many pixels. ``err_px`` grows with the box (one crop
  position spans more pixels on a larger box), so a fixed limit sends large boxes first;
- ``max_err_frac``: ``err_px`` above this fraction of the box's side along the edge's axis (the
  snapped box's height for top and bottom, its width for left and right): a limit that scales
  with the box, as a person judges a box;
- ``min_p`` with ``within_px``: the probability that the edge lies within ``within_px`` pixels of
  the truth below ``min_p``, under a stated error model: the edge's error is Laplace-distributed
  with mean absolute error ``err_px`` (scale b = err_px), so P(|error| < T) = 1 - exp(-T / err_px).
  It is ``max_err_px`` = T / ln(1 / (1 - min_p)) in other words, stated as a person asks it ("is
  this edge within 3 px, 9 times in 10?"); its honesty is that of ``err_px``'s calibration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.box_ops import EDGES
from ..util.errors import ConfigError

AXIS = {"top": "height", "bottom": "height", "left": "width", "right": "width"}


def p_within(err_px: float, within_px: float) -> float:
    """P(|error| < within_px) for a Laplace error of mean absolute value ``err_px``."""
    if err_px <= 0:
        return 1.0
    return 1.0 - math.exp(-within_px / err_px)


@dataclass(frozen=True)
class ReviewRule:
    max_err_px: float | None = None
    max_err_frac: float | None = None
    min_p: float | None = None
    within_px: float = 3.0

    def __post_init__(self):
        for key in ("max_err_px", "max_err_frac"):
            value = getattr(self, key)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"{key} must be a number > 0, got {value}")
        if self.min_p is not None and not 0 < self.min_p < 1:
            raise ConfigError(f"min_p must be a probability between 0 and 1 (exclusive), got {self.min_p}")
        if not (math.isfinite(self.within_px) and self.within_px > 0):
            raise ConfigError(f"within_px must be a number of pixels > 0, got {self.within_px}")

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.max_err_px, self.max_err_frac, self.min_p))

    def failures(self, box_xywh, err_px) -> list[dict]:
        """The failed edges of one snapped box (``[x, y, w, h]`` pixels, ``err_px`` in EDGES order):
        one entry per edge and rule, with the numbers that failed it, in EDGES order."""
        out = []
        side = {"width": float(box_xywh[2]), "height": float(box_xywh[3])}
        for edge, err in zip(EDGES, err_px):
            err = float(err)
            if self.max_err_px is not None and err > self.max_err_px:
                out.append({"edge": edge, "rule": "max_err_px", "err_px": round(err, 3), "limit_px": self.max_err_px})
            if self.max_err_frac is not None:
                limit = self.max_err_frac * side[AXIS[edge]]
                if err > limit:
                    out.append(
                        {
                            "edge": edge,
                            "rule": "max_err_frac",
                            "err_px": round(err, 3),
                            "max_err_frac": self.max_err_frac,
                            "side": AXIS[edge],
                            "side_px": round(side[AXIS[edge]], 3),
                            "limit_px": round(limit, 3),
                        }
                    )
            if self.min_p is not None:
                p = p_within(err, self.within_px)
                if p < self.min_p:
                    out.append(
                        {
                            "edge": edge,
                            "rule": "min_p",
                            "err_px": round(err, 3),
                            "within_px": self.within_px,
                            "p_within": round(p, 4),
                            "min_p": self.min_p,
                        }
                    )
        return out

    def edge_ok(self, box_xywh, err_px) -> list[bool]:
        """Per edge (EDGES order): True where no rule fails it."""
        failed = {f["edge"] for f in self.failures(box_xywh, err_px)}
        return [e not in failed for e in EDGES]

    def describe(self) -> str:
        """The rule in words, e.g. ``err_px above 3 px or above 0.05 x the box's side``."""
        parts = []
        if self.max_err_px is not None:
            parts.append(f"err_px above {self.max_err_px:g} px")
        if self.max_err_frac is not None:
            parts.append(f"err_px above {self.max_err_frac:g} x the box's side")
        if self.min_p is not None:
            parts.append(f"P(|error| < {self.within_px:g} px) under {self.min_p:g}")
        return " or ".join(parts) or "no rule"


def reason(failures: list[dict]) -> str:
    """The failures in one line, e.g. ``top: err_px 5.2 > 0.1 x height 40 = 4; left: P(|error| < 3
    px) 0.62 < 0.9 (err_px 3.1)``."""
    parts = []
    for f in failures:
        if f["rule"] == "max_err_px":
            parts.append(f"{f['edge']}: err_px {f['err_px']:g} > {f['limit_px']:g} px")
        elif f["rule"] == "max_err_frac":
            parts.append(
                f"{f['edge']}: err_px {f['err_px']:g} > {f['max_err_frac']:g} x {f['side']} "
                f"{f['side_px']:g} = {f['limit_px']:g} px"
            )
        else:
            parts.append(
                f"{f['edge']}: P(|error| < {f['within_px']:g} px) {f['p_within']:g} < {f['min_p']:g} "
                f"(err_px {f['err_px']:g})"
            )
    return "; ".join(parts)

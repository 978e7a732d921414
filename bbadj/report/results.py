"""What the evaluate stages wrote, read back for the report: per evaluation set, every row's
per-box values (``reports/per_box/<row>/<set>.csv``, one line per seed, jitter draw and box), from
which every number of the report is computed, with the bootstrap resamples every interval shares.
A row's value is the mean over its seeds (each seed's model scored on the same boxes and draws)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.box_ops import COORDS
from ..scoring.metrics import METRIC_KEYS
from ..core.params import BASELINES, IDENTITY, Params
from ..core.tiers import DEFAULT, folders
from .per_box import read_per_box
from .stats import bootstrap_ci, bootstrap_indices


@dataclass
class Results:
    """One evaluation set: every row that has results on it, identity and GrabCut first, then the
    rows of params in file order."""

    params: Params
    eval_set: str  # its name in eval.sets
    names: list[str]
    values: dict[str, Any]  # each row's per-box metrics (DataFrame, index ann_id), averaged over seeds and draws
    per_box: dict[str, Any]  # each row's per-box CSV (its column `seed`: the seed index k, 0 without training)
    idx: np.ndarray  # (n_boot, n_boxes) resampled box positions, the same for every row
    missing: list[str] = field(default_factory=list)  # rows of params without results here

    @property
    def models(self) -> list[str]:
        """The rows with a model (not identity, not GrabCut)."""
        return [n for n in self.names if n not in BASELINES]

    @property
    def annotations(self) -> str:
        return self.params.base.eval.set_paths(self.eval_set)[0]

    @property
    def images(self) -> str:
        return self.params.base.eval.set_paths(self.eval_set)[1]

    @property
    def n_boxes(self) -> int:
        return len(self.values[IDENTITY])

    @property
    def repeats(self) -> int:
        return int(self.per_box[IDENTITY]["repeat"].nunique())

    @property
    def source(self) -> str:
        """How the report names this set: its name, its size and its annotation file."""
        return f"{self.eval_set} ({self.n_boxes} boxes x {self.repeats} draws; {self.annotations})"

    @property
    def synthetic(self) -> bool:
        """Whether the set is the embedded synthetic one (made by `bbadj synth`, not photographs)."""
        return Path(self.annotations).parts[:2] == ("data", "synth")

    def value(self, name: str, metric: str) -> float:
        return float(self.values[name][metric].mean())

    def seed_values(self, name: str) -> Any:
        """Row ``name``'s per-box metrics for each seed (DataFrame, index (seed, ann_id)), averaged over draws."""
        return box_values(self.per_box[name], by=("seed", "ann_id"))

    def seed_metrics(self, name: str) -> np.ndarray:
        """(seeds, metrics): each seed's six metrics (fractions, METRIC_KEYS order), the mean over boxes."""
        return self.seed_values(name)[list(METRIC_KEYS)].groupby(level="seed").mean().to_numpy()

    def ci(self, name: str, metric: str) -> tuple[float, float]:
        lo, hi = bootstrap_ci(self.values[name][metric].to_numpy(), self.idx)
        return float(lo), float(hi)


def load_results(params: Params, eval_set: str, reports_dir: str | Path | None = None) -> Results:
    """Every row of ``params`` with a per-box file on ``eval_set`` in ``reports_dir`` (default: the
    params' tier's reports; the identity and GrabCut rows, which the tiers share, from the default
    tier's); the rest are listed as missing."""
    reports = Path(reports_dir) if reports_dir is not None else params.folders.reports
    shared = Path(reports_dir) if reports_dir is not None else folders(DEFAULT).reports
    names, missing, values, raw = [], [], {}, {}
    for name in params.names("all"):
        p = (shared if name in BASELINES else reports) / "per_box" / name / f"{eval_set}.csv"
        if not p.exists():
            missing.append(name)
            continue
        names.append(name)
        raw[name] = read_per_box(p)
        values[name] = box_values(raw[name])
    if IDENTITY not in names:
        raise FileNotFoundError(f"no identity row for {eval_set!r} in {reports}: run `dvc repro baseline@identity`")
    ids = values[IDENTITY].index
    for name in names:
        if not values[name].index.equals(ids):
            raise ValueError(f"{name}: its boxes on {eval_set} are not the identity row's; rerun its evaluation")
    idx = bootstrap_indices(len(ids), params.report.bootstrap, params.report.bootstrap_seed)
    return Results(params, eval_set, names, values, raw, idx, missing)


def load_all(params: Params, reports_dir: str | Path | None = None) -> dict[str, Results]:
    """``load_results`` of every evaluation set, real photographs first (then the synthetic set)."""
    sets = {s: load_results(params, s, reports_dir) for s in params.base.eval.sets}
    return dict(sorted(sets.items(), key=lambda item: item[1].synthetic))


def box_values(df, by: tuple[str, ...] = ("ann_id",)) -> Any:
    """Per box (rows: ann_id, sorted; or per ``by``), the six metrics averaged over the seeds and
    jitter draws, as fractions: the mean of a column over boxes is the metric (every seed and draw
    has every box). The per-box quantities come from ``bbadj.scoring.metrics``, as in ``bbadj evaluate``."""
    import pandas as pd

    from ..scoring.metrics import per_box_errors, per_box_metrics

    e = per_box_errors(df[[f"adj_{k}" for k in COORDS]].to_numpy(copy=True),
                       df[[f"gt_{k}" for k in COORDS]].to_numpy(copy=True))
    v = pd.DataFrame({**{c: df[c].to_numpy() for c in by}, **{k: t.numpy() for k, t in per_box_metrics(e).items()}})
    return v.groupby(list(by)).mean().sort_index()


def metric_table(res: Results) -> Any:
    """Long DataFrame: row, metric, value, lo, hi (fractions), the 95% interval over boxes."""
    import pandas as pd

    rows = []
    for name in res.names:
        v = res.values[name][list(METRIC_KEYS)].to_numpy()
        lo, hi = bootstrap_ci(v, res.idx)
        rows += [{"row": name, "metric": k, "value": float(v[:, j].mean()), "lo": float(lo[j]), "hi": float(hi[j])}
                 for j, k in enumerate(METRIC_KEYS)]
    return pd.DataFrame(rows)

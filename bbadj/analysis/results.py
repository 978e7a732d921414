"""What the evaluate stages wrote, read back for the report: per evaluation set, every row's
per-box values (``reports/per_box/<row>/<set>.csv``, one line per seed, jitter draw and box),
from which every number of the report is computed, with the photograph resamples every interval
shares.

A row's seeds: the per-box file's ``seed`` column (a file without one holds seed 0), and the
rows that differ from it only in ``train.seed`` / ``train.threads`` (``stats.reruns``: the
study's older layout, one row per seed), each at seed ``its train.seed - the row's``."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..core.box_ops import COORDS
from ..core.params import BASELINES, IDENTITY, Params
from ..core.tiers import DEFAULT, folders
from ..scoring import metrics
from .per_box import read_per_box
from .stats import Term, boot_ratio, combine, photo_weights, reruns, seed_term, t_test

ROLES = ("test", "validation")


@dataclass
class Results:
    """One evaluation set: every row that has results on it, identity and GrabCut first, then the
    rows of params in file order (a row's reruns folded into it as its seeds)."""

    params: Params
    eval_set: str  # its name in eval.sets
    names: list[str]
    keys: tuple[str, ...]  # the metrics, in declaration order
    # row -> (n_seeds, n_boxes, n_metrics): per box, averaged over draws
    by_seed: dict[str, np.ndarray]
    seeds: dict[str, list[int]]  # row -> its seeds, in by_seed's order
    per_box: dict[str, Any]  # row -> its per-box lines, every seed (column ``seed``)
    box_ids: Any  # the boxes' annotation ids, in by_seed's order (sorted)
    photos: np.ndarray  # each box's image id
    weights: np.ndarray  # (n_boot, n_boxes) photograph resamples, the same for every row
    missing: list[str] = field(default_factory=list)  # rows of params without results here
    folded: dict[str, str] = field(default_factory=dict)  # a rerun row -> the row it is a seed of

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
    def role(self) -> str:
        return set_role(self.params, self.eval_set)

    @property
    def n_boxes(self) -> int:
        return len(self.box_ids)

    @property
    def n_photos(self) -> int:
        return len(np.unique(self.photos))

    @property
    def repeats(self) -> int:
        return int(self.per_box[IDENTITY]["repeat"].nunique())

    @property
    def source(self) -> str:
        """How the report names this set: its name, role, size and annotation file."""
        return (
            f"{self.eval_set} ({self.role} set; {self.n_boxes} boxes on {self.n_photos} "
            f"photographs x {self.repeats} draws; {self.annotations})"
        )

    @property
    def synthetic(self) -> bool:
        """Whether the set is the embedded synthetic one (made by `bbadj synth`, not
        photographs)."""
        return Path(self.annotations).parts[:2] == ("data", "synth")

    @cached_property
    def values(self) -> dict[str, Any]:
        """Per row, a DataFrame (index ann_id) of each box's metrics averaged over draws and
        seeds."""
        import pandas as pd

        return {
            n: pd.DataFrame(v.mean(0), index=pd.Index(self.box_ids, name="ann_id"), columns=list(self.keys))
            for n, v in self.by_seed.items()
        }

    def column(self, metric: str) -> int:
        if metric not in self.keys:
            raise KeyError(f"no metric {metric!r} in the results of {self.eval_set}; they have {list(self.keys)}")
        return self.keys.index(metric)

    def seed_values(self, name: str, metric: str | None = None) -> np.ndarray:
        """Each seed's value of ``metric`` (fractions; all metrics, (n_seeds, k), without one)."""
        v = self.by_seed[name].mean(1)
        return v if metric is None else v[:, self.column(metric)]

    def value(self, name: str, metric: str) -> float:
        """The row's value: the mean over its seeds of each seed's mean over boxes."""
        return float(self.seed_values(name, metric).mean())

    def estimate(self, name: str) -> Any:
        """Each metric's value (fractions) with its 95% interval, sampling and training variance
        combined: the photograph bootstrap of the seed mean and the seeds' variance over their
        number (``stats.combine``). Columns value, lo, hi, se, df; index the metrics."""
        import pandas as pd

        v = self.by_seed[name]
        value = v.mean(0).mean(0)
        boot = boot_ratio(self.weights, v.mean(0))
        terms = [Term(boot.var(axis=0, ddof=1), np.full(len(self.keys), self.n_photos - 1.0))]
        seeds = seed_term(v.mean(1))
        if seeds is not None:
            terms.append(seeds)
        se, df = combine(terms)
        lo, hi, _ = t_test(value, se, df)
        return pd.DataFrame({"value": value, "lo": lo, "hi": hi, "se": se, "df": df}, index=list(self.keys))

    def ci(self, name: str, metric: str) -> tuple[float, float]:
        e = self.estimate(name).loc[metric]
        return float(e.lo), float(e.hi)


def set_role(params: Params, eval_set: str) -> str:
    """``eval.sets.<name>.role``: ``test`` (the headline and every verdict) or ``validation``
    (chosen on; the appendix). A set without a role is a validation set."""
    return params.base.eval.role(eval_set)


def load_results(params: Params, eval_set: str, reports_dir: str | Path | None = None) -> Results:
    """Every row of ``params`` with a per-box file on ``eval_set`` in ``reports_dir`` (default: the
    params' tier's reports; the identity and GrabCut rows, which the tiers share, from the default
    tier's); the rest are listed as missing."""
    reports = Path(reports_dir) if reports_dir is not None else params.folders.reports
    shared = Path(reports_dir) if reports_dir is not None else folders(DEFAULT).reports
    keys = metrics.metric_keys()
    raw, missing, folded = {}, [], {}
    for name in params.names("all"):
        p = (shared if name in BASELINES else reports) / "per_box" / name / f"{eval_set}.csv"
        if not p.exists():
            missing.append(name)
            continue
        df = read_per_box(p)
        rep = reruns(params, name)[0] if params[name].trained else name
        if rep != name:  # a rerun row of the older layout: further seeds of its recipe's row
            offset = params[name].config.train.seed - params[rep].config.train.seed
            df = df.assign(seed=df["seed"] + offset)
            folded[name] = rep
            if rep not in raw:
                raise ValueError(f"{p}: {name} reruns {rep}, which has no results on {eval_set}")
            clash = set(df["seed"]) & set(raw[rep]["seed"])
            if clash:
                raise ValueError(f"{p}: {name} repeats seed(s) {sorted(clash)} of {rep} on {eval_set}")
            raw[rep] = _concat(raw[rep], df)
        else:
            raw[name] = df
    if IDENTITY not in raw:
        raise FileNotFoundError(f"no identity row for {eval_set!r} in {reports}: run `dvc repro baseline@identity`")
    boxes = box_table(raw[IDENTITY])
    by_seed, seeds = {}, {}
    for name, df in raw.items():
        by_seed[name], seeds[name] = seed_box_values(df, boxes.index, name, eval_set)
    names = [n for n in params.names("all") if n in raw]
    weights = photo_weights(boxes["image_id"].to_numpy(), params.report.bootstrap, params.report.bootstrap_seed)
    return Results(
        params,
        eval_set,
        names,
        keys,
        by_seed,
        seeds,
        raw,
        boxes.index.to_numpy(),
        boxes["image_id"].to_numpy(),
        weights,
        [m for m in missing if m not in folded],
        folded,
    )


def _concat(a, b):
    import pandas as pd

    return pd.concat([a, b], ignore_index=True)


def box_table(identity) -> Any:
    """One line per box (index ann_id, sorted): its image id and true box."""
    cols = ["image_id", *(f"gt_{c}" for c in COORDS)]
    return identity.drop_duplicates("ann_id").set_index("ann_id").sort_index()[cols]


def seed_box_values(df, box_ids, name: str, eval_set: str) -> tuple[np.ndarray, list[int]]:
    """(n_seeds, n_boxes, n_metrics) per-box metrics averaged over the draws, and the seeds; every
    seed must have scored every box of ``box_ids``."""
    v = box_values(df)
    seeds = sorted(int(s) for s in v.index.get_level_values("seed").unique())
    out = []
    for s in seeds:
        part = v.xs(s, level="seed")
        if not part.index.equals(box_ids):
            raise ValueError(f"{name}: seed {s}'s boxes on {eval_set} are not the identity row's; rerun its evaluation")
        out.append(part.to_numpy())
    return np.stack(out), seeds


def box_values(df) -> Any:
    """Per seed and box (index (seed, ann_id), sorted), every declared metric averaged over the
    jitter draws, as fractions: the mean of a column over boxes is the metric (every draw has every
    box). The per-box quantities come from ``bbadj.scoring.metrics``, as in ``bbadj evaluate``."""
    import pandas as pd

    e = metrics.per_box_errors(
        df[[f"adj_{k}" for k in COORDS]].to_numpy(copy=True),
        df[[f"gt_{k}" for k in COORDS]].to_numpy(copy=True),
    )
    seed = df["seed"].to_numpy() if "seed" in df else np.zeros(len(df), dtype=int)
    v = pd.DataFrame(
        {
            "seed": seed,
            "ann_id": df["ann_id"].to_numpy(),
            **{k: t.numpy() for k, t in metrics.per_box_metrics(e).items()},
        }
    )
    return v.groupby(["seed", "ann_id"]).mean().sort_index()


def load_all(params: Params, reports_dir: str | Path | None = None) -> dict[str, Results]:
    """``load_results`` of every evaluation set: the test set first, then real photographs, then
    the synthetic set."""
    sets = {s: load_results(params, s, reports_dir) for s in params.base.eval.sets}
    return dict(sorted(sets.items(), key=lambda item: (item[1].role != "test", item[1].synthetic)))


def metric_table(res: Results) -> Any:
    """Long DataFrame: row, metric, value, lo, hi (fractions), the 95% interval of each row's value
    with photographs and seeds (``Results.estimate``)."""
    import pandas as pd

    rows = []
    for name in res.names:
        e = res.estimate(name)
        rows += [
            {
                "row": name,
                "metric": k,
                "value": float(e.loc[k, "value"]),
                "lo": float(e.loc[k, "lo"]),
                "hi": float(e.loc[k, "hi"]),
            }
            for k in res.keys
        ]
    return pd.DataFrame(rows)

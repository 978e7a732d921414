"""The ablation study's helpers: experiment configs, the train/evaluate steps the DVC stages run
through the notebooks, bootstrap intervals, the Table-1-style table, the computed findings,
plots and the gallery.

``params.yaml`` holds the base recipe (data/model/train/eval) and two mappings:

- ``experiments``: name -> overrides of the base sections (``{}`` is the default variant);
  each is trained once into ``runs/<name>/`` and evaluated;
- ``eval_only``: name -> ``{from: <experiment>, eval: {...}, data: {buffer_ratio: ...}}``,
  evaluated on the model of ``from`` with other evaluation settings, never trained.

The notebooks hold narrative, plots and calls into this module; the logic lives here.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

from .config import Config, deep_merge, load_config
from .metrics import METRIC_KEYS, PAPER_TABLE1

PARAMS = "params.yaml"
IDENTITY = "identity"
NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")
METRIC_LABELS = {
    "miou": "mIoU",
    "iou_gt_90": "IoU > 90%",
    "edge_lt_1px": "edge < 1 px",
    "edge_lt_3px": "edge < 3 px",
    "corner_lt_1px": "corner < 1 px",
    "corner_lt_3px": "corner < 3 px",
}
PAPER_SNAPPER = "jittered COCO + Snapper"
PAPER_IDENTITY = "jittered COCO"
# what an eval-only variant may change: anything else changes the model and needs training
EVAL_ONLY_KEYS = {"eval": None, "data": {"buffer_ratio", "jitter", "num_workers"}}
# per-edge columns of the per-box CSV: edge -> (adjusted, true) coordinate
EDGE_COLUMNS = {"top": "y0", "bottom": "y1", "left": "x0", "right": "x1"}


class StudyError(RuntimeError):
    """A stage cannot run here; the message says what is missing and how to fix it."""


# ------------------------------------------------------------------ experiments


def load_params(params_path: str | Path = PARAMS) -> dict[str, Any]:
    path = Path(params_path)
    if not path.exists():
        raise FileNotFoundError(f"params file not found: {path}")
    params = yaml.safe_load(path.read_text()) or {}
    _validate(params, path)
    return params


def _validate(params: dict, path: Path) -> None:
    exps = params.get("experiments") or {}
    evals = params.get("eval_only") or {}
    if not isinstance(exps, dict) or not isinstance(evals, dict):
        raise ValueError(f"{path}: `experiments` and `eval_only` must be mappings name -> overrides")
    for name in list(exps) + list(evals):
        if not NAME_RE.match(str(name)) or name == IDENTITY:
            raise ValueError(f"{path}: experiment name {name!r} must be letters, digits and _ only, "
                             f"and not {IDENTITY!r} (it becomes a DVC stage and a params key)")
    for name in set(exps) & set(evals):
        raise ValueError(f"{path}: {name!r} is both in experiments and in eval_only")
    for name, over in evals.items():
        over = over or {}
        if over.get("from") not in exps:
            raise ValueError(f"{path}: eval_only.{name}.from must name one of experiments {sorted(exps)}, "
                             f"got {over.get('from')!r}")
        for section, value in over.items():
            if section == "from":
                continue
            if section not in EVAL_ONLY_KEYS:
                raise ValueError(f"{path}: eval_only.{name} changes {section}.*, which needs training; "
                                 f"make it an entry of `experiments`")
            allowed = EVAL_ONLY_KEYS[section]
            if allowed is not None and set(value or {}) - allowed:
                raise ValueError(f"{path}: eval_only.{name} may change only {sorted(allowed)} in {section}, "
                                 f"not {sorted(set(value) - allowed)}: those need training")


def experiment_names(params_path: str | Path = PARAMS, which: str = "all") -> list[str]:
    """Names in params order: ``which`` is ``"trained"``, ``"eval_only"`` or ``"all"``."""
    params = load_params(params_path)
    trained = list(params.get("experiments") or {})
    evals = list(params.get("eval_only") or {})
    return {"trained": trained, "eval_only": evals, "all": trained + evals}[which]


def experiment_overrides(params: dict, name: str) -> dict[str, Any]:
    """The nested overrides that turn the base sections into experiment ``name``."""
    exps = params.get("experiments") or {}
    evals = params.get("eval_only") or {}
    if name in exps:
        return dict(exps[name] or {})
    if name in evals:
        own = {k: v for k, v in (evals[name] or {}).items() if k != "from"}
        return deep_merge(dict(exps[evals[name]["from"]] or {}), own)
    raise KeyError(f"unknown experiment {name!r}; params have {list(exps) + list(evals)}")


def model_experiment(params_path: str | Path, name: str) -> str:
    """The trained experiment whose model ``name`` is evaluated on (itself unless eval-only)."""
    params = load_params(params_path)
    evals = params.get("eval_only") or {}
    return evals[name]["from"] if name in evals else name


def experiment_config(params_path: str | Path, name: str) -> Config:
    """The full Config of experiment ``name``: base sections of ``params_path`` + its overrides."""
    params = load_params(params_path)
    return load_config(params_path).with_overrides(experiment_overrides(params, name))


def describe(params_path: str | Path, name: str) -> str:
    """What differs from the base recipe, e.g. ``model.fusion=fpn`` (``default`` if nothing)."""
    if name == IDENTITY:
        return "jittered boxes as they are (no model)"
    params = load_params(params_path)
    flat = _flatten(experiment_overrides(params, name))
    base = _flatten(load_config(params_path).to_dict())
    diff = [f"{k}={v}" for k, v in flat.items() if base.get(k) != v]
    text = ", ".join(diff) if diff else "default"
    if name in (params.get("eval_only") or {}):
        text += f" (evaluated on the model of {params['eval_only'][name]['from']})"
    return text


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = list(v) if isinstance(v, tuple) else v
    return out


# ------------------------------------------------------------------ preflight


def preflight(cfg: Config, split: str, device: str | None = None) -> None:
    """Fail early, saying what is missing: the data of ``split`` (train | val) and the device."""
    from .engine import resolve_device

    problems = []
    paths = {"train": [cfg.data.train_annotations, cfg.data.train_images],
             "val": [cfg.data.val_annotations, cfg.data.val_images]}[split]
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        hint = ("run `dvc repro synth` (or `bbadj synth`) to make the synthetic set"
                if any("synth" in p for p in missing) else
                "the paper-coco preset needs MS COCO 2017 (train2017/, val2017/ and annotations/) under "
                "data/coco/; download it there, or go back to the synthetic study with "
                "`cp params/cpu-default.yaml params.yaml`")
        problems.append(f"{split} data missing: {', '.join(missing)}: {hint}")
    dev = device or (cfg.train.device if split == "train" else cfg.eval.device)
    try:
        resolve_device(dev)
    except RuntimeError as e:
        problems.append(f"{e}; set train.device and eval.device to auto or cpu to run on CPU "
                        f"(the paper-scale preset needs a CUDA GPU to finish in reasonable time)")
    if problems:
        raise StudyError("cannot run this stage here:\n- " + "\n- ".join(problems))


# ------------------------------------------------------------------ stages


def _can_resume(ckpt: Path, cfg: Config) -> bool:
    """Resume from ``ckpt`` only if it was written by the same configuration: DVC reruns a stage
    when its params change, and the stale checkpoint of the old params must not be resumed."""
    if not ckpt.exists():
        return False
    import torch

    from .engine import _comparable

    old = torch.load(ckpt, map_location="cpu", weights_only=False).get("config")
    return old is not None and _comparable(old) == _comparable(cfg.to_dict())


def train_experiment(name: str, params_path: str | Path = PARAMS, runs_dir: str | Path = "runs",
                     curves_dir: str | Path = "reports/train", progress: bool = False,
                     echo: Callable[[str], None] | None = print) -> dict:
    """Train experiment ``name`` into ``runs_dir/name`` (resuming a crashed run of the same
    configuration), then write its training curves with dvclive into ``curves_dir/name``."""
    from .engine import train

    if name not in experiment_names(params_path, "trained"):
        raise KeyError(f"{name!r} is not a trained experiment of {params_path}")
    cfg = experiment_config(params_path, name)
    preflight(cfg, "train")
    run_dir = Path(runs_dir) / name
    resume = _can_resume(run_dir / "last.pt", cfg)
    if echo and (run_dir / "last.pt").exists() and not resume:
        echo(f"{run_dir / 'last.pt'} is from other params: starting over")

    def on_log(entry: dict) -> None:
        if echo and entry["step"] % (cfg.train.log_every * 10) == 0:
            echo(f"step {entry['step']}: loss {entry['loss']:.4f}, {entry['boxes_per_s']:.0f} boxes/s")

    entry = train(cfg, run_dir, resume=resume, progress=progress, on_log=on_log)
    write_training_curves(run_dir / "train_log.jsonl", Path(curves_dir) / name)
    return entry


def read_train_log(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def write_training_curves(log_path: str | Path, live_dir: str | Path) -> None:
    """Replay a train_log.jsonl into dvclive (``live_dir/plots/metrics/*.tsv`` and
    ``live_dir/metrics.json``), whole, so a resumed run still has its full curve."""
    from dvclive import Live

    with Live(str(live_dir), dvcyaml=False, save_dvc_exp=False, report=None) as live:
        for entry in read_train_log(log_path):
            live.step = int(entry["step"])
            for key in ("loss", "lr", "boxes_per_s"):
                live.log_metric(key, float(entry[key]))
            live.log_metric("epoch", float(entry["epoch"]), plot=False)
            live.next_step()


def evaluate_experiment(name: str, params_path: str | Path = PARAMS, runs_dir: str | Path = "runs",
                        metrics_dir: str | Path = "reports/metrics", per_box_dir: str | Path = "reports/per_box",
                        progress: bool = False) -> dict:
    """Evaluate experiment ``name`` on the val set: ``metrics_dir/name.json`` (the keys of
    ``bbadj evaluate``) and ``per_box_dir/name.csv`` (one line per draw and box)."""
    from .checkpoint import load_model
    from .data.coco import load_coco
    from .engine import resolve_device
    from .evaluate import evaluate

    cfg = experiment_config(params_path, name)
    preflight(cfg, "val")
    model = load_model(Path(runs_dir) / model_experiment(params_path, name) / "model.pt",
                       resolve_device(cfg.eval.device))
    if model.config.data.crop_size != cfg.data.crop_size:
        raise StudyError(f"{name}: the model was trained at crop_size {model.config.data.crop_size}, "
                         f"params say {cfg.data.crop_size}; rerun its training stage")
    # the model's data geometry (crop size, normalisation); the experiment's evaluation settings
    d = cfg.data
    ecfg = model.config.with_overrides({
        "eval": cfg.to_dict()["eval"],
        "data": {"val_annotations": d.val_annotations, "val_images": d.val_images, "num_workers": d.num_workers,
                 "jitter": {"shift": d.jitter.shift, "scale": d.jitter.scale}, "skip_crowd": d.skip_crowd,
                 "min_box_size": d.min_box_size},
    })
    coco = load_coco(d.val_annotations, d.val_images, skip_crowd=d.skip_crowd, min_box_size=d.min_box_size)
    result = evaluate(coco, ecfg, model, buffer_ratio=d.buffer_ratio, progress=progress,
                      per_box_csv=Path(per_box_dir) / f"{name}.csv")
    out = Path(metrics_dir) / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


# ------------------------------------------------------------------ per-box values, bootstrap


def load_per_box(path: str | Path):
    import pandas as pd

    return pd.read_csv(path)


def box_values(df) -> "Any":
    """Per box (rows: ann_id, sorted), the six metrics averaged over the jitter draws, as
    fractions: the mean of a column over boxes is the metric (every draw has every box).
    The per-box quantities come from ``bbadj.metrics``, as in ``bbadj evaluate``."""
    import pandas as pd

    from .metrics import per_box_errors

    c = ("x0", "y0", "x1", "y1")
    e = per_box_errors(df[[f"adj_{k}" for k in c]].to_numpy(), df[[f"gt_{k}" for k in c]].to_numpy())
    iou, edge, corner = (e[k].numpy() for k in ("iou", "edge_err", "corner_err"))
    v = pd.DataFrame({
        "ann_id": df["ann_id"].to_numpy(),
        "miou": iou, "iou_gt_90": (iou > 0.9).astype(float),
        "edge_lt_1px": (edge < 1).mean(1), "edge_lt_3px": (edge < 3).mean(1),
        "corner_lt_1px": (corner < 1).mean(1), "corner_lt_3px": (corner < 3).mean(1),
    })
    return v.groupby("ann_id").mean().sort_index()


def bootstrap_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) resampled box indices; the same for every experiment (paired comparisons)."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def bootstrap_ci(values: np.ndarray, idx: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of the mean of ``values`` (n,) or (n, k) over resampled rows ``idx``."""
    values = np.asarray(values, dtype=float)
    means = values[idx].mean(axis=1)  # (n_boot,) or (n_boot, k)
    a = (1 - level) / 2
    return np.quantile(means, a, axis=0), np.quantile(means, 1 - a, axis=0)


# ------------------------------------------------------------------ results


@dataclass
class Results:
    """Everything the report needs, with ``identity`` first and then the experiments in params order."""

    params_path: str
    names: list[str]  # identity + experiments (those with metrics)
    labels: dict[str, str]
    metrics: dict[str, dict]  # the JSON of each
    values: dict[str, Any]  # per-box values (DataFrame) of each
    per_box: dict[str, Any]  # the raw per-box CSV of each
    table: Any  # long DataFrame: experiment, metric, value, lo, hi (fractions)
    idx: np.ndarray  # bootstrap resamples
    baseline: str
    missing: list[str] = field(default_factory=list)

    @property
    def experiments(self) -> list[str]:
        return [n for n in self.names if n != IDENTITY]

    def value(self, name: str, metric: str) -> float:
        return float(self.values[name][metric].mean())

    def ci(self, name: str, metric: str) -> tuple[float, float]:
        lo, hi = bootstrap_ci(self.values[name][metric].to_numpy(), self.idx)
        return float(lo), float(hi)


def load_results(params_path: str | Path = PARAMS, reports_dir: str | Path = "reports",
                 n_boot: int | None = None, seed: int | None = None) -> Results:
    """Read ``reports/metrics/*.json`` and ``reports/per_box/*.csv`` of identity and every
    experiment in params, and compute 95% bootstrap intervals over boxes."""
    import pandas as pd

    params = load_params(params_path)
    study = params.get("study") or {}
    n_boot = int(study.get("bootstrap", 1000) if n_boot is None else n_boot)
    seed = int(study.get("bootstrap_seed", 0) if seed is None else seed)
    reports = Path(reports_dir)
    names, missing, metrics, values, raw = [], [], {}, {}, {}
    for name in [IDENTITY] + experiment_names(params_path):
        m, p = reports / "metrics" / f"{name}.json", reports / "per_box" / f"{name}.csv"
        if not (m.exists() and p.exists()):
            missing.append(name)
            continue
        names.append(name)
        metrics[name] = json.loads(m.read_text())
        raw[name] = load_per_box(p)
        values[name] = box_values(raw[name])
    if IDENTITY not in names:
        raise FileNotFoundError(f"no identity row in {reports}: run `dvc repro identity`")
    ids = values[IDENTITY].index
    for name in names:
        if not values[name].index.equals(ids):
            raise ValueError(f"{name}: its boxes are not the identity row's; rerun its evaluation")
    idx = bootstrap_indices(len(ids), n_boot, seed)
    rows = []
    for name in names:
        v = values[name][list(METRIC_KEYS)].to_numpy()
        lo, hi = bootstrap_ci(v, idx)
        for j, key in enumerate(METRIC_KEYS):
            rows.append({"experiment": name, "metric": key, "value": float(v[:, j].mean()),
                         "lo": float(lo[j]), "hi": float(hi[j]), "reported": float(metrics[name][key])})
    baseline = study.get("baseline") or (experiment_names(params_path, "trained") or [IDENTITY])[0]
    labels = {n: describe(params_path, n) for n in names}
    return Results(str(params_path), names, labels, metrics, values, raw, pd.DataFrame(rows), idx,
                   baseline if baseline in names else names[-1], missing)


def best_experiment(res: Results) -> str:
    """The experiment with the highest mean of the six metrics (in percent)."""
    scores = {n: np.mean([res.value(n, k) for k in METRIC_KEYS]) for n in res.experiments}
    if not scores:
        raise ValueError("no experiment has results yet")
    return max(scores, key=scores.get)


def paired_difference(res: Results, a: str, b: str) -> Any:
    """a - b for each metric with its paired 95% bootstrap interval over boxes (fractions);
    ``clear``: the interval excludes 0, i.e. the difference is larger than its uncertainty."""
    import pandas as pd

    d = (res.values[a][list(METRIC_KEYS)] - res.values[b][list(METRIC_KEYS)]).to_numpy()
    lo, hi = bootstrap_ci(d, res.idx)
    mean = d.mean(0)
    return pd.DataFrame({"metric": list(METRIC_KEYS), "diff": mean, "lo": lo, "hi": hi,
                         "clear": (lo > 0) | (hi < 0)}).set_index("metric")


def _pts(d: float) -> str:
    """A difference of fractions in signed points; two decimals where one would show 0.0."""
    return f"{100 * d:+.1f}" if abs(100 * d) >= 0.095 else f"{100 * d:+.2f}"


def _fmt(v: float, lo: float | None = None, hi: float | None = None) -> str:
    s = f"{100 * v:.1f}"
    return s if lo is None else f"{s} [{100 * lo:.1f}, {100 * hi:.1f}]"


def table1(res: Results, with_intervals: bool = True) -> Any:
    """The paper's Table 1 layout (percent): the paper's own rows (COCO val2017), then ours
    (synthetic val set) with 95% bootstrap intervals over boxes, each row labelled by its source."""
    import pandas as pd

    cols = [METRIC_LABELS[k] for k in METRIC_KEYS]
    rows, index = [], []
    for name, vals in PAPER_TABLE1.items():
        index.append(("paper (COCO val2017)", name, ""))
        rows.append([f"{v:.1f}" for v in vals])
    n = res.metrics[IDENTITY]["n_boxes"]
    reps = res.metrics[IDENTITY]["repeats"]
    src = f"ours (synthetic val, {n} boxes x {reps} draws)"
    for name in res.names:
        what = "jittered synthetic" if name == IDENTITY else f"jittered synthetic + bbadj {name}"
        index.append((src, what, res.labels[name] if name != IDENTITY else ""))
        t = res.table[res.table.experiment == name].set_index("metric")
        rows.append([_fmt(t.value[k], t.lo[k], t.hi[k]) if with_intervals else _fmt(t.value[k]) for k in METRIC_KEYS])
    return pd.DataFrame(rows, columns=cols,
                        index=pd.MultiIndex.from_tuples(index, names=["source", "row", "variant"]))


# ------------------------------------------------------------------ findings (computed text)


def _metric_list(keys) -> str:
    keys = [METRIC_LABELS[k] for k in keys]
    return ", ".join(keys) if keys else "none"


def findings_markdown(res: Results) -> str:
    """The report's conclusions, computed from the numbers: which differences are larger than
    their intervals, whether the best experiment beats identity everywhere, and where it
    reaches the paper's Snapper row."""
    lines = []
    if res.missing:
        lines.append(f"**Not yet evaluated** (no metrics file): {', '.join(res.missing)}.\n")
    if not res.experiments:
        return "\n".join(lines + ["No experiment has been evaluated yet."])
    best = best_experiment(res)
    lines.append(f"**Best experiment** (highest mean of the six metrics): `{best}` ({res.labels[best]}).\n")
    d = paired_difference(res, best, IDENTITY)
    beats = [k for k in METRIC_KEYS if d.loc[k, "lo"] > 0]
    if len(beats) == len(METRIC_KEYS):
        lines.append("- It beats the identity row (the jittered boxes as they are) on **all six metrics**, "
                     "each by more than its 95% interval.")
    else:
        worse = [k for k in METRIC_KEYS if k not in beats]
        lines.append(f"- It beats the identity row beyond the 95% interval on {_metric_list(beats)}; "
                     f"**not** on {_metric_list(worse)}.")
    all_six = [n for n in res.experiments
               if (paired_difference(res, n, IDENTITY)["lo"] > 0).all()]
    lines.append(f"- Experiments that beat the identity row on all six metrics beyond their intervals: "
                 f"{', '.join(f'`{n}`' for n in all_six) if all_six else '**none**'}.")
    # the paper's Snapper row
    paper = dict(zip(METRIC_KEYS, PAPER_TABLE1[PAPER_SNAPPER]))
    reach, within, below = [], [], []
    for k in METRIC_KEYS:
        v, (_, hi) = res.value(best, k), res.ci(best, k)
        p = paper[k] / 100
        (reach if v >= p else within if hi >= p else below).append(
            f"{METRIC_LABELS[k]} {_fmt(v)} vs {paper[k]:.1f}")
    lines.append(f"- Against the paper's Snapper row ({' / '.join(f'{v:.1f}' for v in paper.values())}, "
                 f"on COCO, not on our synthetic images): it **reaches** it on "
                 f"{'; '.join(reach) if reach else 'no metric'}.")
    if within:
        lines.append(f"  Below it but within the 95% interval: {'; '.join(within)}.")
    if below:
        lines.append(f"  Below it beyond the interval (**does not reach**): {'; '.join(below)}.")
    ident_paper = dict(zip(METRIC_KEYS, PAPER_TABLE1[PAPER_IDENTITY]))
    gaps = [f"{METRIC_LABELS[k]} {_fmt(res.value(IDENTITY, k))} vs {ident_paper[k]:.1f}" for k in METRIC_KEYS]
    lines.append(f"- For scale, our identity row against the paper's jittered-COCO row: {'; '.join(gaps)} "
                 f"(the same jitter protocol on other images and boxes).")
    # every experiment against the baseline
    if res.baseline in res.experiments and len(res.experiments) > 1:
        lines.append(f"\n**Against the default variant `{res.baseline}`** (paired over the same boxes and "
                     f"draws; a difference counts when its 95% interval excludes zero):\n")
        for name in res.experiments:
            if name == res.baseline:
                continue
            d = paired_difference(res, name, res.baseline)
            up = [f"{METRIC_LABELS[k]} {_pts(d.loc[k, 'diff'])}" for k in METRIC_KEYS
                  if d.loc[k, "clear"] and d.loc[k, "diff"] > 0]
            down = [f"{METRIC_LABELS[k]} {_pts(d.loc[k, 'diff'])}" for k in METRIC_KEYS
                    if d.loc[k, "clear"] and d.loc[k, "diff"] < 0]
            if not up and not down:
                verdict = "no difference larger than its interval"
            else:
                verdict = "; ".join(filter(None, [("better: " + ", ".join(up)) if up else "",
                                                  ("worse: " + ", ".join(down)) if down else ""]))
            lines.append(f"- `{name}` ({res.labels[name]}): {verdict}.")
    return "\n".join(lines)


def differences_table(res: Results, against: str | None = None) -> Any:
    """Every experiment minus ``against`` (default: the baseline), in points, with the paired 95%
    interval; ``*`` where the interval excludes zero."""
    import pandas as pd

    against = against or res.baseline
    rows = {}
    for name in res.experiments:
        if name == against:
            continue
        d = paired_difference(res, name, against)
        rows[name] = [f"{_pts(d.loc[k, 'diff'])} [{_pts(d.loc[k, 'lo'])}, {_pts(d.loc[k, 'hi'])}]"
                      + (" *" if d.loc[k, "clear"] else "") for k in METRIC_KEYS]
    return pd.DataFrame.from_dict(rows, orient="index", columns=[METRIC_LABELS[k] for k in METRIC_KEYS])


# ------------------------------------------------------------------ plots


def plot_metric_bars(res: Results, names: list[str] | None = None):
    """One panel per metric: a bar per experiment (percent) with its 95% interval; the paper's
    Snapper and jittered-COCO values as dashed and dotted lines."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    names = names or res.names
    t = res.table[res.table.experiment.isin(names)].copy()
    for c in ("value", "lo", "hi"):
        t[c] = 100 * t[c]
    fig, axes = plt.subplots(2, 3, figsize=(15, 7.5), sharey=False)
    palette = dict(zip(names, sns.color_palette("tab20", len(names))))
    for ax, key in zip(axes.flat, METRIC_KEYS):
        tk = t[t.metric == key].set_index("experiment").loc[names]
        sns.barplot(x=tk.index, y=tk.value, hue=tk.index, palette=palette, ax=ax, legend=False)
        ax.errorbar(range(len(names)), tk.value, yerr=[tk.value - tk.lo, tk.hi - tk.value], fmt="none",
                    ecolor="black", capsize=3, lw=1)
        paper = dict(zip(METRIC_KEYS, PAPER_TABLE1[PAPER_SNAPPER]))[key]
        ident = dict(zip(METRIC_KEYS, PAPER_TABLE1[PAPER_IDENTITY]))[key]
        ax.axhline(paper, ls="--", c="crimson", lw=1, label="paper: Snapper")
        ax.axhline(ident, ls=":", c="grey", lw=1, label="paper: jittered COCO")
        ax.set_title(METRIC_LABELS[key])
        ax.set_xlabel("")
        ax.set_ylabel("percent")
        ax.tick_params(axis="x", rotation=60, labelsize=8)
        lo = max(0.0, min(tk.lo.min(), ident) - 5)
        ax.set_ylim(lo, min(100.0, max(tk.hi.max(), paper) + 3))
    axes.flat[0].legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def buffer_experiments(res: Results) -> dict[str, list[tuple[float, str]]]:
    """Experiments that differ from the baseline only in data.buffer_ratio: ``trained`` (trained
    and evaluated at that ratio) and ``eval_only`` (the baseline model evaluated at that ratio)."""
    base = _flatten(experiment_config(res.params_path, res.baseline).to_dict())
    evals = experiment_names(res.params_path, "eval_only")
    out: dict[str, list] = {"trained": [], "eval_only": []}
    for name in res.experiments:
        cfg = experiment_config(res.params_path, name)
        flat = _flatten(cfg.to_dict())
        diff = {k for k in set(base) | set(flat) if base.get(k) != flat.get(k)}
        if diff <= {"data.buffer_ratio"}:
            if name in evals:
                if model_experiment(res.params_path, name) == res.baseline:
                    out["eval_only"].append((cfg.data.buffer_ratio, name))
            else:
                out["trained"].append((cfg.data.buffer_ratio, name))
    if out["eval_only"]:
        out["eval_only"].append((base["data.buffer_ratio"], res.baseline))
    return {k: sorted(v) for k, v in out.items() if v}


def plot_buffer_curve(res: Results):
    """Each metric against the buffer ratio, with 95% bands."""
    import matplotlib.pyplot as plt

    groups = buffer_experiments(res)
    fig, axes = plt.subplots(1, 6, figsize=(18, 3.4))
    styles = {"trained": dict(marker="o", label="trained and evaluated at the ratio"),
              "eval_only": dict(marker="s", ls="--", label=f"{res.baseline}'s model evaluated at the ratio")}
    for ax, key in zip(axes, METRIC_KEYS):
        for group, members in groups.items():
            x = [r for r, _ in members]
            v = [100 * res.value(n, key) for _, n in members]
            ci = np.array([res.ci(n, key) for _, n in members]) * 100
            line, = ax.plot(x, v, **styles[group])
            ax.fill_between(x, ci[:, 0], ci[:, 1], alpha=0.2, color=line.get_color())
        ax.axhline(100 * res.value(IDENTITY, key), c="grey", ls=":", lw=1, label="identity (no model)")
        ax.set_title(METRIC_LABELS[key])
        ax.set_xlabel("buffer ratio")
    axes[0].set_ylabel("percent")
    axes[0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def read_curves(curves_dir: str | Path, names: list[str], metric: str = "loss"):
    """The dvclive curves (``curves_dir/<name>/plots/metrics/<metric>.tsv``) as one long DataFrame."""
    import pandas as pd

    frames = []
    for name in names:
        p = Path(curves_dir) / name / "plots" / "metrics" / f"{metric}.tsv"
        if p.exists():
            f = pd.read_csv(p, sep="\t")
            f["experiment"] = name
            frames.append(f[["step", metric, "experiment"]])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["step", metric, "experiment"])


def plot_training_curves(curves_dir: str | Path, names: list[str]):
    import matplotlib.pyplot as plt
    import seaborn as sns

    loss, lr = read_curves(curves_dir, names, "loss"), read_curves(curves_dir, names, "lr")
    fig, axes = plt.subplots(1, 2, figsize=(14, 4), gridspec_kw={"width_ratios": [3, 1]})
    for ax, df, key in ((axes[0], loss, "loss"), (axes[1], lr, "lr")):
        if len(df):
            sns.lineplot(data=df, x="step", y=key, hue="experiment", ax=ax, lw=1,
                         legend=key == "loss", palette="tab20")
    axes[0].set_title("training loss (per logged step; losses of different kinds are not comparable)")
    axes[1].set_title("learning rate")
    if len(loss):
        axes[0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def signed_edge_errors(df, which: str = "adj"):
    """Long DataFrame (edge, error) of signed ``which`` - true edge, in pixels (``which``: adj | jit).
    Positive: the edge lies right of / below the true one."""
    import pandas as pd

    parts = [pd.DataFrame({"edge": e, "error": df[f"{which}_{c}"] - df[f"gt_{c}"]}) for e, c in EDGE_COLUMNS.items()]
    return pd.concat(parts, ignore_index=True)


def plot_edge_histograms(res: Results, names: list[str], limit: float = 8.0):
    """Per-edge histograms of signed error (pixels), clipped to +-``limit``, one row per experiment."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(len(names), 4, figsize=(16, 2.6 * len(names)), squeeze=False, sharex=True)
    bins = np.arange(-limit, limit + 0.5, 0.5)
    for r, name in enumerate(names):
        e = signed_edge_errors(res.per_box[name])
        for c, edge in enumerate(EDGE_COLUMNS):
            x = e[e.edge == edge].error.clip(-limit, limit)
            ax = axes[r, c]
            sns.histplot(x, bins=bins, ax=ax, stat="percent", color=sns.color_palette()[r % 10])
            within1 = 100 * float((x.abs() < 1).mean())
            ax.set_title(f"{name}: {edge} ({within1:.0f}% within 1 px)", fontsize=9)
            ax.set_xlabel("predicted - true edge (px), clipped")
            ax.axvline(0, c="k", lw=0.8)
    fig.tight_layout()
    return fig


def plot_confidence(res: Results, name: str, n_bins: int = 10):
    """Is the per-edge confidence a useful review flag? Mean absolute edge error per confidence decile."""
    import matplotlib.pyplot as plt
    import pandas as pd

    df = res.per_box[name]
    parts = []
    for e, c in EDGE_COLUMNS.items():
        parts.append(pd.DataFrame({"edge": e, "conf": df[f"conf_{e}"],
                                   "abs_err": (df[f"adj_{c}"] - df[f"gt_{c}"]).abs()}))
    d = pd.concat(parts, ignore_index=True).dropna()
    d["bin"] = pd.qcut(d.conf.rank(method="first"), n_bins, labels=False)
    g = d.groupby("bin").agg(conf=("conf", "mean"), err=("abs_err", "mean"),
                             lt1=("abs_err", lambda s: 100 * (s < 1).mean()))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(g.conf, g.err, marker="o")
    ax.set_xlabel("per-edge confidence (decile mean)")
    ax.set_ylabel("mean |edge error| (px)")
    ax.set_title(f"{name}: confidence against error")
    fig.tight_layout()
    return fig, g


GALLERY_STYLE = {"gt": dict(ec="lime", lw=1.6), "jit": dict(ec="orange", lw=1.8, ls=(0, (4, 2))),
                 "adj": dict(ec="deepskyblue", lw=1.4)}


def gallery_rows(df, n: int, seed: int = 0):
    """``n`` (draw, box) rows: the worst half by IoU (distinct boxes), the rest drawn at random."""
    worst = df.sort_values("iou").drop_duplicates("ann_id").head(n - n // 2)
    rest = df[~df.ann_id.isin(worst.ann_id)].drop_duplicates("ann_id")
    pick = rest.sample(min(n // 2, len(rest)), random_state=seed) if len(rest) else rest.head(0)
    worst = worst.assign(kind="worst")
    pick = pick.assign(kind="random")
    import pandas as pd

    return pd.concat([worst, pick], ignore_index=True)


def draw_gallery(res: Results, name: str, annotations: str | Path, images_dir: str | Path,
                 n: int = 8, seed: int = 0, cols: int = 4):
    """Real validation examples: true (green), jittered (orange, dashed) and adjusted (blue)
    boxes, with the per-edge confidence written at each adjusted edge; worst cases first."""
    import matplotlib.patheffects as pe
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle
    from PIL import Image

    coco = json.loads(Path(annotations).read_text())
    files = {im["id"]: im["file_name"] for im in coco["images"]}
    rows = gallery_rows(res.per_box[name], n, seed)
    jit_iou = res.per_box[IDENTITY].set_index(["repeat", "ann_id"])["iou"]
    nrows = max(1, math.ceil(len(rows) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 4.2 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (_, r) in zip(axes.flat, rows.iterrows()):
        img = Image.open(Path(images_dir) / files[int(r["image_id"])]).convert("RGB")
        boxes = {k: [r[f"{k}_{c}"] for c in ("x0", "y0", "x1", "y1")] for k in ("gt", "jit", "adj")}
        allb = np.array(list(boxes.values()))
        x0, y0 = allb[:, :2].min(0)
        x1, y1 = allb[:, 2:].max(0)
        m = 0.25 * max(x1 - x0, y1 - y0) + 4
        ax.imshow(img, interpolation="nearest")
        ax.set_xlim(max(0, x0 - m), min(img.width, x1 + m))
        ax.set_ylim(min(img.height, y1 + m), max(0, y0 - m))
        for k, b in boxes.items():
            patch = Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, **GALLERY_STYLE[k])
            patch.set_path_effects([pe.Stroke(linewidth=GALLERY_STYLE[k]["lw"] + 1.2, foreground="black", alpha=0.7), pe.Normal()])
            ax.add_patch(patch)
        a = boxes["adj"]
        cx, cy = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
        spots = {"top": (cx, a[1], "center", "bottom"), "bottom": (cx, a[3], "center", "top"),
                 "left": (a[0], cy, "right", "center"), "right": (a[2], cy, "left", "center")}
        for e, (x, y, ha, va) in spots.items():
            ax.text(x, y, f"{r[f'conf_{e}']:.2f}", color="white", fontsize=8, ha=ha, va=va,
                    bbox=dict(facecolor="black", alpha=0.6, pad=1, lw=0))
        ji = float(jit_iou.get((int(r["repeat"]), int(r["ann_id"])), np.nan))
        ax.set_title(f"{r['kind']}: ann {int(r['ann_id'])}, IoU {ji:.2f} -> {r['iou']:.2f}", fontsize=9)
        ax.axis("on")
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [Line2D([], [], color=GALLERY_STYLE[k]["ec"], lw=2, ls=GALLERY_STYLE[k].get("ls", "-"), label=label)
               for k, label in (("gt", "true"), ("jit", "jittered input"), ("adj", f"adjusted by {name}"))]
    fig.legend(handles=handles, loc="upper center", ncol=3, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig

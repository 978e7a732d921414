"""``params.yaml`` as one typed object, read once: the base recipe, every row of the study
resolved to its own ``Config``, the baselines' settings and the report's.

The file holds the base sections (data/model/train/eval, ``bbadj/core/config.py``), three groups of
rows, each ``name -> overrides`` of the base sections:

- ``rows``: trained once into ``runs/<name>/`` (``{}``: the default row);
- ``finetune``: ``{from: <row>, ...}``, trained starting from that row's model, with
  its overrides and its own on top;
- ``eval_only``: ``{from: <row>, eval: ..., data: {buffer_ratio: ...}}``, that row's
  model scored with other evaluation settings, never trained;

and ``grabcut`` (the classical baseline, ``bbadj/scoring/grabcut.py``) and ``study`` (the report's
settings). The stages, the command line, the benchmarks and the
report all take a ``Params``; nothing else parses the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import tiers
from .config import Config, GrabCutConfig, build_dataclass, deep_merge
from ..util.errors import ConfigError, UnknownName

PARAMS = "params.yaml"
IDENTITY = "identity"  # the jittered boxes as they are: no model
GRABCUT = "grabcut"  # OpenCV's GrabCut from the enlarged jittered box: a classical baseline, no training
BASELINES = (IDENTITY, GRABCUT)
GROUPS = ("rows", "finetune", "eval_only")
NAME_RE = re.compile(r"^[A-Za-z0-9_]+$")
# what an eval-only row may change: anything else changes the model and needs training
EVAL_ONLY_KEYS = {"eval": None, "data": {"buffer_ratio", "jitter", "num_workers"}}
_OTHER_SECTIONS = {GRABCUT, "study", *GROUPS, *tiers.TIERS}


@dataclass
class ReportConfig:
    """The ``study`` section: how many seeds each trained row has, and how the report compares rows."""

    baseline: str = ""  # the default row, the parent of the ablation rows ("": the first of `rows`)
    seeds: int = 3  # each trained row is trained with train.seed + k, k = 0 .. seeds - 1 (runs/<row>/seed<k>/)
    # a row's seeds train this many at a time, each in its own process (with train.threads each): the same
    # weights as one after another, sooner where one training leaves cores idle (docs/benchmarks.md)
    seeds_at_once: int = 3
    bootstrap: int = 1000  # resamples of the photographs for the 95% intervals (docs/statistics.md)
    bootstrap_seed: int = 0
    gallery: int = 8  # examples drawn in the gallery, half of them the worst cases

    def __post_init__(self):
        if isinstance(self.seeds, bool) or not isinstance(self.seeds, int) or self.seeds < 1:
            raise ConfigError(f"study.seeds must be a whole number of trainings per row >= 1, got {self.seeds!r}")
        if isinstance(self.seeds_at_once, bool) or not isinstance(self.seeds_at_once, int) or self.seeds_at_once < 1:
            raise ConfigError(
                f"study.seeds_at_once must be a whole number of processes >= 1, got {self.seeds_at_once!r}"
            )
        if self.bootstrap < 10:
            raise ConfigError(f"study.bootstrap must be at least 10 resamples, got {self.bootstrap}")
        if self.gallery < 0:
            raise ConfigError(f"study.gallery must be >= 0, got {self.gallery}")


@dataclass(frozen=True)
class Row:
    """One row of the study: its group, its full configuration, and where its model comes from."""

    name: str
    group: str  # baseline | rows | finetune | eval_only | pretrain (a tier's synthetic pretraining, bbadj.core.tiers)
    config: Config
    model_of: str | None = None  # the trained row whose model it is scored with (itself, if trained)
    starts_from: str | None = None  # finetune: the row whose model it starts from

    @property
    def trained(self) -> bool:
        return self.group in ("rows", "finetune")


@dataclass
class Params:
    """The whole study, from ``Params.load``."""

    path: Path
    base: Config
    rows: dict[str, Row]  # identity, grabcut, then rows, finetune, eval_only in file order
    grabcut: GrabCutConfig
    report: ReportConfig
    raw: dict = field(repr=False)  # the parsed file: DVC's own view, for presets
    tier: str = tiers.DEFAULT  # the budget its rows are resolved for (bbadj.core.tiers)
    runs_dir: Path = Path("runs")  # where its rows' models are (a finetune row starts from one of them)
    _flat: dict = field(default_factory=dict, repr=False)

    @classmethod
    def load(
        cls,
        path: str | Path = PARAMS,
        overrides: dict | None = None,
        runs_dir: str | Path | None = None,
        tier: str = tiers.DEFAULT,
    ) -> "Params":
        """Read ``path`` (with ``overrides`` merged in, e.g. a preset) and resolve every row for
        ``tier`` (its models in ``runs_dir``, default the tier's own folder); errors name the file
        and the key."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"params file not found: {path}")
        raw = deep_merge(yaml.safe_load(path.read_text()) or {}, overrides or {})
        return cls.from_dict(raw, path, runs_dir, tier)

    @classmethod
    def from_dict(
        cls, raw: dict, path: str | Path = PARAMS, runs_dir: str | Path | None = None, tier: str = tiers.DEFAULT
    ) -> "Params":
        path = Path(path)
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping of sections")
        _validate(raw, path)
        view = tiers.apply(raw, tier, path)
        runs_dir = Path(runs_dir) if runs_dir is not None else tiers.folders(tier).runs
        try:
            base = Config.from_dict({k: v for k, v in view.items() if k not in _OTHER_SECTIONS})
            rows = {n: Row(n, "baseline", base) for n in BASELINES}
            problems = []  # every row is checked before the file is refused, each named
            for group in GROUPS:
                for name in view.get(group) or {}:
                    try:
                        rows[name] = _row(view, name, group, base, runs_dir)
                    except ConfigError as e:
                        problems.append(f"{group}.{name}: {e}")
            if problems:
                raise ConfigError(
                    problems[0]
                    if len(problems) == 1
                    else f"{len(problems)} rows are wrong:\n- " + "\n- ".join(problems)
                )
            for start in tiers.spec(raw, tier, path).get("starts", ()):
                name = tiers.pretrain_row(start)
                over = tiers.pretrain_overrides(raw, tier, start, path)
                rows[name] = Row(name, "pretrain", base.with_overrides(over), model_of=name)
            grabcut = build_dataclass(GrabCutConfig, raw.get(GRABCUT), GRABCUT)
            report = build_dataclass(ReportConfig, raw.get("study"), "study")
            report.baseline = report.baseline or next(iter(raw.get("rows") or {}), "")
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"{path}: {e}") from e
        return cls(path, base, rows, grabcut, report, raw, tier, runs_dir)

    @property
    def folders(self) -> tiers.Folders:
        """Where this tier's stages write (``runs/``, ``reports/``; ``runs/long/``, ...)."""
        return tiers.folders(self.tier)

    def names(self, which: str = "all") -> list[str]:
        """Row names in file order: ``rows``, ``finetune``, ``trained`` (both), ``eval_only``,
        ``models`` (every row with a model), ``baselines``, ``all`` (baselines first), or
        ``pretrain`` (the tier's synthetic pretrainings, which no group above lists)."""
        groups = {
            "trained": ("rows", "finetune"),
            "models": GROUPS,
            "baselines": ("baseline",),
            "all": ("baseline", *GROUPS),
            "pretrain": ("pretrain",),
            **{g: (g,) for g in GROUPS},
        }
        if which not in groups:
            raise ValueError(f"which must be one of {sorted(groups)}, got {which!r}")
        return [n for n, r in self.rows.items() if r.group in groups[which]]

    def seeds(self, name: str) -> list[int]:
        """The seed indices k of row ``name``'s models (``runs/<row>/seed<k>/``, the per-box files'
        ``seed`` column): ``range(study.seeds)`` for a trained row and for an eval-only row (its
        ``from``'s), ``[0]`` for the rows without training and for a tier's pretraining."""
        row = self[name]
        return list(range(self.report.seeds)) if row.group in GROUPS else [0]

    def seed_config(self, name: str, k: int) -> Config:
        """Row ``name``'s settings for its seed ``k``: ``train.seed + k`` (a finetune row starts from
        its ``from``'s seed ``k``)."""
        row = self[name]
        if k not in self.seeds(name):
            raise UnknownName(f"row {name!r} has no seed {k}; it has {self.seeds(name)} (study.seeds)")
        over = {"train": {"seed": row.config.train.seed + k}}
        if row.starts_from:
            over["model"] = {"init_from": str(tiers.seed_dir(self.runs_dir / row.starts_from, k) / "model.pt")}
        return row.config.with_overrides(over)

    def __getitem__(self, name: str) -> Row:
        if name not in self.rows:
            raise UnknownName(f"no row {name!r} in {self.path}; it has {list(self.rows)}")
        return self.rows[name]

    def flat(self, name: str) -> dict[str, Any]:
        """Row ``name``'s full settings as flat keys (``model.fusion``), its model's origin included."""
        if name not in self._flat:
            row = self[name]
            flat = flatten(row.config.to_dict())
            flat["model.init_from"] = row.starts_from or ""  # the row, not the path
            flat["model_of"] = row.model_of
            self._flat[name] = flat
        return self._flat[name]

    def changed(self, name: str, against: str) -> dict[str, tuple[Any, Any]]:
        """The settings in which row ``name`` differs from row ``against``: key -> (against's, name's)."""
        a, b = self.flat(against), self.flat(name)
        return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k) and k != "model_of"}

    def describe(self, name: str) -> str:
        """What row ``name`` changes from the base recipe, e.g. ``model.fusion=fpn`` (``default`` if nothing)."""
        row = self[name]
        if name == IDENTITY:
            return "jittered boxes as they are (no model)"
        if name == GRABCUT:
            return "OpenCV GrabCut from the jittered box"
        base = flatten(self.base.to_dict())
        diff = [
            f"{k}={v}" for k, v in flatten(row.config.to_dict()).items() if base.get(k) != v and k != "model.init_from"
        ]
        text = ", ".join(diff) if diff else "default"
        if row.starts_from:
            text += f", starting from the model of {row.starts_from}"
        if row.group == "eval_only":
            text += f" (the model of {row.model_of}, evaluated only)"
        return text


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """The base recipe of a params file (data/model/train/eval; the code defaults without one), with
    ``overrides`` (a nested dict) merged in."""
    base = Params.load(path).base if path is not None else Config()
    return base.with_overrides(overrides)


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = list(v) if isinstance(v, tuple) else v
    return out


def _row(raw: dict, name: str, group: str, base: Config, runs_dir: Path) -> Row:
    over, origin = _overrides(raw, name)
    if group == "rows":
        return Row(name, group, base.with_overrides(over), model_of=name)
    if group == "finetune":  # its seed k starts from its `from`'s seed k (Params.seed_config)
        over = deep_merge(over, {"model": {"init_from": str(tiers.seed_dir(runs_dir / origin, 0) / "model.pt")}})
        return Row(name, group, base.with_overrides(over), model_of=name, starts_from=origin)
    return Row(name, group, base.with_overrides(over), model_of=origin)


def _overrides(raw: dict, name: str) -> tuple[dict, str | None]:
    """Row ``name``'s overrides of the base sections (a finetune or eval_only row inherits those of
    its ``from``), and its ``from``."""
    rows = raw.get("rows") or {}
    if name in rows:
        return dict(rows[name] or {}), None
    for group in ("finetune", "eval_only"):
        entry = (raw.get(group) or {}).get(name)
        if entry is not None:
            own = {k: v for k, v in entry.items() if k != "from"}
            return deep_merge(_overrides(raw, entry["from"])[0], own), entry["from"]
    raise KeyError(name)


def _validate(raw: dict, path: Path) -> None:
    groups = {g: raw.get(g) or {} for g in GROUPS}
    seen: dict[str, str] = {}
    for g, entries in groups.items():
        if not isinstance(entries, dict):
            raise ConfigError(f"{path}: `{g}` must be a mapping name -> overrides")
        for name, over in entries.items():
            if not NAME_RE.match(str(name)) or name in BASELINES or str(name).startswith(tiers.PRETRAIN_PREFIX):
                raise ConfigError(
                    f"{path}: row name {name!r} must be letters, digits and _ only, not one of "
                    f"{BASELINES} and not start with {tiers.PRETRAIN_PREFIX!r} (it becomes a DVC stage "
                    f"and a params key; the long tier's pretrainings are named so)"
                )
            if name in seen:
                raise ConfigError(f"{path}: {name!r} is both in {seen[name]} and in {g}")
            if over is not None and not isinstance(over, dict):
                raise ConfigError(f"{path}: {g}.{name} must be a mapping of overrides, got {over!r}")
            seen[name] = g
    rows = groups["rows"]
    for g in ("finetune", "eval_only"):
        for name, over in groups[g].items():
            if (over or {}).get("from") not in rows:
                raise ConfigError(
                    f"{path}: {g}.{name}.from must name one of rows {sorted(rows)} "
                    f"(the model it {'starts from' if g == 'finetune' else 'evaluates'}), "
                    f"got {(over or {}).get('from')!r}"
                )
    for name, over in groups["eval_only"].items():
        for section, value in over.items():
            if section == "from":
                continue
            if section not in EVAL_ONLY_KEYS:
                raise ConfigError(
                    f"{path}: eval_only.{name} changes {section}.*, which needs training; make it an entry of `rows`"
                )
            allowed = EVAL_ONLY_KEYS[section]
            if allowed is not None and set(value or {}) - allowed:
                raise ConfigError(
                    f"{path}: eval_only.{name} may change only {sorted(allowed)} in {section}, "
                    f"not {sorted(set(value) - allowed)}: those need training"
                )
    baseline = (raw.get("study") or {}).get("baseline")
    if baseline and baseline not in rows:
        raise ConfigError(f"{path}: study.baseline must name one of rows {sorted(rows)}, got {baseline!r}")

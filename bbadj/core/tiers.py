"""The study at two budgets (tiers): every row of ``params.yaml`` trained twice.

- ``default``: the sections of ``params.yaml`` as they are, within 20 minutes on a 2-core CPU
  (``make repro``: ``dvc.yaml``; ``runs/``, ``reports/``);
- ``long``: the ``long`` section on top of them, a budget where the model works (``make
  repro-long``: ``long/dvc.yaml``; ``runs/long/``, ``reports/long/``). It lists only what it
  changes of the base recipe's training (data/model/train); every row keeps its own overrides.
  Its backbones first learn edges on synthetic images (``synth``: ``bbadj synth`` into
  ``runs/long/synth/``), once per starting weights the rows use (``starts``, the values of
  ``model.pretrained``; ``pretrain``: what that training changes); each row then starts its
  backbone from that model (its fusion and decoders start fresh, so the ablations of them stay
  fair) and trains on the photographs, ``synth.mix`` of every batch still synthetic.

The tiers share the rows and the evaluation (the same sets and jitter draws, so that the two
answers to one ablation compare box by box, and the identity and GrabCut rows are scored once, by
the default tier); one edit of a row reaches both, and each pipeline reruns it when it is run
(docs/tiers.md says why two pipelines and not a DVC experiment).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ModelConfig, deep_merge
from ..util.errors import ConfigError

DEFAULT = "default"
LONG = "long"
TIERS = (DEFAULT, LONG)
SECTIONS = ("data", "model", "train")  # what a tier may change of the base recipe (not eval: shared)
STARTS = ("imagenet", "none")  # the starting weights a synthetic pretraining can start from
PRETRAIN_PREFIX = "pretrain_"  # a pretraining's row name (a user's row may not start so)
_TIER_KEYS = {"synth", "starts", "pretrain", *SECTIONS}


@dataclass(frozen=True)
class Folders:
    """Where a tier's stages write: models (``runs``) and results (``reports``)."""

    runs: Path
    reports: Path

    @property
    def synth(self) -> Path:
        return self.runs / "synth"

    def pretrained(self, start: str) -> Path:
        """The model of the synthetic pretraining from starting weights ``start``."""
        return self.run_dir(pretrain_row(start)) / "model.pt"

    # A tier's synthetic pretrainings train like rows, into one folder of models and one of
    # results (one DVC stage makes them all: dvc.yaml need not name the starts)

    def run_dir(self, row: str, seed: int | None = None) -> Path:
        """Where row ``row`` trains: ``runs/<row>`` (its seed k in ``runs/<row>/seed<k>``), or
        ``runs/pretrain/<start>`` (one seed)."""
        start = pretrain_start(row)
        if start:
            return self.runs / "pretrain" / start
        return self.runs / row if seed is None else seed_dir(self.runs / row, seed)

    def curves_dir(self, row: str, seed: int | None = None) -> Path:
        """Its training curves (dvclive): ``reports/train/<row>`` (seed k's in ``.../seed<k>``; the
        stage's run.json in the row's), or ``reports/pretrain/<start>``."""
        start = pretrain_start(row)
        if start:
            return self.reports / "pretrain" / start
        where = self.reports / "train" / row
        return where if seed is None else seed_dir(where, seed)

    def notebook(self, stage: str, row: str) -> Path:
        """The executed copy of ``stage``'s notebook for ``row``."""
        start = pretrain_start(row)
        return (
            self.reports / "pretrain" / f"train-{start}.ipynb"
            if start
            else self.reports / "notebooks" / f"{stage}-{row}.ipynb"
        )


def seed_dir(folder: str | Path, k: int) -> Path:
    """A trained row's seed ``k`` within its folder: ``runs/<row>/seed<k>``."""
    return Path(folder) / f"seed{k}"


def pretrain_row(start: str) -> str:
    """The name of the synthetic pretraining from ``start``, trained like a row (``pretrain_imagenet``)."""
    return f"{PRETRAIN_PREFIX}{start}"


def pretrain_start(row: str) -> str | None:
    """The starting weights of a pretraining row's name; None for any other row."""
    return row[len(PRETRAIN_PREFIX) :] if row.startswith(PRETRAIN_PREFIX) else None


def pipeline(tier: str = DEFAULT) -> Path:
    """The DVC pipeline file of ``tier``: ``dvc.yaml``, ``long/dvc.yaml``."""
    check_tier(tier)
    return Path("dvc.yaml") if tier == DEFAULT else Path(tier, "dvc.yaml")


def folders(tier: str = DEFAULT) -> Folders:
    check_tier(tier)
    return (
        Folders(Path("runs"), Path("reports"))
        if tier == DEFAULT
        else Folders(Path("runs", tier), Path("reports", tier))
    )


def check_tier(tier: str) -> None:
    if tier not in TIERS:
        raise ConfigError(f"unknown tier {tier!r}; choose one of {list(TIERS)}")


def spec(raw: dict, tier: str, path: Path) -> dict[str, Any]:
    """The ``tier`` section of a parsed params file, checked ({} for the default tier)."""
    check_tier(tier)
    if tier == DEFAULT:
        return {}
    section = raw.get(tier)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: no `{tier}` section (the {tier} tier's settings); see docs/tiers.md")
    unknown = sorted(set(section) - _TIER_KEYS)
    if unknown:
        shared = (
            " (the tiers share their rows and evaluation: a row's entry in `rows` reaches both)"
            if {"eval", "rows"} & set(unknown)
            else ""
        )
        raise ConfigError(f"{path}: {tier}: unknown key(s) {unknown}; known: {sorted(_TIER_KEYS)}{shared}")
    for key in ("pretrain", *SECTIONS):
        if not isinstance(section.get(key) or {}, dict):
            raise ConfigError(f"{path}: {tier}.{key} must be a mapping")
    synth = section.get("synth") or {}
    if (
        set(synth) - {"images", "seed", "mix"}
        or not isinstance(synth.get("images"), int)
        or synth["images"] < 1
        or not 0 <= synth.get("mix", 0) < 1
    ):
        raise ConfigError(
            f"{path}: {tier}.synth must be {{images: N >= 1, seed: S, mix: share in [0, 1)}}, got {synth!r}"
        )
    starts = section.get("starts")
    if not isinstance(starts, list) or not starts or not set(starts) <= set(STARTS) or len(set(starts)) < len(starts):
        raise ConfigError(
            f"{path}: {tier}.starts must list the rows' starting weights (model.pretrained) once each, "
            f"from {list(STARTS)}, got {starts!r}"
        )
    if "eval" in (section.get("pretrain") or {}):
        raise ConfigError(f"{path}: {tier}.pretrain changes eval, which a pretraining never uses")
    return section


def apply(raw: dict, tier: str, path: Path) -> dict:
    """The parsed params file as the ``tier`` sees it: the base sections with the tier's changes,
    and each row's backbone from its start's synthetic pretraining. The default tier: ``raw``
    itself."""
    section = spec(raw, tier, path)
    if not section:
        return raw
    out = {k: deep_merge(raw.get(k) or {}, section.get(k) or {}) if k in SECTIONS else v for k, v in raw.items()}
    for k in SECTIONS:
        out.setdefault(k, section.get(k) or {})
    where = folders(tier)
    mix = section["synth"].get("mix", 0)
    if mix:
        out["data"] = deep_merge(
            out["data"],
            {
                "mix": {
                    "annotations": str(where.synth / "annotations.json"),
                    "images": str(where.synth / "images"),
                    "fraction": mix,
                }
            },
        )
    base_start = (out.get("model") or {}).get("pretrained", ModelConfig.pretrained)
    rows = {}
    for name, over in (raw.get("rows") or {}).items():
        over = over or {}
        start = (over.get("model") or {}).get("pretrained", base_start)
        if start not in section["starts"]:
            raise ConfigError(
                f"{path}: row {name} starts from model.pretrained={start!r}, which is not in "
                f"{tier}.starts {section['starts']}: add it there (one synthetic pretraining each)"
            )
        if start != base_start:
            over = deep_merge(over, {"model": {"pretrained": str(where.pretrained(start))}})
        rows[name] = over
    out["rows"] = rows
    if base_start not in section["starts"]:
        raise ConfigError(
            f"{path}: the base recipe's model.pretrained={base_start!r} is not in {tier}.starts {section['starts']}"
        )
    out["model"] = deep_merge(out.get("model") or {}, {"pretrained": str(where.pretrained(base_start))})
    return out


def pretrain_overrides(raw: dict, tier: str, start: str, path: Path) -> dict:
    """The overrides of the tier's base recipe that make its synthetic pretraining from starting
    weights ``start``: the synthetic set alone (no mix, no calibration: only its backbone is
    handed on), the ``pretrain`` changes, those weights."""
    section = spec(raw, tier, path)
    if start not in section["starts"]:
        raise ConfigError(f"{path}: {start!r} is not one of {tier}.starts {section.get('starts')}")
    synth = folders(tier).synth
    data = {
        "train_annotations": str(synth / "annotations.json"),
        "train_images": str(synth / "images"),
        "mix": {"annotations": "", "images": "", "fraction": 0.0},
        "calibration": {"annotations": "", "images": ""},
    }
    return deep_merge(section.get("pretrain") or {}, {"data": data, "model": {"pretrained": start}})

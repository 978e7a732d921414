"""The command-line options every command that reads a configuration shares (``bbadj`` and
``bbadj bench``): --params, --set, and the study's --row. Not in ``cli/``: the benchmarks
import it, and ``bbadj bench`` is reached from the command line (tests/test_layering.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .core.config import Config, parse_set
from .core.params import PARAMS, Params
from .core.tiers import DEFAULT


def config_from_args(args) -> Config:
    """--params (the file given, which must exist; without it, params.yaml if present, else the
    code defaults), or with --row that row of the study (its seed --seed-index: train.seed + k); then --set."""
    path = args.params
    if path is None and Path(PARAMS).exists():
        path = PARAMS
    row = getattr(args, "row", None)
    if path is None and row:
        raise FileNotFoundError(f"--row {row} needs the study's params file ({PARAMS} here, or --params)")
    if path is None:
        cfg = Config()
    else:
        params = Params.load(path, runs_dir=getattr(args, "runs_dir", None), tier=getattr(args, "tier", DEFAULT))
        cfg = params.seed_config(row, getattr(args, "seed_index", None) or 0) if row else params.base
    return cfg.with_overrides(parse_set(args.set))


def add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--params",
        default=None,
        help=f"YAML with data/model/train/eval sections (default: {PARAMS} if present, "
        f"else the defaults of bbadj/core/config.py)",
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one setting, e.g. --set model.fusion=fpn (repeatable)",
    )

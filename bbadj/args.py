"""The command-line options every command that reads a configuration shares (``bbadj`` and
``bbadj bench``): --params, --set, and the study's --experiment."""
from __future__ import annotations

import argparse
from pathlib import Path

from .config import Config, load_config, parse_set

DEFAULT_PARAMS = "params.yaml"


def config_from_args(args) -> Config:
    """--params (the file given, which must exist; without it, params.yaml if present, else the
    code defaults), or with --experiment that experiment of the study's params; then --set."""
    path = args.params
    if path is None and Path(DEFAULT_PARAMS).exists():
        path = DEFAULT_PARAMS
    if getattr(args, "experiment", None):
        from .study.experiments import experiment_config

        cfg = experiment_config(path or DEFAULT_PARAMS, args.experiment, getattr(args, "runs_dir", "runs"))
    else:
        cfg = load_config(path)
    return cfg.with_overrides(parse_set(args.set))


def add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", default=None,
                   help=f"YAML with data/model/train/eval sections (default: {DEFAULT_PARAMS} if present, "
                        f"else the defaults of bbadj/config.py)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one setting, e.g. --set model.fusion=fpn (repeatable)")

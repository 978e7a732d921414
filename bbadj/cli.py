"""The ``bbadj`` command line: synth, train, evaluate, adjust."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .config import Config, load_config, parse_set


def config_from_args(args) -> Config:
    """--params (params.yaml if present, or the file given) with the --set overrides."""
    given = getattr(args, "params_given", False)  # set by main(); absent when args are built by hand
    cfg = load_config(args.params if args.params and Path(args.params).exists() or given else None)
    return cfg.with_overrides(parse_set(args.set))


def add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", default="params.yaml",
                   help="YAML with data/model/train/eval sections (default: params.yaml if present)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one setting, e.g. --set model.fusion=fpn (repeatable)")


def cmd_synth(args) -> int:
    from .data.synth import make_synthetic

    summary = make_synthetic(args.out, args.images, args.seed)
    print(json.dumps(summary))
    return 0


def cmd_train(args) -> int:
    from .engine import train

    entry = train(config_from_args(args), args.out, resume=not args.restart, progress=not args.no_progress)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one summary line, not one per rank
        print(json.dumps(entry))
    return 0


def cmd_evaluate(args) -> int:
    from .checkpoint import load_model
    from .data.coco import load_coco
    from .engine import resolve_device
    from .evaluate import evaluate, evaluation_config

    cfg, model = config_from_args(args), None
    if not args.identity:
        model = load_model(args.checkpoint, resolve_device(cfg.eval.device))
        cfg = evaluation_config(model.config, cfg)
    if args.decoding:
        cfg = cfg.with_overrides({"eval": {"decoding": args.decoding}})
    annotations = args.annotations or cfg.data.val_annotations
    images = args.images or cfg.data.val_images
    coco = load_coco(annotations, images, skip_crowd=cfg.data.skip_crowd, min_box_size=cfg.data.min_box_size)
    result = evaluate(coco, cfg, model, repeats=args.repeats, seed=args.seed, buffer_ratio=args.buffer_ratio,
                      progress=not args.no_progress, per_box_csv=args.per_box)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


def cmd_adjust(args) -> int:
    from .checkpoint import load_model
    from .engine import resolve_device
    from .inference import adjust

    model = load_model(args.checkpoint, resolve_device(args.device))
    boxes = []
    for text in args.box:
        try:
            boxes.append([float(v) for v in text.split(",")])
        except ValueError:
            raise SystemExit(f"--box expects x0,y0,x1,y1 numbers, got {text!r}")
        if len(boxes[-1]) != 4:
            raise SystemExit(f"--box expects 4 numbers x0,y0,x1,y1, got {text!r}")
    out = adjust(args.image, boxes, model, buffer_ratio=args.buffer_ratio, decoding=args.decoding)
    from .data.crops import EDGES

    result = [{"box": [round(v, 3) for v in b.tolist()],
               "confidence": {e: round(float(c), 4) for e, c in zip(EDGES, conf)}}
              for b, conf in zip(out["boxes"], out["confidence"])]
    print(json.dumps(result, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bbadj", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="write the synthetic COCO-format dataset")
    p.add_argument("--out", required=True)
    p.add_argument("--images", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("train", help="train a model; rerunning the same command resumes from the last checkpoint")
    add_config_args(p)
    p.add_argument("--out", required=True, help="run directory (last.pt, model.pt, train_log.jsonl)")
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint and start over")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="score a checkpoint, or the jittered boxes (--identity), with the paper's metrics")
    add_config_args(p)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--identity", action="store_true", help="score the jittered input boxes as they are")
    g.add_argument("--checkpoint")
    p.add_argument("--annotations", help="COCO instances JSON (default: data.val_annotations)")
    p.add_argument("--images", help="image folder (default: data.val_images)")
    p.add_argument("--buffer-ratio", type=float)
    p.add_argument("--seed", type=int, help="jitter seed (default: eval.seed)")
    p.add_argument("--repeats", type=int, help="jitter draws to average (default: eval.repeats)")
    p.add_argument("--decoding", choices=["argmax", "subpixel"])
    p.add_argument("--per-box", help="also write one CSV line per (draw, box)")
    p.add_argument("--out", required=True, help="metrics JSON")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("adjust", help="snap rough boxes on one image; prints JSON")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--box", action="append", required=True, metavar="x0,y0,x1,y1")
    p.add_argument("--buffer-ratio", type=float)
    p.add_argument("--decoding", choices=["argmax", "subpixel"])
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_adjust)

    from .bench import add_bench_parser

    add_bench_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(args, "params"):
        args.params_given = any(a == "--params" or a.startswith("--params=") for a in (argv or sys.argv[1:]))
    from .data.coco import DataError

    try:
        return args.func(args)
    except (DataError, FileNotFoundError) as e:
        print(f"bbadj {args.command}: error: {e}", file=sys.stderr)
        return 2

"""The ``bbadj`` command line: synth, split, train, evaluate, adjust, snap, jitter, serve, exp-run, show, fingerprint, stage,
bench."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from ..args import add_config_args, config_from_args
from ..core.params import PARAMS
from ..core.registry import DECODINGS
from ..core.tiers import DEFAULT, TIERS, folders, seed_dir


def cmd_synth(args) -> int:
    from ..data.synth import make_synthetic

    summary = make_synthetic(args.out, args.images, args.seed)
    print(json.dumps(summary))
    return 0


def cmd_split(args) -> int:
    from ..data.split import write_split

    print(json.dumps(write_split(args.annotations, args.train_out, args.val_out, args.every, args.offset)))
    return 0


def cmd_train(args) -> int:
    from ..scoring.calibration import calibrate
    from ..train.engine import train

    if not args.out and not args.row:
        raise SystemExit("bbadj train: give --out (or --row, which trains into <runs-dir>/<row>/seed<k>)")
    if args.seed_index and not args.row:
        raise SystemExit("bbadj train: --seed-index goes with --row")
    k = args.seed_index or 0
    out = args.out or str(
        seed_dir(Path(args.runs_dir) / args.row, k) if args.runs_dir else folders(args.tier).run_dir(args.row, k)
    )
    cfg = config_from_args(args)
    entry = train(
        cfg,
        out,
        resume=not args.restart,
        other_run="restart" if args.restart_if_changed else "raise",
        progress=not args.no_progress,
    )
    if os.environ.get("RANK", "0") == "0":  # under torchrun, one summary line, not one per rank
        print(json.dumps(entry))
        if os.environ.get("WORLD_SIZE", "1") == "1":  # the stage that launched torchrun calibrates once
            fit = calibrate(Path(out) / "model.pt", cfg, progress=not args.no_progress)
            if fit:
                print(json.dumps({"calibration": fit}))
    return 0


def cmd_evaluate(args) -> int:
    from ..model.checkpoint import load_model
    from ..data.dataset import load_boxes
    from ..util.device import resolve_device
    from ..scoring.evaluate import evaluate
    from ..util.outputs import write_json

    _check_detection_args(args)
    cfg, model = config_from_args(args), None
    if not args.identity:
        model = load_model(args.checkpoint, resolve_device(cfg.eval.device))
    if args.decoding:
        cfg = cfg.with_overrides({"eval": {"decoding": args.decoding}})
    if bool(args.annotations) != bool(args.images):
        raise SystemExit("bbadj evaluate: give --annotations and --images together (or --eval-set)")
    annotations, images = (args.annotations, args.images) if args.annotations else cfg.eval.set_paths(args.eval_set)
    coco = load_boxes(annotations, images, cfg.data)
    if args.detections:
        result = _evaluate_detections(args, coco, cfg, model)
    else:
        result = evaluate(
            coco,
            cfg,
            model,
            repeats=args.repeats,
            seed=args.seed,
            buffer_ratio=args.buffer_ratio,
            progress=not args.no_progress,
            per_box_csv=args.per_box,
        )
    write_json(args.out, result)
    print(json.dumps(result, indent=2))
    return 0


def _check_detection_args(args) -> None:
    """Options that belong to one mode only stop the command before anything is loaded."""
    if args.detections and (args.repeats is not None or args.seed is not None):
        raise SystemExit("bbadj evaluate: --repeats and --seed set the jitter draws; --detections has none")
    if not args.detections and (args.iou_threshold is not None or args.score_threshold is not None):
        raise SystemExit("bbadj evaluate: --iou-threshold and --score-threshold go with --detections")
    if args.iou_threshold is not None and not 0 < args.iou_threshold <= 1:
        raise SystemExit(f"bbadj evaluate: --iou-threshold must be in (0, 1], got {args.iou_threshold}")


def _evaluate_detections(args, coco, cfg, model) -> dict:
    """`bbadj evaluate --detections`: the detector's matched boxes, and (without --identity) the
    model's adjustment of them."""
    from ..scoring import detections

    return detections.evaluate_detections(
        args.detections,
        coco,
        cfg,
        model,
        iou_threshold=detections.DEFAULT_IOU_THRESHOLD if args.iou_threshold is None else args.iou_threshold,
        score_threshold=(detections.DEFAULT_SCORE_THRESHOLD if args.score_threshold is None else args.score_threshold),
        buffer_ratio=args.buffer_ratio,
        progress=not args.no_progress,
        per_box_csv=args.per_box,
    )


def _checkpoint(args) -> str:
    """--checkpoint, else the model shipped with bbadj (bbadj/snap/weights/MODEL_CARD.md)."""
    from ..snap.shipped import checkpoint_or_shipped

    return str(checkpoint_or_shipped(args.checkpoint))


def cmd_adjust(args) -> int:
    from ..model.checkpoint import load_model
    from ..util.device import resolve_device
    from ..snap.adjust import adjust

    model = load_model(_checkpoint(args), resolve_device(args.device))
    boxes = []
    for text in args.box:
        try:
            boxes.append([float(v) for v in text.split(",")])
        except ValueError:
            raise SystemExit(f"--box expects x0,y0,x1,y1 numbers, got {text!r}")
        if len(boxes[-1]) != 4:
            raise SystemExit(f"--box expects 4 numbers x0,y0,x1,y1, got {text!r}")
    out = adjust(args.image, boxes, model, buffer_ratio=args.buffer_ratio, decoding=args.decoding)
    from ..core.box_ops import EDGES

    result = [
        {
            "box": [round(v, 3) for v in b.tolist()],
            "confidence": {e: round(float(c), 4) for e, c in zip(EDGES, conf)},
            "err_px": {e: round(float(c), 3) for e, c in zip(EDGES, err)},
        }
        for b, conf, err in zip(out["boxes"], out["confidence"], out["err_px"])
    ]
    print(json.dumps(result, indent=2))
    return 0


def _add_hold_options(p) -> None:
    from ..snap.hold_defaults import HOLD, HOLD_MODE, MODES

    p.add_argument(
        "--hold",
        type=float,
        default=HOLD,
        metavar="K",
        help="an edge the model moves by at most K times its expected error (err_px) stays where the "
        f"box had it: a tight box stays tight (default: {HOLD:g}, chosen on coco128's val split, "
        "docs/snap.md; 0: off)",
    )
    p.add_argument(
        "--hold-mode",
        choices=MODES,
        default=HOLD_MODE,
        help="the edges moved further: hold, where the model put them; shrink, K x their err_px less "
        f"(default: {HOLD_MODE})",
    )


def _snap_settings(args, **only_snap):
    """The SnapSettings of `bbadj snap`'s and `bbadj serve`'s shared options (and ``only_snap``),
    checked: a ConfigError names the setting."""
    from ..core.config import check_buffer_ratio
    from ..snap.file import SnapSettings

    settings = SnapSettings(
        max_err_px=args.max_err_px,
        max_err_frac=args.max_err_frac,
        min_p=args.min_p,
        within_px=args.within_px,
        buffer_ratio=args.buffer_ratio,
        min_box_size=args.min_box_size,
        decoding=args.decoding or SnapSettings.decoding,
        hold=args.hold,
        hold_mode=args.hold_mode,
        **only_snap,
    )
    if settings.buffer_ratio is not None:
        check_buffer_ratio(settings.buffer_ratio, "--buffer-ratio")
    return settings


def cmd_snap(args) -> int:
    from ..util.device import resolve_device
    from ..snap.file import describe, read_input, snap_file, targets
    from ..snap.targets import check_targets

    # every option checked before any work: settings, device, files, where the output goes
    settings = _snap_settings(args, snap_masked=args.snap_masked, batch_size=args.batch_size)
    device = resolve_device(args.device)
    checkpoint = _checkpoint(args)
    for path, what in (
        (args.annotations, "annotations"),
        (args.detections, "detections"),
        (checkpoint, "checkpoint"),
    ):
        if path is not None and not Path(path).is_file():
            raise FileNotFoundError(f"{what} file not found: {path}")
    if not Path(args.images).is_dir():
        raise FileNotFoundError(f"image folder not found: {args.images}")
    check_targets(*targets(args.annotations, args.detections, args.out, args.review), overwrite=args.overwrite)
    # the input read once as a check (about 1 s for COCO val's 36,781 boxes): a bad entry or image
    # file is named before the model loads (11 s); snap_file reads it again under its lock
    read_input(args.annotations, args.images, args.detections, settings)
    from ..model.checkpoint import load_model

    model = load_model(checkpoint, device)
    summary = snap_file(
        args.annotations,
        args.images,
        model,
        args.out,
        detections=args.detections,
        review=args.review,
        settings=settings,
        progress=not args.no_progress,
        overwrite=args.overwrite,
    )
    print(describe(summary))
    print(f"review list: {summary['review']}")
    return 0


def cmd_jitter(args) -> int:
    from ..snap.rough import describe, write_rough

    cfg = config_from_args(args)
    for path, what in ((args.annotations, "annotations file"), (args.images, "image folder")):
        if not Path(path).exists():
            raise FileNotFoundError(f"{what} not found: {path}")
    seed = cfg.eval.seed if args.seed is None else args.seed
    print(describe(write_rough(args.annotations, args.images, args.out, cfg.data, seed, args.draw)))
    return 0


def cmd_serve(args) -> int:
    from ..util.device import resolve_device
    from ..serve.fetch import LabelStudioImages
    from ..serve.server import Backend, serve
    from ..serve.settings import ServeSettings

    settings = _snap_settings(args)
    where = ServeSettings(
        host=args.host, port=args.port, label_studio_url=args.label_studio_url, fetch_timeout_s=args.fetch_timeout
    )
    device = resolve_device(args.device)
    checkpoint = _checkpoint(args)
    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f"checkpoint file not found: {checkpoint}")
    from ..model.checkpoint import load_model

    backend = Backend(
        load_model(checkpoint, device),
        settings,
        LabelStudioImages(where.label_studio_url, timeout_s=where.fetch_timeout_s),
    )
    try:
        serve(backend, where)
    except KeyboardInterrupt:  # Ctrl-C is how a server stops
        print("bbadj serve: stopped", file=sys.stderr)
    return 0


def cmd_exp_run(args) -> int:
    import shlex
    import subprocess

    from .presets import exp_run_command

    cmd = exp_run_command(args.preset, args.name, args.set_params, args.params or PARAMS) + args.dvc_args
    print(shlex.join(cmd), flush=True)
    return 0 if args.dry_run else subprocess.call(cmd)


def cmd_show(args) -> int:
    from .show import show

    try:
        print(show(args.params or PARAMS, metric=args.metric, eval_set=args.set, width=args.width, tier=args.tier))
    except ValueError as e:
        raise SystemExit(f"bbadj show: {e}")
    return 0


def cmd_fingerprint(args) -> int:
    from ..study.fingerprint_stage import run

    return run(args.tier, dry=args.dry)


def cmd_stage(args) -> int:
    from papermill.exceptions import PapermillExecutionError

    from ..study.stage import StageInterrupted, run_stage

    args.row = " ".join(args.row) or None  # a row name with a space comes as two words: the row rule names it
    name = f"bbadj stage {args.stage}{' ' + args.row if args.row else ''}"
    _check_stage_params(args)
    try:
        run_stage(args.stage, args.row, html=args.html, tier=args.tier)
    except PapermillExecutionError as e:  # the cell's traceback is in the stage's output above
        print(f"{name}: the notebook failed: {e.ename}: {e.evalue}", file=sys.stderr)
        return 1
    except StageInterrupted as e:
        print(
            f"{name}: {e}; stopped (a training keeps its last checkpoint: the next run resumes from it)",
            file=sys.stderr,
        )
        sys.stdout.flush()
        sys.stderr.flush()
        # now: papermill's thread and nbclient's exit hooks would wait on the kernel just ended
        os._exit(e.exit_code)
    return 0


def _check_stage_params(args) -> None:
    """The study's params, every row resolved for the tier (names and ranges, every problem named at
    once), and the row asked for: checked before a kernel starts or any data loads."""
    from ..core.params import Params

    params = Params.load(PARAMS, tier=args.tier)
    if args.row and args.stage != "pretrain":
        params[args.row]  # an UnknownName naming the rows there are


def cmd_bench(args) -> int:
    from ..bench import main as bench_main

    return bench_main(args.bench_args)


# `bbadj --help`'s text: plain, as a terminal shows it (the module's docstring is reStructuredText)
DESCRIPTION = """bbadj: bounding-box adjustment (a re-creation of Snapper's model) and its ablation study.
An image and a rough box in, the tight box out, edge by edge, with each edge's expected error."""
EPILOG = """Each command has its own help: bbadj <command> --help. The study: dvc repro (README.md);
the command line in detail: docs/package.md."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bbadj", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add_commands in (
        _add_data_commands,
        _add_train_command,
        _add_evaluate_command,
        _add_snap_commands,
        _add_jitter_command,
        _add_serve_command,
        _add_study_commands,
    ):
        add_commands(sub)
    return parser


def _add_data_commands(sub) -> None:
    p = sub.add_parser("synth", help="write the synthetic COCO-format dataset")
    p.add_argument("--out", required=True)
    p.add_argument("--images", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser(
        "split", help="split a COCO instances file into train and val by image (every N-th image is val)"
    )
    p.add_argument("--annotations", required=True)
    p.add_argument("--train-out", required=True)
    p.add_argument("--val-out", required=True)
    p.add_argument("--every", type=int, default=4, help="every N-th image in image-id order is val (default: 4)")
    p.add_argument("--offset", type=int, default=0, help="position of the first val image (default: 0)")
    p.set_defaults(func=cmd_split)


def _add_train_command(sub) -> None:
    p = sub.add_parser("train", help="train a model; rerunning the same command resumes from the last checkpoint")
    add_config_args(p)
    p.add_argument("--row", help="train this row of the study's params (rows or finetune)")
    p.add_argument(
        "--seed-index",
        type=int,
        metavar="K",
        help="with --row: its seed K (train.seed + K; a finetune row from its `from`'s seed K; default 0)",
    )
    p.add_argument("--tier", default=DEFAULT, choices=TIERS, help="with --row: the study's budget (default: default)")
    p.add_argument(
        "--runs-dir", help="with --row: where the study's runs live (default: the tier's, runs or runs/long)"
    )
    p.add_argument(
        "--out", help="run directory (last.pt, model.pt, train_log.jsonl); default with --row: <runs-dir>/<row>/seed<K>"
    )
    p.add_argument("--restart", action="store_true", help="ignore an existing checkpoint and start over")
    p.add_argument(
        "--restart-if-changed",
        action="store_true",
        help="start over when the checkpoint is from another configuration (default: stop with an error)",
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_train)


def _add_evaluate_command(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a checkpoint, or the jittered boxes (--identity), with the paper's "
        "metrics; --detections: a detector's boxes instead",
    )
    add_config_args(p)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--identity", action="store_true", help="score the jittered input boxes as they are")
    g.add_argument("--checkpoint")
    p.add_argument("--eval-set", help="a name of eval.sets (default: the first)")
    p.add_argument("--annotations", help="COCO instances JSON (instead of --eval-set)")
    p.add_argument("--images", help="image folder (with --annotations)")
    p.add_argument("--buffer-ratio", type=float)
    p.add_argument("--seed", type=int, help="jitter seed (default: eval.seed)")
    p.add_argument("--repeats", type=int, help="jitter draws to average (default: eval.repeats)")
    p.add_argument("--decoding", choices=DECODINGS.names())
    p.add_argument(
        "--detections",
        metavar="RESULTS_JSON",
        help="score a detector's boxes (a COCO results file) matched to the ground truth, and the model's "
        "adjustment of them (with --identity: the detector's boxes only), instead of jittered boxes",
    )
    p.add_argument(
        "--iou-threshold",
        type=float,
        help="with --detections: the IoU a detection needs to match a true box (default: 0.5)",
    )
    p.add_argument(
        "--score-threshold",
        type=float,
        help="with --detections: detections scored below it are skipped and counted (default: 0.0, keep all)",
    )
    p.add_argument("--per-box", help="also write one CSV line per (draw, box), or per matched detection")
    p.add_argument("--out", required=True, help="metrics JSON")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_evaluate)


SHIPPED_HELP = "(default: the model shipped with bbadj, the long tier's l4 row: bbadj/snap/weights/MODEL_CARD.md)"


def _add_snap_commands(sub) -> None:
    p = sub.add_parser("adjust", help="snap rough boxes on one image; prints JSON")
    p.add_argument("--checkpoint", help=f"a bbadj model {SHIPPED_HELP}")
    p.add_argument("--image", required=True)
    p.add_argument(
        "--box",
        action="append",
        required=True,
        metavar="x0,y0,x1,y1",
        help="a rough box in pixels (repeatable); it may start off the image: --box -20,-5,50,50",
    )
    p.add_argument("--buffer-ratio", type=float)
    p.add_argument("--decoding", choices=DECODINGS.names())
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=cmd_adjust)

    p = sub.add_parser(
        "snap",
        help="snap every box of a COCO annotations or results file into a new file, "
        "keeping each original box and its per-edge confidence",
    )
    p.add_argument(
        "--annotations",
        required=True,
        help="COCO instances JSON: the boxes to snap, or with --detections the images' file names and sizes",
    )
    p.add_argument(
        "--detections",
        metavar="RESULTS_JSON",
        help="snap a detector's boxes (a COCO results file on the annotations' images) instead",
    )
    p.add_argument("--images", required=True, help="image folder")
    p.add_argument("--checkpoint", help=f"a bbadj model, e.g. runs/l4/seed0/model.pt {SHIPPED_HELP}")
    p.add_argument(
        "--out",
        help="the snapped file (default: <input>.snapped.json beside the input; a folder: that "
        "name inside it; never the input, nor any existing file that bbadj snap did not "
        "write)",
    )
    p.add_argument("--review", help="the boxes kept for review and the counts (default: <out>.review.json)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier output (and review file) of bbadj snap even if it was changed since "
        "snap wrote it (default: stop, so that no hand edit is lost)",
    )
    p.add_argument(
        "--max-err-px",
        type=float,
        help="review rule: keep a box as it was, and list it for review, when an edge's expected error "
        "(err_px) is above this many pixels (default: no such rule)",
    )
    p.add_argument(
        "--max-err-frac",
        type=float,
        help="review rule: ... when an edge's err_px is above this fraction of the box's side along its "
        "axis (height for top and bottom, width for left and right), e.g. 0.05",
    )
    p.add_argument(
        "--min-p",
        type=float,
        help="review rule: ... when the probability that an edge lies within --within-px pixels is under "
        "this (a Laplace error of mean absolute value err_px: P = 1 - exp(-T / err_px)), e.g. 0.9",
    )
    p.add_argument("--within-px", type=float, default=3.0, help="T of --min-p, in pixels (default: 3)")
    p.add_argument(
        "--snap-masked",
        action="store_true",
        help="snap the box of an annotation with a polygon or RLE mask too (default: leave it as it is); "
        "the mask and its area are left as they were",
    )
    p.add_argument("--buffer-ratio", type=float, help="the crop around each box (default: the model's own)")
    p.add_argument(
        "--min-box-size",
        type=float,
        default=1.0,
        help="boxes narrower or lower than this many pixels are skipped (default: 1)",
    )
    p.add_argument("--decoding", choices=DECODINGS.names(), help="edge decoding (default: subpixel)")
    _add_hold_options(p)
    p.add_argument("--batch-size", type=int, default=128, help="boxes per model batch (default: 128)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_snap)


def _add_jitter_command(sub) -> None:
    p = sub.add_parser(
        "jitter",
        help="write a COCO file's boxes as rough boxes to try bbadj snap on: the study's jitter draw "
        "(data.jitter, eval.seed), the true box kept in bbox_true",
    )
    p.add_argument("--annotations", required=True, help="COCO instances JSON with true boxes")
    p.add_argument("--images", required=True, help="its image folder (the images' sizes clip the boxes)")
    p.add_argument("--out", required=True, help="the rough file (never the input)")
    p.add_argument("--seed", type=int, help="jitter seed (default: eval.seed, the study's)")
    p.add_argument("--draw", type=int, default=0, help="which of the evaluation's draws (default: 0)")
    add_config_args(p)
    p.set_defaults(func=cmd_jitter)


def _add_serve_command(sub) -> None:
    from ..serve.settings import ServeSettings as ServeDefaults

    p = sub.add_parser(
        "serve",
        help="a Label Studio ML backend: rectangles drawn in Label Studio come back snapped (docs/labelstudio.md)",
        epilog="Label Studio's address and token: LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY, else "
        "what Label Studio sends when the model is connected.",
    )
    p.add_argument("--checkpoint", help=f"a bbadj model, e.g. runs/long/l4/seed0/model.pt {SHIPPED_HELP}")
    p.add_argument(
        "--host",
        default=ServeDefaults.host,
        help=f"the address to listen on (default: {ServeDefaults.host}; 0.0.0.0 for a Label Studio on "
        f"another machine: the backend has no authentication of its own)",
    )
    p.add_argument("--port", type=int, default=ServeDefaults.port, help=f"default: {ServeDefaults.port}")
    p.add_argument(
        "--label-studio-url",
        help="Label Studio's address, for its uploads and local files (default: "
        "LABEL_STUDIO_URL, else the hostname Label Studio sends)",
    )
    p.add_argument(
        "--fetch-timeout",
        type=float,
        default=ServeDefaults.fetch_timeout_s,
        help=f"seconds to fetch one image (default: {ServeDefaults.fetch_timeout_s:g})",
    )
    p.add_argument(
        "--max-err-px",
        type=float,
        help="review rule, as bbadj snap's: a rectangle with an edge above it "
        "comes back as drawn, the reason in its meta",
    )
    p.add_argument(
        "--max-err-frac", type=float, help="review rule: ... an edge's err_px above this fraction of the box's side"
    )
    p.add_argument("--min-p", type=float, help="review rule: ... P(|error| < --within-px) under this")
    p.add_argument(
        "--within-px",
        type=float,
        default=3.0,
        help="T of --min-p, and of each rectangle's score, P(its least sure edge within T px) (default: 3)",
    )
    p.add_argument("--buffer-ratio", type=float, help="the crop around each box (default: the model's own)")
    p.add_argument(
        "--min-box-size",
        type=float,
        default=1.0,
        help="rectangles narrower or lower than this many pixels are not snapped (default: 1)",
    )
    p.add_argument("--decoding", choices=DECODINGS.names(), help="edge decoding (default: subpixel)")
    _add_hold_options(p)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    p.set_defaults(func=cmd_serve)


def _add_study_commands(sub) -> None:
    p = sub.add_parser(
        "exp-run",
        help="run a preset (params/*.yaml) beside params.yaml as a DVC experiment",
        epilog="Arguments after -- go to dvc exp run, e.g. `bbadj exp-run params/paper-coco.yaml -- --queue`.",
    )
    p.add_argument("preset", help="a preset file, e.g. params/paper-coco.yaml")
    p.add_argument("-n", "--name", help="experiment name (default: the preset's file name)")
    p.add_argument(
        "-S",
        "--set-param",
        dest="set_params",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="one more override after the preset's, in dvc exp run -S syntax (repeatable)",
    )
    p.add_argument("--params", default=None, help=f"the base params file (default: {PARAMS})")
    p.add_argument("--dry-run", action="store_true", help="print the dvc command, run nothing")
    p.set_defaults(func=cmd_exp_run)

    p = sub.add_parser(
        "show",
        help="the study's runs side by side in percent (the workspace, HEAD and every DVC "
        "experiment), one table per evaluation set and metric",
    )
    p.add_argument(
        "--metric",
        default="miou",
        help="a metric's key as bbadj/scoring/metrics.py declares it (e.g. miou, edge1), or all (default: miou)",
    )
    p.add_argument("--set", help="one evaluation set (default: every set)")
    p.add_argument("--width", type=int, help="columns that do not fit go into a second table (default: the terminal's)")
    p.add_argument("--params", default=None, help=f"the study's params, for the order of its rows (default: {PARAMS})")
    p.add_argument(
        "--tier", default=DEFAULT, choices=TIERS, help="the study's budget: default or long (default: default)"
    )
    p.set_defaults(func=cmd_show)

    p = sub.add_parser(
        "fingerprint",
        help="write what each stage of the study depends on (settings, data, code), "
        "one file per stage: the first stage of dvc.yaml and long/dvc.yaml",
    )
    p.add_argument("--tier", default=DEFAULT, choices=TIERS, help="the study's budget (default: default)")
    p.add_argument("--dry", action="store_true", help="say which stages an edit makes stale, and why; write nothing")
    p.set_defaults(func=cmd_fingerprint)

    p = sub.add_parser(
        "stage",
        help="run one stage of the study's DVC pipeline: its notebook, executed with papermill "
        "(what dvc.yaml's commands call)",
    )
    p.add_argument("stage", choices=["train", "evaluate", "report", "pretrain"])
    p.add_argument(
        "row",
        nargs="*",
        help="the row of params.yaml (train, evaluate); pretrain: the tier's synthetic pretrainings, every one",
    )
    p.add_argument(
        "--tier",
        default=DEFAULT,
        choices=TIERS,
        help="the study's budget: default (dvc.yaml) or long (long/dvc.yaml) (default: default)",
    )
    p.add_argument("--html", help="report: also write the executed notebook as HTML, without its code")
    p.set_defaults(func=cmd_stage)

    # the benchmarks parse their own arguments: loaded only when `bbadj bench` runs
    p = sub.add_parser(
        "bench",
        add_help=False,
        help="measured benchmarks: crops, train-step, step-profile, adjust-latency, serve-latency, evaluate, snap, snap-harm, quality",
    )
    p.add_argument("bench_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench)


def _box_values(argv: list[str]) -> list[str]:
    """``--box -200,-200,50,50`` as ``--box=-200,-200,50,50``: argparse takes a value that starts
    with '-' (and is not a plain negative number) for an option, and would stop with
    "expected one argument"."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--box" and i + 1 < len(argv) and re.match(r"-[\d.]", argv[i + 1]):
            out.append(f"--box={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)  # after --: dvc's arguments (exp-run)
    argv, passed = _box_values(argv[:cut]), argv[cut + 1 :]
    parser = build_parser()
    from ..util.errors import BbadjError

    if argv[:1] == ["bench"]:  # the benchmarks parse their own arguments, --help included
        args = argparse.Namespace(
            command="bench", func=cmd_bench, bench_args=argv[1:] + (["--", *passed] if passed else [])
        )
    else:
        args = parser.parse_args(argv)
        if passed and args.command != "exp-run":
            parser.error(f"unrecognized arguments after --: {' '.join(passed)}")
        args.dvc_args = passed
    try:
        return args.func(args)
    except (BbadjError, FileNotFoundError) as e:
        print(f"bbadj {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: one line, and the shell's code for SIGINT
        print(f"bbadj {args.command}: interrupted{INTERRUPTED.get(args.command, '')}", file=sys.stderr)
        return 130


INTERRUPTED = {
    "snap": "; the chunks done are kept: the same command resumes after them",
    "train": "; the same command resumes from the last checkpoint",
}

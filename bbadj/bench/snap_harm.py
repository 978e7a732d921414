"""``bbadj bench snap-harm``: does snapping harm boxes that are already good? For each hold mode and
value (``bbadj.snap.hold``; 0: off), the mean IoU to the truth of

- ``tight``: the true boxes as they are (100), after one pass of snap and after two (the second
  on the first's output, as ``bbadj snap`` run on its own output);
- ``jittered``: the evaluation's jittered boxes (``draw_eval_jitter``: eval.seed, eval.repeats
  draws, as ``bbadj evaluate`` draws them), as they are, after one pass and after two;

and the share of edges held in each pass. Each pass is ``adjust_boxes`` (one pass, the model's
own crops, eval's decoding) with the hold applied to its output, as ``bbadj snap`` applies it.

A box the model has seen, from the same input box, is not run again: the second pass of a box
whose four edges were all held starts from the box the first pass started from, and its answer
is the first pass's. This saves most of the second passes on tight boxes at large holds; running
it again would differ only where a crop's answer differs in another batch (float32's last
digits)."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ..args import config_from_args
from ..core.config import Config
from ..data.coco import CocoBoxes
from ..data.dataset import draw_eval_jitter, load_boxes
from ..scoring.metrics import per_box_errors, summarize
from ..snap.adjust import adjust_boxes
from ..snap.hold import MODES, check_hold, check_mode, hold_edges
from ..util.device import resolve_device
from ..util.errors import ConfigError
from .common import add_common_args, args_dict, machine, set_threads, write_result


class Passes:
    """One pass of the model over (N, 4) boxes, one per box of ``coco`` in its order, remembering
    each box's answers by its input box (a box given again is not run again)."""

    def __init__(self, coco: CocoBoxes, cfg: Config, model, progress: bool):
        self.coco, self.cfg, self.model, self.progress = coco, cfg, model, progress
        self.geometry = model.geometry
        self.image_of = np.concatenate([np.full(len(r.boxes), i) for i, r in enumerate(coco.images)])
        self.seen: list[dict[bytes, tuple[np.ndarray, np.ndarray]]] = [{} for _ in self.image_of]
        self.boxes_run = 0

    def __call__(self, rough: np.ndarray, desc: str) -> tuple[np.ndarray, np.ndarray]:
        """(boxes (N, 4), err_px (N, 4)) of the model on ``rough``."""
        keys = [row.tobytes() for row in rough]
        todo = np.array([k not in seen for k, seen in zip(keys, self.seen)], dtype=bool)
        if todo.any():
            records, parts = [], []
            for i, rec in enumerate(self.coco.images):
                mine = np.flatnonzero(todo & (self.image_of == i))
                if len(mine):
                    records.append(dataclasses.replace(rec, boxes=rough[mine], ann_ids=rec.ann_ids[:0]))
                    parts.append(mine)
            subset = CocoBoxes(records)
            out, _, err = adjust_boxes(
                subset, [r.boxes for r in records], self.cfg, self.model, self.geometry, self.progress, desc
            )
            for j, row in enumerate(np.concatenate(parts)):
                self.seen[row][keys[row]] = (out[j].numpy(), err[j].numpy())
            self.boxes_run += int(todo.sum())
        answers = [seen[k] for k, seen in zip(keys, self.seen)]
        return np.stack([a[0] for a in answers]), np.stack([a[1] for a in answers])


def miou(boxes: np.ndarray, gt: np.ndarray) -> float:
    """Mean IoU to the truth, in percent (the study's metric, ``scoring.metrics``)."""
    return 100 * summarize(per_box_errors(torch.as_tensor(boxes), torch.as_tensor(gt)))["miou"]


def two_passes(run: Passes, start: np.ndarray, gt: np.ndarray, hold: float, mode: str, desc: str) -> dict:
    """mIoU of ``start``, after one pass and after two, with ``hold``; the share of edges held."""
    out1, err1 = run(start, f"{desc}, pass 1")
    b1, held1 = hold_edges(start, out1, err1, hold, mode)
    out2, err2 = run(b1, f"{desc}, {mode} {hold:g}, pass 2")
    b2, held2 = hold_edges(b1, out2, err2, hold, mode)
    return {
        "input": miou(start, gt),
        "pass1": miou(b1, gt),
        "pass2": miou(b2, gt),
        "held1": 100 * float(held1.mean()),
        "held2": 100 * float(held2.mean()),
    }


def snap_harm(
    coco: CocoBoxes, cfg: Config, model, holds: list[float], modes: tuple[str, ...] = ("hold",), progress: bool = True
) -> dict:
    """Per hold mode and value (hold 0, off, once): ``tight`` and ``jittered`` (each: input, pass1,
    pass2 mIoU in percent, held1, held2 percent of edges; jittered averaged over eval.repeats draws)."""
    gt = coco.all_boxes()
    run = Passes(coco, cfg, model, progress)
    draws = [np.concatenate(draw_eval_jitter(coco, cfg.data, cfg.eval.seed, k)) for k in range(cfg.eval.repeats)]
    rows = []
    for mode, hold in dict.fromkeys(("off" if not h else m, h) for m in modes for h in holds):
        tight = two_passes(run, gt, gt, hold, MODES[0] if mode == "off" else mode, "tight")
        per_draw = [
            two_passes(run, d, gt, hold, MODES[0] if mode == "off" else mode, f"jittered draw {k + 1}")
            for k, d in enumerate(draws)
        ]
        jittered = {key: float(np.mean([d[key] for d in per_draw])) for key in per_draw[0]}
        rows.append({"mode": mode, "hold": hold, "tight": tight, "jittered": jittered})
    return {"n_boxes": len(gt), "boxes_run": run.boxes_run, "rows": rows}


HEADER = (
    "| mode | hold | tight: 1 pass | 2 passes | held % (1st / 2nd) | jittered: as drawn | 1 pass | 2 passes "
    "| held % (1st / 2nd) |"
)


def table(result: dict) -> str:
    """The result as a markdown table, mIoU to the truth in percent (the true boxes as they are: 100)."""
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for r in result["rows"]:
        t, j = r["tight"], r["jittered"]
        lines.append(
            f"| {r['mode']} | {r['hold']:g} | {t['pass1']:.1f} | {t['pass2']:.1f} | {t['held1']:.0f} / {t['held2']:.0f} "
            f"| {j['input']:.1f} | {j['pass1']:.1f} | {j['pass2']:.1f} | {j['held1']:.0f} / {j['held2']:.0f} |"
        )
    return "\n".join(lines)


def parse_holds(text: str) -> list[float]:
    try:
        holds = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--hold expects numbers separated by commas, e.g. 0,0.5,1, got {text!r}") from None
    if not holds:
        raise ConfigError("--hold needs at least one value")
    for h in holds:
        check_hold(h, "--hold")
    return holds


def cmd_snap_harm(args) -> int:
    holds = parse_holds(args.hold)  # a bad --hold or --hold-mode is named before any work
    modes = tuple(m.strip() for m in args.hold_mode.split(","))
    for m in modes:
        check_mode(m, "--hold-mode")
    set_threads(args)
    cfg = config_from_args(args).with_overrides({"eval": {"passes": 1}, "data": {"num_workers": 0}})
    device = resolve_device(args.device)
    from ..model.checkpoint import load_model

    from ..snap.shipped import checkpoint_or_shipped

    args.checkpoint = str(checkpoint_or_shipped(args.checkpoint))  # a string: the result JSON records it
    model = load_model(args.checkpoint, device)
    info = machine(device)
    coco = load_boxes(args.annotations, args.images, cfg.data, verbose=False)
    result = snap_harm(coco, cfg, model, holds, modes, not args.no_progress)
    result.update(
        {
            "benchmark": "snap-harm",
            "checkpoint": str(args.checkpoint),
            "annotations": str(args.annotations),
            "images": str(args.images),
            "repeats": cfg.eval.repeats,
            "seed": cfg.eval.seed,
            "decoding": cfg.eval.decoding,
            "device": str(device),
            "args": args_dict(args),
            "machine": info,
        }
    )
    write_result(result, args.out)
    print(
        f"snap-harm: {result['n_boxes']} boxes of {args.annotations}, checkpoint {args.checkpoint}; mIoU to the "
        f"truth in percent (the true boxes as they are: 100), jittered: {cfg.eval.repeats} draws (seed "
        f"{cfg.eval.seed}); {result['boxes_run']} boxes run through the model"
    )
    print(table(result))
    return 0


def add_parser(sub) -> None:
    q = sub.add_parser(
        "snap-harm",
        help="mIoU to the truth of true and jittered boxes after one and two passes of snap, per hold value",
    )
    q.add_argument("--checkpoint", help="a bbadj model (default: the model shipped with bbadj)")
    q.add_argument(
        "--annotations",
        default="data/coco128/annotations/val.json",
        help="COCO instances JSON, its boxes the truth (default: coco128's val split)",
    )
    q.add_argument("--images", default="data/coco128/images", help="its image folder")
    q.add_argument(
        "--hold",
        default="0,0.5,1,1.5,2",
        help="hold values to compare, separated by commas (0: off; default: 0,0.5,1,1.5,2)",
    )
    q.add_argument(
        "--hold-mode",
        default=",".join(MODES),
        help=f"hold modes to compare, separated by commas (default: {','.join(MODES)}; bbadj.snap.hold)",
    )
    q.add_argument("--device", default="cpu")
    add_common_args(q)
    q.set_defaults(func=cmd_snap_harm)

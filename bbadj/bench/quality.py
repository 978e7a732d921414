"""``bbadj bench quality``: does a learned per-edge quality head rank "edge within 1 px" better
than err_px among boxes of one size (issue 33, part 3)?

Every head of ``bbadj.snap.quality.HEADS`` is fitted on jittered boxes of the model's own training
photographs (its checkpoint's ``data.train_annotations``, ``--train-draws`` draws), and once more
on those plus its calibration photographs, then recalibrated on the calibration photographs alone
(``--fit``); each is scored on every evaluation set (``eval.sets``, validation first, the test set
last), with the evaluation's jitter draws (``eval.seed``, ``eval.repeats``), beside box size alone,
err_px and the confidence, and the stored head (``--head``). Per score: the AUROC of "edge within
1 px", its within-size AUROC (the mean over five equal-count bins of the box side,
``bbadj.analysis.confidence.within_size``), each with a 95% interval over photographs, and its
within-size difference from err_px's; then the calibration per decile of the stored head (or the
best-ranking one) and of err_px. ``--write-head`` stores a head fitted here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..analysis.confidence import SIZE_BINS, WITHIN_SIZE_AIM, weighted_auroc, within_size
from ..analysis.stats import percentile_interval, photo_weights
from .common import add_common_args, args_dict, machine, print_table, set_threads, write_result

BASELINES = {"size": "box size alone", "err_px": "err_px", "conf": "confidence"}
FITS = {
    "train": "fitted on the training photographs",
    "train+cal": "fitted on the training and calibration photographs",
    "train|cal": "fitted on the training photographs, recalibrated on the calibration photographs",
}


def cases_frame(cases: dict, heads: dict):
    """One row per edge: ``size`` (rough side along the edge's axis), ``accurate``, and per score
    a column that ``confidence.ranking`` ranks as its own: err_px and size (small first), conf
    (high first), and each head as ``1 - P`` (so a high P ranks first)."""
    import pandas as pd

    d = pd.DataFrame(
        {
            "size": cases["side"].reshape(-1),
            "accurate": cases["accurate"].reshape(-1),
            "err_px": cases["err_px"].reshape(-1),
            "conf": cases["conf"].reshape(-1),
        }
    )
    for name, p in heads.items():
        d[name] = 1.0 - np.asarray(p).reshape(-1)
    return d


def _ranking(d, score: str) -> np.ndarray:
    return d[score].to_numpy() if score == "conf" else -d[score].to_numpy()


def auroc_table(cases: dict, heads: dict, n_boot: int = 1000, seed: int = 0):
    """Per score (baselines, then ``heads``: name -> (n, 4) P(within 1 px)): AUROC and within-size
    AUROC with 95% intervals over photographs (every edge of a drawn photograph comes with it), and
    the within-size difference from err_px with its interval."""
    import pandas as pd

    d = cases_frame(cases, heads)
    pos = d.accurate.to_numpy()
    ones = np.ones((1, len(d)))
    weights = photo_weights(cases["photo"].reshape(-1), n_boot, seed)
    scores = [*BASELINES, *heads]
    within_boot, rows = {}, {}
    for s in scores:
        rank = _ranking(d, s)  # as within_size ranks (confidence.ranking): conf high first, the rest small first
        w_point = float(within_size(d, s, ones)[0])
        w_boot = within_size(d, s, weights)
        within_boot[s] = w_boot
        lo, hi = percentile_interval(weighted_auroc(rank, pos, weights))
        wlo, whi = percentile_interval(w_boot)
        rows[s] = {
            "auroc": float(weighted_auroc(rank, pos, ones)[0]),
            "lo": float(lo),
            "hi": float(hi),
            "within_size": w_point,
            "within_lo": float(wlo),
            "within_hi": float(whi),
        }
    for s in scores:
        dlo, dhi = percentile_interval(within_boot[s] - within_boot["err_px"])
        rows[s].update(
            vs_err_px=rows[s]["within_size"] - rows["err_px"]["within_size"], vs_lo=float(dlo), vs_hi=float(dhi)
        )
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.attrs.update(edges=len(d), accurate=float(pos.mean()), photos=len(np.unique(cases["photo"])))
    return out


def deciles(predicted: np.ndarray, observed: np.ndarray, n_bins: int = 10):
    """Edges in ``n_bins`` equal-count bins of ``predicted``: its mean and ``observed``'s mean per
    bin, and their relative difference (predicted / observed - 1)."""
    import pandas as pd

    p, o = np.asarray(predicted, float).reshape(-1), np.asarray(observed, float).reshape(-1)
    b = pd.qcut(pd.Series(p).rank(method="first"), n_bins, labels=False).to_numpy()
    g = pd.DataFrame({"bin": b, "predicted": p, "observed": o}).groupby("bin").mean()
    g["relative"] = g.predicted / g.observed - 1
    return g


def _worst(g) -> float:
    """The decile whose mean prediction misses most, relatively (signed)."""
    return float(g.relative.iloc[int(np.argmax(np.abs(g.relative.to_numpy())))])


def fit_heads(train: dict, cal: dict | None, specs, info: dict) -> dict:
    """Every spec fitted three ways (``FITS``; without calibration cases, on the training ones only):
    name@fit -> head."""
    from ..snap.quality import fit_head, recalibrate

    heads = {}
    for spec in specs:
        heads[f"{spec.name}@train"] = fit_head(spec, train, train["accurate"], {**info, "fit": "train"})
        if cal is not None:
            both = {k: np.concatenate([train[k], cal[k]]) for k in train}
            heads[f"{spec.name}@train+cal"] = fit_head(spec, both, both["accurate"], {**info, "fit": "train+cal"})
            h = fit_head(spec, train, train["accurate"], {**info, "fit": "train|cal"})
            heads[f"{spec.name}@train|cal"] = recalibrate(h, cal, cal["accurate"])
    return heads


def _fmt(a, s: str) -> list[tuple[str, str]]:
    r = a.loc[s]
    return (
        f"{r.auroc:.3f} [{r.lo:.3f}, {r.hi:.3f}]",
        f"{r.within_size:.3f} [{r.within_lo:.3f}, {r.within_hi:.3f}]",
        "" if s == "err_px" else f"{r.vs_err_px:+.3f} [{r.vs_lo:+.3f}, {r.vs_hi:+.3f}]",
    )


def print_auroc(title: str, a, worst: dict | None = None) -> None:
    """The table; ``worst``: score -> its worst decile's relative calibration error, shown last."""
    names, worst = list(a.index), worst or {}
    width = max(len(BASELINES.get(n, n)) for n in names)
    print(title)
    head = f"  {'score':<{width}}  {'AUROC [95%]':<22}  {'within-size [95%]':<22}  {'within-size vs err_px [95%]':<27}"
    print(head + "  worst decile")
    for s in names:
        auc, within, vs = _fmt(a, s)
        w = f"{worst[s]:+.1%}" if s in worst else ""
        print(f"  {BASELINES.get(s, s):<{width}}  {auc:<22}  {within:<22}  {vs:<27}  {w}")


def print_deciles(title: str, g, pct: bool = False) -> None:
    print(title)
    print(f"  {'decile':<6}  {'predicted':>9}  {'observed':>9}  {'relative':>8}")
    for b, r in g.iterrows():
        f = "{:9.3f}" if pct else "{:9.2f}"
        print(f"  {b + 1:<6}  {f.format(r.predicted)}  {f.format(r.observed)}  {r.relative:+8.1%}")


def run(args) -> dict:
    import torch

    from ..args import config_from_args
    from ..core.config import Config
    from ..data.dataset import load_boxes
    from ..model.checkpoint import load_model, read_checkpoint
    from ..snap.quality import ACCURATE_PX, HEADS, head_info, jittered_cases, load_head, save_head
    from ..snap.shipped import checkpoint_or_shipped
    from ..util.device import resolve_device

    cfg = config_from_args(args)
    path = checkpoint_or_shipped(args.checkpoint)
    device = resolve_device(args.device or cfg.eval.device)
    model = load_model(path, device)
    trained = Config.from_dict(read_checkpoint(path)["config"]).data  # the model's own training photographs
    seed, draws, progress = cfg.eval.seed, cfg.eval.repeats, not args.no_progress
    info = machine(device)

    specs = [s for s in HEADS if not args.heads or s.name in args.heads]
    if args.heads and len(specs) != len(args.heads):
        raise ValueError(
            f"--heads: unknown {sorted(set(args.heads) - {s.name for s in specs})}; HEADS has {[s.name for s in HEADS]}"
        )
    stored = Path(args.head) if args.head else None
    stored_head = load_head(stored) if stored is not None else None
    # the mirrored crop's forward only where a head reads it
    mirror = any(s.flip for s in specs) if args.fit else False
    mirror = mirror or (stored_head is not None and stored_head.spec.flip)

    def cases(annotations, images, n_draws, what):
        coco = load_boxes(annotations, images, cfg.data, verbose=False)
        if coco.n_boxes == 0:
            raise ValueError(f"{annotations}: no boxes")
        if progress:
            print(f"{what}: {coco.n_boxes} boxes x {n_draws} draws ({annotations})", flush=True)
        return jittered_cases(coco, cfg, model, n_draws, seed, progress, mirror)

    heads: dict = {}
    if args.fit:
        train_ann, train_img = args.train or (trained.train_annotations, trained.train_images)
        cal_ann, cal_img = args.calibration or (trained.calibration.annotations, trained.calibration.images)
        train = cases(train_ann, train_img, args.train_draws, "training photographs")
        cal = cases(cal_ann, cal_img, args.calibration_draws, "calibration photographs") if cal_ann else None
        fitted_on = head_info(model, train_ann, args.train_draws, seed)
        if cal is not None:
            fitted_on["calibration"] = {"annotations": str(cal_ann), "jitter_draws": args.calibration_draws}
        torch.manual_seed(0)
        heads = fit_heads(train, cal, specs, fitted_on)
    if stored_head is not None:
        heads["stored head"] = stored_head

    result = {"benchmark": "quality", "checkpoint": str(path), "sets": {}, "machine": info, "args": args_dict(args)}
    best = None
    order = sorted(cfg.eval.sets.items(), key=lambda kv: kv[1].get("role") == "test")  # validation first
    for name, s in order:
        if args.eval_set and name not in args.eval_set:
            continue
        c = cases(s["annotations"], s["images"], draws, f"{name} ({s.get('role', 'validation')})")
        p = {h: head.predict(c) for h, head in heads.items()}
        a = auroc_table(c, p, args.n_boot, args.boot_seed)
        role = s.get("role", "validation")
        err = deciles(c["err_px"], c["abs_err"])
        worst = {"err_px": _worst(err)} | {h: _worst(deciles(v, c["accurate"])) for h, v in p.items()}
        print_auroc(
            f"\n{name} ({role}): {a.attrs['edges']} edges ({a.attrs['photos']} photographs, {draws} draws), "
            f"{a.attrs['accurate']:.1%} within 1 px; within-size: mean over {SIZE_BINS} bins of box side "
            f"(aim {WITHIN_SIZE_AIM:.2f})",
            a,
            worst,
        )
        print(
            "  worst decile: the largest relative miss of the mean prediction per decile (err_px: mean predicted vs "
            "observed absolute error; a head: mean P vs the observed share within 1 px)"
        )
        print_deciles(f"{name}: err_px per decile, mean predicted vs observed absolute error (px)", err)
        if (
            best is None and p and role != "test"
        ):  # the head shown per decile: chosen on validation, never on the test set
            w = a.drop(list(BASELINES)).within_size  # NaN where a set is too small for every bin to hold both kinds
            best = "stored head" if stored_head is not None else (w.idxmax() if w.notna().any() else w.index[0])
        entry = {
            "role": role,
            "auroc": a.to_dict(orient="index"),
            "attrs": a.attrs,
            "worst_decile": worst,
            "err_px_deciles": err.to_dict(),
        }
        # bbadj snap's probability rule on err_px: Laplace errors, P(|error| < 1 px) = 1 - exp(-1 / err_px)
        laplace = deciles(1 - np.exp(-ACCURATE_PX / c["err_px"]), c["accurate"])
        print_deciles(f"{name}: err_px's Laplace P(within 1 px) per decile vs observed share", laplace, True)
        entry["laplace_deciles"] = laplace.to_dict()
        if best:
            cal_p = deciles(p[best], c["accurate"])
            print_deciles(f"{name}: {best}, per decile, mean predicted P(within 1 px) vs observed share", cal_p, True)
            entry["head_deciles"] = {"head": best, **cal_p.to_dict()}
        result["sets"][name] = entry
    if args.write_head:
        if args.write_head_from not in heads:
            raise ValueError(f"--write-head: no head {args.write_head_from!r} here (fitted: {sorted(heads)})")
        save_head(heads[args.write_head_from], args.write_head)
        print(f"\nwrote {args.write_head_from} to {args.write_head}")
    result["heads"] = {h: {"spec": dataclasses.asdict(v.spec), "info": v.info} for h, v in heads.items()}
    return result


def cmd_quality(args) -> int:
    set_threads(args)
    if not args.fit and not args.head:
        raise SystemExit("bbadj bench quality: nothing to score; give --fit, --head or both")
    result = run(args)
    write_result(result, args.out)
    m = result["machine"]
    print_table(
        "\nmachine",
        [("cpu", m["cpu"]), ("torch threads", m["torch_threads"]), ("load before", m["load_avg_1m_before"])],
    )
    return 0


def add_parser(sub) -> None:
    q = sub.add_parser("quality", help="per-edge quality heads against err_px and box size (within 1 px, AUROC)")
    q.add_argument("--checkpoint", help="a bbadj model (default: the shipped one)")
    q.add_argument("--head", help="a stored quality head to score (bbadj.snap.quality.save_head)")
    q.add_argument("--fit", action="store_true", help="fit every head of bbadj.snap.quality.HEADS and score them")
    q.add_argument("--heads", nargs="+", help="with --fit: only these heads (names of HEADS)")
    q.add_argument(
        "--train",
        nargs=2,
        metavar=("ANNOTATIONS", "IMAGES"),
        help="with --fit: the photographs to fit on (default: the model's own training photographs, from its file)",
    )
    q.add_argument(
        "--calibration",
        nargs=2,
        metavar=("ANNOTATIONS", "IMAGES"),
        help="with --fit: the held-out photographs to recalibrate on (default: the model's data.calibration)",
    )
    q.add_argument("--train-draws", type=int, default=4, help="jitter draws of the training photographs")
    q.add_argument("--calibration-draws", type=int, default=10, help="jitter draws of the calibration photographs")
    q.add_argument("--eval-set", nargs="+", help="only these of eval.sets (default: all, validation first)")
    q.add_argument("--n-boot", type=int, default=1000, help="photograph resamples for the intervals")
    q.add_argument("--boot-seed", type=int, default=0)
    q.add_argument("--write-head", help="store the head --write-head-from here (JSON)")
    q.add_argument("--write-head-from", default="all-mlp@train+cal", help="which fitted head --write-head stores")
    q.add_argument("--device", help="default: eval.device")
    add_common_args(q)
    q.set_defaults(func=cmd_quality)

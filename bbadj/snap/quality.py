"""A per-edge quality head: P(edge within 1 px) from the model's distribution over positions
(issue 33, part 3). err_px, the distribution's spread times one fitted scale, ranks the edges of
boxes of one size only modestly; Generalized Focal Loss V2 reads a box's quality off the shape of
its edge distributions instead (the top-k probabilities of each edge and their mean). Here a tiny
model (logistic regression or a one-hidden-layer MLP) maps such features of one edge to the
probability that it lands within 1 px, trained on jittered boxes of photographs (never of an
evaluation set). ``bbadj bench quality`` measures every head against err_px and box size.

The head is data: a ``HeadSpec`` (its features and settings) and its fitted weights, stored as
one small JSON beside the model it reads (``save_head``, ``load_head``). It is not part of
``bbadj.snap``'s import tree (the study's pipeline never reads it): ``edge_quality`` is the call.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from ..core.box_ops import EDGE_COORDS, COORDS, crop_windows, image_bounds, position_size
from ..data.dataset import draw_eval_jitter
from ..model.decoders import Laplace
from ..model.decoding import _over_positions  # the same positions, before decode_edges sorts each pair
from ..core.registry import DECODINGS
from ..util.errors import DataError
from .shipped import WEIGHTS

SHIPPED_HEAD = WEIGHTS / "l4-long.quality.json"  # the shipped model's head (docs/quality.md: what it was fitted on)
ACCURATE_PX = 1.0  # "edge within 1 px", the paper's finest edge metric (as bbadj.analysis.confidence)
FORMAT = "bbadj-quality-head/1"
EDGE_COLUMNS = [COORDS.index(c) for c in EDGE_COORDS.values()]  # EDGES order from a box's coordinates

# every feature a head may read, per edge (in EDGES order, after decode_edges' sorting)
FEATURES = {
    "top": "the k largest probabilities of the edge's distribution, largest first (GFL V2)",
    "top_mean": "their mean (GFL V2)",
    "conf": "the probability mass within `window` positions of the peak (the model's confidence)",
    "log_err_px": "log of err_px, the expected absolute error in image pixels (spread x px per position x err_scale)",
    "mass_1px": "the probability mass within 1 image pixel of the decoded position (bins as intervals)",
    "log_px_per_pos": "log of the image pixels one crop position spans",
    "log_side": "log of the rough box's side along the edge's axis, px",
    "log_border_px": "log(1 + distance of the decoded edge from the image's border, px)",
    "box_log_err_px": "the mean log err_px of the box's four edges (GFL V2 reads all four)",
    # a second forward, on the crop mirrored left-right (training mirrors crops, so the model knows the view)
    "log_flip_gap_px": "log(0.1 + |position - the mirrored crop's position| px): how much two views disagree",
    "flip_log_err_px": "log err_px of the mirrored crop's distribution",
}
FLIP_FEATURES = ("log_flip_gap_px", "flip_log_err_px")  # these need the mirrored crop's forward (twice the cost)


@dataclasses.dataclass(frozen=True)
class HeadSpec:
    """One head: which features (keys of ``FEATURES``; ``top`` gives ``k`` columns), hidden units
    (0: logistic regression), and how it is fitted (full-batch Adam on the standardised features,
    binary cross-entropy, ``weight_decay`` on the weights)."""

    name: str
    features: tuple[str, ...]
    k: int = 4
    hidden: int = 0
    steps: int = 500
    lr: float = 0.03
    weight_decay: float = 1e-3
    seed: int = 0

    def __post_init__(self):
        unknown = [f for f in self.features if f not in FEATURES]
        if unknown or not self.features:
            raise ValueError(f"head {self.name!r}: features must be some of {list(FEATURES)}, got {self.features}")
        if self.k < 1 or self.hidden < 0 or self.steps < 1:
            raise ValueError(f"head {self.name!r}: k >= 1, hidden >= 0 and steps >= 1, got {self}")

    @property
    def flip(self) -> bool:
        """Whether the head reads the mirrored crop (a second forward)."""
        return any(f in FLIP_FEATURES for f in self.features)

    def columns(self) -> list[str]:
        return [c for f in self.features for c in ([f"top{i + 1}" for i in range(self.k)] if f == "top" else [f])]


# the heads `bbadj bench quality` tries, each fitted on the same edges
HEADS = (
    HeadSpec("size+err_px", ("log_err_px", "log_side")),
    HeadSpec("mass_1px", ("mass_1px",)),
    HeadSpec("gfl", ("top", "top_mean", "log_px_per_pos"), hidden=16),
    HeadSpec("gfl+err_px", ("top", "top_mean", "log_err_px", "log_side"), hidden=16),
    HeadSpec("all-logistic", tuple(f for f in FEATURES if f not in FLIP_FEATURES)),
    HeadSpec("all-mlp", tuple(f for f in FEATURES if f not in FLIP_FEATURES), hidden=16),
    HeadSpec("err_px+flip", ("log_err_px", "log_side", *FLIP_FEATURES)),
    HeadSpec("all+flip-mlp", tuple(FEATURES), hidden=16),
)


# ------------------------------------------------------------------ features


def edge_features(
    logits: torch.Tensor,
    windows,
    image_wh,
    buffer_ratio: float,
    err_scale: float = 1.0,
    decoding: str = "subpixel",
    window: int = 2,
    k: int = 4,
    mirrored: torch.Tensor | None = None,
) -> dict[str, np.ndarray]:
    """Every feature of ``FEATURES`` for the crops' logits (N, 4, S) cut from ``windows`` (N, 4) of
    images of size ``image_wh`` ((W, H) or (N, 2)), each window its rough box's sides times
    ``buffer_ratio``: name -> (N, 4) array in EDGES order (``top``:
    (N, 4, k)), each edge's features following it where ``decode_edges`` swaps a crossed pair.
    Also ``pos`` (decoded positions) and ``err_px``, as ``predict_windows`` gives them. The
    ``FLIP_FEATURES`` need ``mirrored``: the logits of the same crops mirrored left-right
    (``unmirror`` brings them back to the crops' frame); without it they are left out."""
    if isinstance(logits, Laplace):
        raise ValueError("the quality head reads a distribution over positions; this model predicts a Laplace")
    logits = torch.as_tensor(logits).float()
    N, _, S = logits.shape
    if k > S:
        raise ValueError(f"k = {k} exceeds the {S} positions of a crop")
    windows = torch.as_tensor(windows, dtype=torch.float64)
    lo, hi = image_bounds(windows, image_wh, S)
    pos, conf, spread = _over_positions(logits, DECODINGS.get(decoding), window, (lo, hi))
    prob = torch.softmax(logits, dim=-1).double()
    pp = position_size(windows, S)  # image px per position, (N, 4)
    err_px = spread.double() * pp * err_scale
    # mass within 1 px: each position's bin [i - 1/2, i + 1/2] overlapping [pos - r, pos + r], r = 1 px in positions
    grid = torch.arange(S, dtype=torch.float64)
    r = (ACCURATE_PX / pp)[..., None]
    d = (grid - pos.double()[..., None]).abs()
    overlap = (torch.minimum(d + 0.5, r) - torch.maximum(d - 0.5, -r)).clamp(min=0.0, max=1.0)
    mass = (prob * overlap).sum(-1)
    top = prob.topk(k, dim=-1).values
    # the decoded edge's distance from the image's border, px
    border = torch.minimum(pos.double() - lo, hi - pos.double()).clamp(min=0.0) * pp
    side = (windows[:, 2:] - windows[:, :2])[:, [1, 1, 0, 0]] / buffer_ratio  # the rough box's, along each axis
    eps = 1e-6
    feats = {
        "top": top,
        "top_mean": top.mean(-1),
        "conf": conf.double(),
        "log_err_px": (err_px + eps).log(),
        "mass_1px": mass,
        "log_px_per_pos": pp.log(),
        "log_side": side.log(),
        "log_border_px": border.log1p(),
        "pos": pos.double(),
        "err_px": err_px,
    }
    feats["box_log_err_px"] = feats["log_err_px"].mean(-1, keepdim=True).expand(N, 4)
    if mirrored is not None:
        m_pos, _, m_spread = _over_positions(
            unmirror(torch.as_tensor(mirrored)), DECODINGS.get(decoding), window, (lo, hi)
        )
        feats["log_flip_gap_px"] = ((pos.double() - m_pos.double()).abs() * pp + 0.1).log()
        feats["flip_log_err_px"] = (m_spread.double() * pp * err_scale + eps).log()
    # decode_edges sorts (top, bottom) and (left, right) by position: the features follow their edge
    order = pos.view(-1, 2, 2).argsort(dim=-1)
    out = {}
    for name, t in feats.items():
        if t.ndim == 3:
            idx = order[..., None].expand(-1, -1, -1, t.shape[-1])
            out[name] = t.reshape(N, 2, 2, -1).gather(2, idx).reshape(N, 4, -1).numpy()
        else:
            out[name] = t.reshape(N, 2, 2).gather(-1, order).reshape(N, 4).numpy()
    return out


def unmirror(logits: torch.Tensor) -> torch.Tensor:
    """Logits (N, 4, S) of crops mirrored left-right -> the same distributions in the unmirrored
    crops' frame: top and bottom as they are, the mirrored crop's left edge at position q is the
    right edge at S - 1 - q, and its right edge the left one (as ``data.dataset.mirror`` maps the
    targets)."""
    return torch.cat([logits[:, :2], logits[:, [3, 2]].flip(-1)], dim=1)


def feature_matrix(feats: dict[str, np.ndarray], spec: HeadSpec) -> np.ndarray:
    """(N * 4, columns) of ``spec``'s features, edges of a box consecutive in EDGES order."""
    cols = []
    for f in spec.features:
        v = feats[f]
        if f == "top":
            if v.shape[-1] < spec.k:
                raise ValueError(
                    f"head {spec.name!r} reads the top {spec.k} probabilities; the features have {v.shape[-1]}"
                )
            cols.extend(v[..., i].reshape(-1) for i in range(spec.k))
        else:
            cols.append(v.reshape(-1))
    return np.stack(cols, axis=1).astype(np.float64)


# ------------------------------------------------------------------ the head


class QualityHead(torch.nn.Module):
    """Standardised features -> logit of P(edge within 1 px): a linear layer, or one hidden layer of
    ``spec.hidden`` ReLU units. ``info`` says what it was fitted on."""

    def __init__(self, spec: HeadSpec, mean: np.ndarray, std: np.ndarray, info: dict | None = None):
        super().__init__()
        self.spec, self.info = spec, dict(info or {})
        n = len(spec.columns())
        if len(mean) != n or len(std) != n:
            raise ValueError(f"head {spec.name!r}: {n} columns, but {len(mean)} means and {len(std)} scales")
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float64))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float64))
        torch.manual_seed(spec.seed)
        self.net = (
            torch.nn.Linear(n, 1)
            if spec.hidden == 0
            else torch.nn.Sequential(torch.nn.Linear(n, spec.hidden), torch.nn.ReLU(), torch.nn.Linear(spec.hidden, 1))
        ).double()
        # a recalibration of the logit fitted afterwards on other boxes (Platt's a * z + b); identity until then
        self.register_buffer("platt", torch.tensor([1.0, 0.0], dtype=torch.float64))

    def logit(self, x) -> torch.Tensor:
        z = self.net((torch.as_tensor(x, dtype=torch.float64) - self.mean) / self.std)[:, 0]
        return self.platt[0] * z + self.platt[1]

    @torch.no_grad()
    def predict(self, feats: dict[str, np.ndarray]) -> np.ndarray:
        """P(edge within 1 px), (N, 4), from ``edge_features``' output."""
        x = feature_matrix(feats, self.spec)
        n = len(feats["pos"])
        return torch.sigmoid(self.logit(x)).reshape(n, 4).numpy()


def fit_head(
    spec: HeadSpec, feats: dict[str, np.ndarray], accurate: np.ndarray, info: dict | None = None
) -> QualityHead:
    """A head of ``spec`` fitted to ``accurate`` ((N, 4) booleans: the edge within 1 px)."""
    x = feature_matrix(feats, spec)
    y = torch.as_tensor(np.asarray(accurate, dtype=np.float64).reshape(-1))
    if len(y) != len(x):
        raise ValueError(f"{len(x)} edges of features, {len(y)} labels")
    if y.min() == y.max():
        raise ValueError("every edge has the same label: nothing to rank")
    std = x.std(0)
    head = QualityHead(spec, x.mean(0), np.where(std > 0, std, 1.0), info)
    xt = torch.as_tensor(x)
    decay = [p for n, p in head.net.named_parameters() if n.endswith("weight")]
    rest = [p for n, p in head.net.named_parameters() if not n.endswith("weight")]
    opt = torch.optim.Adam([{"params": decay, "weight_decay": spec.weight_decay}, {"params": rest}], lr=spec.lr)
    for _ in range(spec.steps):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head.logit(xt), y)
        loss.backward()
        opt.step()
    head.info.setdefault("edges", len(y))
    head.info.setdefault("accurate_share", float(y.mean()))
    return head.eval()


def recalibrate(head: QualityHead, feats: dict[str, np.ndarray], accurate: np.ndarray, steps: int = 300) -> QualityHead:
    """Fit Platt's scale and offset of the head's logit on other boxes (its ranking unchanged for a
    positive scale): a head fitted on the training photographs is surer than new photographs allow."""
    head.platt.copy_(torch.tensor([1.0, 0.0], dtype=torch.float64))
    with torch.no_grad():
        z = head.logit(feature_matrix(feats, head.spec))
    y = torch.as_tensor(np.asarray(accurate, dtype=np.float64).reshape(-1))
    ab = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([ab], max_iter=steps)

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(ab[0] * z + ab[1], y)
        loss.backward()
        return loss

    opt.step(closure)
    head.platt.copy_(ab.detach())
    return head


# ------------------------------------------------------------------ the stored head


def save_head(head: QualityHead, path: str | Path) -> None:
    """The head as JSON: its spec, standardisation, weights, Platt's recalibration and ``info``."""
    state = {k: v.tolist() for k, v in head.state_dict().items()}
    doc = {"format": FORMAT, "spec": dataclasses.asdict(head.spec), "state": state, "info": head.info}
    Path(path).write_text(json.dumps(doc, indent=1) + "\n")


def load_head(path: str | Path) -> QualityHead:
    """A head written by ``save_head``; a clear error for another file."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{path}: not a readable quality head ({e})") from e
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DataError(f"{path}: not a quality head (format {FORMAT!r} expected)")
    spec = doc["spec"]
    spec = HeadSpec(**{**spec, "features": tuple(spec["features"])})
    state = {k: torch.tensor(v, dtype=torch.float64) for k, v in doc["state"].items()}
    head = QualityHead(spec, state["mean"].numpy(), state["std"].numpy(), doc.get("info"))
    head.load_state_dict(state)
    return head.eval()


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def head_info(model, annotations: str, draws: int, seed: int) -> dict:
    """What a head was fitted on, stored with it."""
    ckpt = getattr(model, "checkpoint", None)
    return {
        "model": Path(ckpt).name if ckpt else None,  # the file's name and digest: the same model wherever installed
        "model_sha256": sha256(ckpt) if ckpt and Path(ckpt).is_file() else None,
        "annotations": str(annotations),
        "jitter_draws": draws,
        "jitter_seed": seed,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
    }


# ------------------------------------------------------------------ the model's logits


class _Recording(torch.nn.Module):
    """The model, unchanged, keeping every output of its forward: ``adjust`` and ``adjust_boxes``
    run it once and the head reads the same logits they decoded."""

    def __init__(self, model, mirror: bool = False):
        super().__init__()
        self.inner, self.mirror = model, mirror
        self.geometry = getattr(model, "geometry", None)
        self.err_scale = getattr(model, "err_scale", 1.0)
        self.outputs: list[torch.Tensor] = []
        self.mirrored: list[torch.Tensor] = []

    def forward(self, x):
        out = self.inner(x)
        if isinstance(out, Laplace):
            raise ValueError("the quality head reads a distribution over positions; this model predicts a Laplace")
        self.outputs.append(out.detach().float().cpu())
        if self.mirror:
            self.mirrored.append(self.inner(x.flip(-1)).detach().float().cpu())
        return out

    def logits(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The logits of every crop seen, in order, and those of the mirrored crops (or None)."""
        if not self.outputs:
            raise ValueError("the model saw no crops")
        return torch.cat(self.outputs), torch.cat(self.mirrored) if self.mirror else None


def edge_quality(image, boxes, model, head: QualityHead, **kwargs) -> dict[str, np.ndarray]:
    """``bbadj.adjust(image, boxes, model, **kwargs)``'s result, the same boxes, confidences and
    err_px, with ``p_within_1px`` (N, 4): the head's probability that each snapped edge lies within
    1 px of the true edge (EDGES order). One forward, as ``adjust``'s."""
    from .adjust import _as_rgb_tensor, adjust
    from ..core.config import EvalConfig

    rec = _Recording(model, head.spec.flip)
    out = adjust(image, boxes, rec, **kwargs)
    logits, mirrored = rec.logits()
    img = _as_rgb_tensor(image)
    g = model.geometry.with_buffer_ratio(kwargs.get("buffer_ratio"))
    rough = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    window = kwargs.get("window")
    feats = edge_features(
        logits,
        crop_windows(rough, g.buffer_ratio),
        (img.shape[2], img.shape[1]),
        g.buffer_ratio,
        getattr(model, "err_scale", 1.0),
        kwargs.get("decoding") or EvalConfig.decoding,
        EvalConfig.window if window is None else window,
        head.spec.k,
        mirrored,
    )
    return {**out, "p_within_1px": head.predict(feats)}


def jittered_cases(
    coco, cfg, model, draws: int, seed: int, progress: bool = False, mirror: bool = True
) -> dict[str, np.ndarray]:
    """Every box of ``coco`` in ``draws`` jitter draws of the evaluation's protocol (``seed``; draw
    k as the evaluation's draw k), snapped as ``adjust_boxes`` snaps them: the features of each edge,
    and ``abs_err`` (px), ``accurate`` (within 1 px), ``side`` (the rough box's side along the edge's
    axis, px, as the study's confidence analysis sizes it) and ``photo`` (image id), all (n, 4).
    ``mirror``: the mirrored crops' features too (a second forward)."""
    from .adjust import adjust_boxes

    if cfg.eval.passes != 1:
        raise ValueError(f"eval.passes = {cfg.eval.passes}: the quality head reads one pass's distributions")
    gt = torch.as_tensor(coco.all_boxes())[:, EDGE_COLUMNS]
    photo = np.concatenate([np.full(len(r.boxes), r.image_id) for r in coco.images])
    wh = np.concatenate([np.tile([r.width, r.height], (len(r.boxes), 1)) for r in coco.images])
    parts = []
    for k in range(draws):
        jittered = draw_eval_jitter(coco, cfg.data, seed, k)
        rec = _Recording(model, mirror)
        pred, _, err_px = adjust_boxes(coco, jittered, cfg, rec, model.geometry, progress, f"draw {k + 1}/{draws}")
        rough = np.concatenate(jittered)
        logits, mirrored = rec.logits()
        feats = edge_features(
            logits,
            crop_windows(rough, model.geometry.buffer_ratio),
            wh,
            model.geometry.buffer_ratio,
            getattr(model, "err_scale", 1.0),
            cfg.eval.decoding,
            cfg.eval.window,
            mirrored=mirrored,
        )
        if not np.allclose(feats["err_px"], err_px.numpy(), rtol=1e-4, atol=1e-6):
            raise RuntimeError("the features' err_px differ from adjust_boxes': the logits are out of order")
        abs_err = (pred[:, EDGE_COLUMNS] - gt).abs().numpy()
        side = (rough[:, 2:] - rough[:, :2])[:, [1, 1, 0, 0]]
        parts.append(
            {
                **feats,
                "abs_err": abs_err,
                "accurate": abs_err < ACCURATE_PX,
                "side": side,
                "photo": np.repeat(photo[:, None], 4, 1),
            }
        )
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}

"""An independent recomputation of the committed verdicts: from the per-box files alone, with
plain numpy and pandas (none of bbadj's metrics, statistics or comparisons code; bbadj.core.params
only for which rows are compared and which files hold a row's seeds), each difference, its interval
over resampled photographs with the seeds' variance added, Holm's correction and the verdict,
checked against reports/comparisons.csv and reports/long/comparisons.csv: the differences to 0.01
point, the intervals' widths to 20% (another bootstrap), and every clear-cut verdict (adjusted p
below 0.01 or above 0.2) the same."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from bbadj.core.params import Params
from bbadj.analysis.stats import reruns  # which rows are seeds of one recipe: the study's structure

ROOT = Path(__file__).resolve().parents[1]
TIERS = {"default": ROOT / "reports", "long": ROOT / "reports" / "long"}
SHARED = ROOT / "reports"  # identity and GrabCut: the default tier's files
N_BOOT, SEED = 2000, 12345  # another bootstrap than the report's


def per_case(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each line's cases for the six metrics, written anew: IoU (1 case), edges (4), corners (4)."""
    a = df[["adj_x0", "adj_y0", "adj_x1", "adj_y1"]].to_numpy(float)
    g = df[["gt_x0", "gt_y0", "gt_x1", "gt_y1"]].to_numpy(float)
    iw = np.clip(np.minimum(a[:, 2], g[:, 2]) - np.maximum(a[:, 0], g[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], g[:, 3]) - np.maximum(a[:, 1], g[:, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1]) - inter
    iou = (inter / union)[:, None]
    edge = np.abs(a - g)
    corners = [(0, 1), (2, 1), (0, 3), (2, 3)]
    corner = np.stack([np.hypot(a[:, x] - g[:, x], a[:, y] - g[:, y]) for x, y in corners], 1)
    return {
        "miou": iou,
        "iou90": (iou > 0.9) * 1.0,
        "edge1": (edge < 1) * 1.0,
        "edge3": (edge < 3) * 1.0,
        "corner1": (corner < 1) * 1.0,
        "corner3": (corner < 3) * 1.0,
    }


def reach(df: pd.DataFrame, ratio: float) -> dict[str, np.ndarray]:
    """Each line's cases inside the crop at ``ratio``, written anew."""
    j = df[["jit_x0", "jit_y0", "jit_x1", "jit_y1"]].to_numpy(float)
    g = df[["gt_x0", "gt_y0", "gt_x1", "gt_y1"]].to_numpy(float)
    c = np.c_[(j[:, 0] + j[:, 2]) / 2, (j[:, 1] + j[:, 3]) / 2]
    h = np.c_[(j[:, 2] - j[:, 0]) * ratio / 2, (j[:, 3] - j[:, 1]) * ratio / 2]
    ok = np.stack([np.abs(g[:, i] - c[:, i % 2]) <= h[:, i % 2] + 1e-9 for i in range(4)], 1)
    corners = np.stack([ok[:, x] & ok[:, y] for x, y in [(0, 1), (2, 1), (0, 3), (2, 3)]], 1)
    box = ok.all(1, keepdims=True)
    return {
        "miou": box,
        "iou90": box,
        "edge1": ok,
        "edge3": ok,
        "corner1": corners,
        "corner3": corners,
    }


class Tier:
    """One tier's files: each row's per-box lines, every seed."""

    def __init__(self, tier: str):
        self.params = Params.load(ROOT / "params.yaml", tier=tier)
        self.folder = TIERS[tier]
        self.cache = {}

    def lines(self, row: str, eval_set: str) -> pd.DataFrame:
        parts = []
        for name in reruns(self.params, row) if self.params[row].trained else [row]:
            path = (SHARED if name in ("identity", "grabcut") else self.folder) / "per_box" / name / f"{eval_set}.csv"
            df = pd.read_csv(path)
            offset = self.params[name].config.train.seed - self.params[row].config.train.seed
            df["seed"] = (df["seed"] if "seed" in df else 0) + offset
            parts.append(df)
        return pd.concat(parts, ignore_index=True)

    def sums(self, row: str, eval_set: str, ratio: float | None = None):
        """Per metric: per seed and photograph, the sum of successes and the count of cases."""
        if (row, eval_set, ratio) not in self.cache:
            self.cache[(row, eval_set, ratio)] = self._sums(row, eval_set, ratio)
        return self.cache[(row, eval_set, ratio)]

    def _sums(self, row: str, eval_set: str, ratio: float | None):
        df = self.lines(row, eval_set)
        cases = per_case(df)
        inside = reach(df, ratio) if ratio else {k: np.ones_like(v, bool) for k, v in cases.items()}
        out = {}
        for k, v in cases.items():
            # a box-level metric counts once per box and draw; edges and corners as their share of
            # the box
            weight = inside[k].sum(1) if ratio else np.ones(len(df))
            num = (v * inside[k]).sum(1) / (1 if ratio else v.shape[1])
            t = pd.DataFrame({"seed": df["seed"], "photo": df["image_id"], "num": num, "den": weight})
            out[k] = t.groupby(["seed", "photo"]).sum()
        return out


def difference(tier: Tier, row: str, parent: str, eval_set: str, ratio=None):
    """Per metric: (estimate, bootstrap replicates, seeds' variance terms [(v, df)])."""
    a, b = tier.sums(row, eval_set, ratio), tier.sums(parent, eval_set, ratio)
    p = tier.params
    paired = (
        row not in ("identity", "grabcut")
        and parent not in ("identity", "grabcut")
        and p[row].model_of == p[parent].model_of
    )
    photos = np.sort(a["miou"].index.get_level_values("photo").unique())
    rng = np.random.default_rng(SEED)
    counts = np.stack(
        [np.bincount(rng.integers(0, len(photos), len(photos)), minlength=len(photos)) for _ in range(N_BOOT)]
    )
    out = {}
    for k in a:
        sa, sb = (x[k]["num"].unstack("photo")[photos] for x in (a, b))
        den = a[k]["den"].unstack("photo")[photos].iloc[0].to_numpy()
        if paired:
            common = sorted(set(sa.index) & set(sb.index))
            sa, sb = sa.loc[common], sb.loc[common]
        ma, mb = sa.to_numpy().mean(0), sb.to_numpy().mean(0)
        est = (ma - mb).sum() / den.sum()
        boot = (counts @ (ma - mb)) / (counts @ den)
        terms = []
        if paired:
            d = (sa.to_numpy() - sb.to_numpy()).sum(1) / den.sum()
            if len(d) > 1:
                terms.append((d.var(ddof=1) / len(d), len(d) - 1))
        else:
            for name, s in ((row, sa), (parent, sb)):
                if name in ("identity", "grabcut"):
                    continue
                per_seed = s.to_numpy().sum(1) / den.sum()
                if len(per_seed) > 1:
                    terms.append((per_seed.var(ddof=1) / len(per_seed), len(per_seed) - 1))
                else:
                    terms.append(pooled(tier, eval_set, k))
        out[k] = (est, boot, terms, len(photos))
    return out


def pooled(tier: Tier, eval_set: str, k: str):
    """The seeds' variance of one seed pooled over the trained rows with several seeds."""
    ss, df = 0.0, 0
    for row in tier.params.names("trained"):
        if reruns(tier.params, row)[0] != row:
            continue
        s = tier.sums(row, eval_set)[k]["num"].unstack("photo")
        if len(s) > 1:
            v = s.to_numpy().sum(1) / tier.sums(row, eval_set)[k]["den"].unstack("photo").iloc[0].sum()
            ss, df = ss + (len(v) - 1) * v.var(ddof=1), df + len(v) - 1
    return ss / df, df


def judge(est, boot, terms, n_photos):
    parts = [(boot.var(ddof=1), n_photos - 1), *terms]
    var = sum(v for v, _ in parts)
    df = var**2 / sum(v**2 / d for v, d in parts if v > 0)
    se = np.sqrt(var)
    q = st.t.ppf(0.975, df)
    return 100 * est, 100 * (est - q * se), 100 * (est + q * se), 2 * st.t.sf(abs(est) / se, df)


def holm(p):
    p = np.asarray(p, float)
    order = np.argsort(p)
    adj = np.empty_like(p)
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (len(p) - i) * p[j]))
        adj[j] = running
    return adj


def recompute(tier_name: str, csv: pd.DataFrame) -> pd.DataFrame:
    tier = Tier(tier_name)
    default = Tier("default")
    out = []
    for (s, kind, row, parent), lines in csv.groupby(["set", "kind", "row", "parent"], sort=False):
        ratio = None
        if kind == "reachable":
            ratio = float(lines["note"].iloc[0].split("buffer ")[1].split(";")[0])
        if kind == "two_budgets":
            long, short = difference(tier, row, parent, s), difference(default, row, parent, s)
            d = {
                k: (
                    long[k][0] - short[k][0],
                    long[k][1] - short[k][1],
                    long[k][2] + short[k][2],
                    long[k][3],
                )
                for k in long
            }
        else:
            d = difference(tier, row, parent, s, ratio)
        for k, args in d.items():
            out.append(
                {
                    "set": s,
                    "kind": kind,
                    "row": row,
                    "parent": parent,
                    "metric": k,
                    **dict(zip(("difference", "low", "high", "p"), judge(*args))),
                }
            )
    t = pd.DataFrame(out)
    family = (t["kind"] == "two_budgets").map({True: "budgets", False: "verdicts"}) + t["set"]
    t["p_adjusted"] = t.groupby(family)["p"].transform(lambda p: pd.Series(holm(p.to_numpy()), index=p.index))
    up = t["difference"] > 0
    t["verdict"] = np.where(t["p_adjusted"] < 0.05, np.where(up, "better", "worse"), "inconclusive")
    return t


@pytest.mark.parametrize("tier", list(TIERS))
def test_an_independent_recomputation_agrees_with_comparisons_csv(tier):
    frozen = TIERS[tier] / "params.frozen.yaml"
    if frozen.exists():  # its outputs were made with other settings and the default tier's earlier files
        pytest.skip(f"{frozen.relative_to(ROOT)}: this tier predates params.yaml's study; rerun it to check it")
    path = TIERS[tier] / "comparisons.csv"
    if not path.exists():
        pytest.fail(
            f"{path.relative_to(ROOT)} is missing: the report stage writes it (`bbadj stage report"
            f"{' --tier long' if tier == 'long' else ''}`)"
        )
    csv = pd.read_csv(path)
    mine = recompute(tier, csv).set_index(["set", "kind", "row", "parent", "metric"])
    theirs = csv.set_index(["set", "kind", "row", "parent", "metric"])
    assert set(mine.index) == set(theirs.index)
    both = theirs.join(mine.add_suffix("_mine"))
    assert np.allclose(both["difference"], both["difference_mine"], atol=0.01), "the differences"
    width, mine_width = both["high"] - both["low"], both["high_mine"] - both["low_mine"]
    assert ((mine_width / width).between(0.8, 1.25)).all(), (mine_width / width).describe()
    clear = (both["p_adjusted"] < 0.01) | (both["p_adjusted"] > 0.2)
    disagree = both[clear & (both["verdict"] != both["verdict_mine"])]
    assert disagree.empty, disagree[["difference", "p_adjusted", "p_adjusted_mine", "verdict", "verdict_mine"]]
    assert clear.mean() > 0.5  # most verdicts are clear-cut, so the check has teeth

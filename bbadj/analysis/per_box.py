"""The per-box CSVs the evaluate stages wrote (``reports/per_box/<row>/<set>.csv``, one line per
seed, jitter draw and box: docs/package.md), read back, and the signed edge errors in them."""

from __future__ import annotations

from pathlib import Path

from ..core.box_ops import EDGE_COORDS


def read_per_box(path: str | Path):
    """The file as a DataFrame whose first column is ``seed`` (docs/package.md): a file written
    before rows had seeds holds one model, seed 0."""
    import pandas as pd

    df = pd.read_csv(path)
    if "seed" not in df:
        df.insert(0, "seed", 0)
    return df


def signed_edge_errors(df, which: str = "adj"):
    """Long DataFrame (edge, error) of signed ``which`` - true edge, in pixels (``which``: adj | jit).
    Positive: the edge lies right of / below the true one."""
    import pandas as pd

    parts = [pd.DataFrame({"edge": e, "error": df[f"{which}_{c}"] - df[f"gt_{c}"]}) for e, c in EDGE_COORDS.items()]
    return pd.concat(parts, ignore_index=True)

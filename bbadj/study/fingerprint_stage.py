"""The fingerprint stage (``bbadj fingerprint [--tier long]``), the first stage of each pipeline:
cheap (no torch, about a second), it writes one small JSON per stage of the tier,
``reports/fingerprints/<kind>/<row>.json`` (the long tier's under ``reports/long/``), holding what
that stage's result depends on, and each stage of dvc.yaml depends on its own file instead of on
folders of code, the whole params file and ``data/`` (docs/which-code-trains.md):

- ``config``: the settings that change the stage's result: a trained row's
  (``bbadj.fingerprint.run.comparable_config``) and its seeds; an evaluation's settings and seeds;
  everything, for the report, which names every setting;
- ``data``: the repository's data the stage reads: the annotation files (their contents) and the
  images they name (name and size). What another stage makes (``runs/``: models, the long tier's
  synthetic images) is a DVC dependency of the stage instead, so DVC orders the two;
- ``code``: each file of the code the stage runs (its entry's imports, ``bbadj.util.layout.STAGES``),
  normalised, without the variants the row does not use (``bbadj.fingerprint.code``), and the versions of
  torch, torchvision and timm.

The stage reruns on any edit of the package, the notebooks, params.yaml or the data it lists (its
DVC deps) and rewrites only the files whose content changed, byte for byte the same otherwise: an
edit that changes no stage's inputs reruns no other stage. ``--dry`` says which stages an edit makes
stale, and why, writing nothing.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from functools import lru_cache
from pathlib import Path

from ..fingerprint.code import code_files, libraries
from ..fingerprint.run import comparable_config, data_digest
from ..core.params import BASELINES, GRABCUT, Params
from ..core.tiers import DEFAULT, folders, pipeline
from ..util.layout import STAGES
from ..util.outputs import write_text
from .preflight import StudyError, _hint

FOLDER = "fingerprints"  # in the tier's reports folder


def out_dir(params: Params) -> Path:
    return params.folders.reports / FOLDER


def fingerprints(params: Params, root: str | Path = ".") -> dict[str, dict]:
    """Every stage of ``params``'s tier -> what its result depends on, by the path of its file in
    ``out_dir`` (``train/fpn.json``; ``report.json``). ``root``: the repository (code and data)."""
    root = Path(root)
    out = {}
    if params.names("pretrain"):
        synth = {k: v for k, v in params.raw[params.tier]["synth"].items() if k != "mix"}
        out["synth.json"] = _fingerprint(synth, [], STAGES["synth"], root, None)
        pre = {n: params[n].config for n in params.names("pretrain")}
        out["pretrain.json"] = _fingerprint(
            {n: comparable_config(c.to_dict()) for n, c in pre.items()},
            _training_data(params.base),
            STAGES["pretrain"],
            root,
            params.base.to_dict(),
        )
    for name in params.names("trained"):
        cfg = params[name].config
        config = {
            **comparable_config(cfg.to_dict()),
            "seeds": [params.seed_config(name, k).train.seed for k in params.seeds(name)],
        }
        out[f"train/{name}.json"] = _fingerprint(config, _training_data(cfg), STAGES["train"], root, cfg.to_dict())
    for name in params.names("all"):
        if name in BASELINES and params.tier != DEFAULT:
            continue  # the tiers share the baselines: the default tier scores them
        out[f"evaluate/{name}.json"] = _evaluation(params, name, root)
    out["report.json"] = _fingerprint(params.raw, _eval_data(params.base), STAGES["report"], root, None)
    return out


def _evaluation(params: Params, name: str, root: Path) -> dict:
    """An evaluate stage's: what scores the boxes (the crop at test time, the jitter, the decoding,
    the sets, err_px's calibration), the seeds and the model's row; the model itself is its DVC dep."""
    cfg = params[name].config
    d = cfg.to_dict()
    sets = {s: {k: v for k, v in paths.items() if k != "role"} for s, paths in d["eval"]["sets"].items()}
    if name in BASELINES:
        config = {
            "data": {k: d["data"][k] for k in ("jitter", "skip_crowd", "min_box_size")},
            "eval": {"seed": d["eval"]["seed"], "repeats": d["eval"]["repeats"], "sets": sets},
        }
        if name == GRABCUT:
            config["grabcut"] = dataclasses.asdict(params.grabcut)
        return _fingerprint(config, _eval_data(cfg), STAGES["evaluate"], root, None)
    config = {
        "data": {k: d["data"][k] for k in ("buffer_ratio", "jitter", "skip_crowd", "min_box_size", "calibration")},
        "eval": {**{k: v for k, v in d["eval"].items() if k != "device"}, "sets": sets},
        "model_of": params[name].model_of,
        "seeds": params.seeds(name),
    }
    return _fingerprint(config, _evaluation_data(cfg), STAGES["evaluate"], root, d)


def _training_data(cfg) -> list[tuple[str, str]]:
    d = cfg.data
    return [(d.train_annotations, d.train_images)] + ([(d.mix.annotations, d.mix.images)] if d.mix.fraction > 0 else [])


def _eval_data(cfg) -> list[tuple[str, str]]:
    return [cfg.eval.set_paths(s) for s in cfg.eval.sets]


def _evaluation_data(cfg) -> list[tuple[str, str]]:
    """What an evaluation reads: every set, and the held-out boxes err_px is calibrated on."""
    c = cfg.data.calibration
    return _eval_data(cfg) + ([(c.annotations, c.images)] if c.annotations else [])


def made_by_a_stage(path: str | Path) -> bool:
    """Whether ``path`` is an output of a stage (``runs/``: models, synthetic images): a DVC dep of
    the stages that read it, not part of their fingerprint."""
    return Path(path).parts[:1] == folders().runs.parts


def data_inputs(params: Params) -> list[str]:
    """The repository's data files and image folders the tier's stages read: the fingerprint stage's
    DVC deps besides the code and params.yaml."""
    pairs = [p for n in params.names("trained") + params.names("pretrain") for p in _training_data(params[n].config)]
    pairs += [p for n in params.names("all") for p in _evaluation_data(params[n].config)]
    return list(dict.fromkeys(path for pair in pairs for path in pair if not made_by_a_stage(path)))


def _fingerprint(config, data: list[tuple[str, str]], entry: str, root: Path, row_config: dict | None) -> dict:
    data = [(a, i) for a, i in data if not made_by_a_stage(a)]
    annotations = [Path(root, a) for a, _ in dict.fromkeys(data)]
    images = [f for a, i in dict.fromkeys(data) for f in _images(Path(root, a), Path(root, i))]
    return {
        "config": config,
        "data": {
            "reads": list(dict.fromkeys(p for pair in data for p in pair)),
            "digest": data_digest(annotations, images),
        },
        "code": {"files": code_files(entry, root, row_config), "libraries": libraries()},
    }


def _images(annotations: Path, images: Path) -> list[Path]:
    """The images an annotation file names, in its image folder."""
    for p in (annotations, images):
        if not p.exists():
            raise StudyError(f"input missing: {p}: {_hint(str(p))}")
    return [images / im["file_name"] for im in _read(annotations, *_stat(annotations)).get("images", [])]


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


@lru_cache(maxsize=8)
def _read(path: Path, mtime_ns: int, size: int) -> dict:  # noqa: ARG001 (the cache's key)
    return json.loads(path.read_text())


def render(fingerprint: dict) -> str:
    """The file's text: the same bytes for the same fingerprint."""
    return json.dumps(fingerprint, indent=1, sort_keys=True) + "\n"


def write_fingerprints(params: Params, root: str | Path = ".", dry: bool = False) -> dict[str, list[str]]:
    """Write the tier's fingerprints into ``out_dir`` (relative to ``root``), each file only where its
    content changed, and delete those of stages no longer there. Returns each changed file's path and
    what changed in it (``config``, ``data``, ``code: <file>``, ...); with ``dry``, writes nothing."""
    root = Path(root)
    folder = root / out_dir(params)
    now = fingerprints(params, root)
    changed = {}
    for rel, fp in now.items():
        path = folder / rel
        old = json.loads(path.read_text()) if path.exists() else None
        if old is None or path.read_text() != render(fp):
            changed[rel] = _why(old, fp)
            if not dry:
                write_text(path, render(fp))
    for path in sorted(folder.rglob("*.json")) if folder.exists() else ():
        rel = path.relative_to(folder).as_posix()
        if rel not in now:
            changed[rel] = ["the stage is gone"]
            if not dry:
                path.unlink()
    return changed


def _why(old: dict | None, new: dict) -> list[str]:
    if old is None:
        return ["a new stage"]
    out = [k for k in ("config", "data") if old.get(k) != new.get(k)]
    files_old, files_new = old.get("code", {}).get("files", {}), new["code"]["files"]
    out += [f"code: {f}" for f in sorted(set(files_old) | set(files_new)) if files_old.get(f) != files_new.get(f)]
    if old.get("code", {}).get("libraries") != new["code"]["libraries"]:
        out.append("code: library versions")
    return out or ["its layout"]


def check_deps(params: Params, root: str | Path = ".") -> list[str]:
    """The data the tier's stages read that its pipeline's fingerprint stage does not list in its
    deps: DVC would not rerun the stage when one of them changes."""
    import yaml

    path = Path(root) / pipeline(params.tier)
    if not path.exists():
        return []
    stage = (yaml.safe_load(path.read_text()).get("stages") or {}).get("fingerprint") or {}
    deps = {str(d) for d in stage.get("deps") or []}
    return [p for p in data_inputs(params) if p not in deps]


def run(tier: str, dry: bool = False, root: str | Path = ".") -> int:
    """``bbadj fingerprint``: write (or with ``dry`` report) the tier's fingerprints; prints one line
    per changed stage and why."""
    params = Params.load(Path(root) / "params.yaml", tier=tier)
    missing = check_deps(params, root)
    if missing:
        print(
            f"bbadj fingerprint: warning: {pipeline(tier)}'s fingerprint stage does not list {missing} in its "
            f"deps: add them, or DVC reruns nothing when they change",
            file=sys.stderr,
        )
    changed = write_fingerprints(params, root, dry)
    where = out_dir(params).as_posix()
    for rel, why in changed.items():
        print(f"{'would change' if dry else 'changed'} {where}/{rel}: {', '.join(why)}")
    if not changed:
        print(f"{where}: every stage's inputs as they were")
    return 0

"""params.yaml as one object (bbadj/core/params.py), the default study it describes, the presets, and
dvc.yaml's view of it."""

import json
from pathlib import Path

import pytest
import yaml

from bbadj.core.config import Config
from bbadj.core.params import BASELINES, Params, load_config
from bbadj.study import preflight
from bbadj.analysis import stats

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params.yaml"


def write_params(path: Path, rows, eval_only=None, finetune=None, **sections) -> Path:
    p = {
        **sections,
        "rows": rows,
        "finetune": finetune or {},
        "eval_only": eval_only or {},
        "study": {"baseline": next(iter(rows)), "bootstrap": 200, "bootstrap_seed": 0},
    }
    path.write_text(yaml.safe_dump(p))
    return path


def materialise(preset: Path, tmp_path: Path) -> Path:
    """params.yaml with the preset applied the way `bbadj exp-run` has DVC apply it."""
    from dvc.utils.hydra import apply_overrides

    from bbadj.cli.presets import exp_run_command

    out = tmp_path / "params.yaml"
    tmp_path.mkdir(parents=True, exist_ok=True)
    out.write_text(PARAMS.read_text())
    cmd = exp_run_command(preset, params_path=PARAMS)
    apply_overrides(str(out), [cmd[i + 1] for i, a in enumerate(cmd) if a == "-S"])
    return out


# ------------------------------------------------------------------ the default study


def test_the_default_study_is_on_real_photographs():
    """Every trained row learns from coco128's train split and is scored on the test set (188 COCO
    val2017 photographs, none of them a training photograph) and on coco128's val split, a validation
    set, from ImageNet weights except the row that asks what they are worth."""
    params = Params.load(PARAMS)
    assert list(params.base.eval.sets) == ["coco_val2017", "coco128"]
    assert params.base.eval.test_set == "coco_val2017" and params.base.eval.role("coco128") == "validation"
    assert params.base.eval.set_paths() == ("data/coco_val2017/annotations/test.json", "data/coco_val2017/images")
    train = {i["file_name"] for i in json.loads((ROOT / "data/coco128/annotations/train.json").read_text())["images"]}
    test = {
        i["file_name"] for i in json.loads((ROOT / "data/coco_val2017/annotations/test.json").read_text())["images"]
    }
    assert len(test) >= 100 and not train & test
    assert params.base.eval.set_paths("coco128") == ("data/coco128/annotations/val.json", "data/coco128/images")
    trained = {n: params[n].config for n in params.names("trained")}
    assert all(c.data.train_annotations == "data/coco128/annotations/train.json" for c in trained.values())
    assert all(c.data.mix.fraction == 0 for c in trained.values())
    assert {n for n, c in trained.items() if c.model.pretrained != "imagenet"} == {"scratch"}
    assert {c.model.backbone for c in trained.values()} == {"efficientnet_lite0"}


def test_each_ablation_changes_one_setting_of_the_default():
    """The mission's questions (scale, decoder, buffer ratio) and pretrained vs scratch, each a row
    that differs from the default row in one setting, each trained with three seeds or more
    (study.seeds), the noise every difference is judged against."""
    params = Params.load(PARAMS)
    base = params.report.baseline
    default = params[base].config
    assert (default.model.fusion, default.model.decoder, default.model.pretrained) == ("l4", "conv1d", "imagenet")
    changed = {n: params.changed(n, base) for n in params.names("models") if n != base}
    assert {stats.parent(params, n) for n in changed} == {base}
    assert {v["model.fusion"][1] for v in changed.values() if "model.fusion" in v} == {"l34_mean", "fpn"}
    assert any(set(v) == {"model.decoder"} for v in changed.values())
    assert any(set(v) == {"data.buffer_ratio"} and params[n].trained for n, v in changed.items())
    assert any(set(v) == {"data.buffer_ratio"} and not params[n].trained for n, v in changed.items())
    assert set(changed["scratch"]) == {"model.pretrained"}
    assert params.report.seeds >= 3 and all(
        params.seeds(n) == list(range(params.report.seeds)) for n in params.names("models")
    )
    # classification over positions against regression: one choice, the decoder's output and the loss that trains it
    assert {k: v[1] for k, v in changed["regression"].items()} == {
        "model.decoder": "regression",
        "train.loss": "laplace_nll",
    }
    assert all(len(v) == 1 for n, v in changed.items() if n != "regression")


def test_code_defaults_are_the_default_recipe():
    assert Params.load(PARAMS).base == Config() == load_config(PARAMS)


# ------------------------------------------------------------------ Params


def test_rows_resolve_with_their_origins(tmp_path):
    p = write_params(
        tmp_path / "params.yaml",
        {"a": {}, "b": {"model": {"fusion": "fpn"}}},
        {"b_argmax": {"from": "b", "eval": {"decoding": "argmax"}, "data": {"buffer_ratio": 1.1}}},
        {"t": {"from": "b", "data": {"train_annotations": "real.json"}, "train": {"lr": 1e-4}}},
    )
    params = Params.load(p, runs_dir="somewhere")
    assert params.names() == ["identity", "grabcut", "a", "b", "t", "b_argmax"]
    assert params.names("trained") == ["a", "b", "t"] and params.names("eval_only") == ["b_argmax"]
    t = params["t"]
    assert (t.config.model.fusion, t.config.data.train_annotations, t.config.train.lr) == ("fpn", "real.json", 1e-4)
    assert t.config.model.init_from == str(Path("somewhere") / "b" / "seed0" / "model.pt") and t.starts_from == "b"
    assert params.seeds("t") == params.seeds("b_argmax") == [0, 1, 2] and params.seeds("identity") == [0]
    seed2 = params.seed_config("t", 2)  # seed k of a finetune row starts from seed k of its `from`
    assert (seed2.train.seed, seed2.model.init_from) == (2, str(Path("somewhere") / "b" / "seed2" / "model.pt"))
    with pytest.raises(KeyError, match="no seed 3"):
        params.seed_config("t", 3)
    assert params["grabcut"].config == params["identity"].config == params.base == load_config(p)
    c = params["b_argmax"]
    assert (c.config.model.fusion, c.config.eval.decoding, c.config.data.buffer_ratio, c.model_of) == (
        "fpn",
        "argmax",
        1.1,
        "b",
    )
    assert params.describe("a") == "default"
    assert "model.fusion=fpn" in params.describe("b_argmax") and "the model of b" in params.describe("b_argmax")
    assert params.changed("b_argmax", "b") == {"data.buffer_ratio": (1.3, 1.1), "eval.decoding": ("subpixel", "argmax")}
    assert set(params.changed("t", "b")) == {"data.train_annotations", "model.init_from", "train.lr"}
    with pytest.raises(KeyError, match="no row 'nope'"):
        params["nope"]


@pytest.mark.parametrize(
    "exps,eval_only,match",
    [
        ({"a.b": {}}, {}, "letters, digits"),
        ({"identity": {}}, {}, "letters, digits"),
        ({"grabcut": {}}, {}, "letters, digits"),
        ({"a": {}}, {"x": {"from": "zzz"}}, "must name one of"),
        ({"a": {}}, {"x": {"from": "identity"}}, "must name one of"),
        ({"a": {}}, {"x": {"from": "a", "model": {"fusion": "fpn"}}}, "needs training"),
        ({"a": {}}, {"x": {"from": "a", "data": {"crop_size": 32}}}, "need training"),
        ({"a": {}}, {"a": {"from": "a"}}, "both"),
        ({"a": {"train": {"lrr": 1}}}, {}, r"unknown key.*lrr"),  # dvc exp run -S +train.lrr=1: stops before any work
        (
            {"a": {"model": {"fusion": "l5"}}},
            {},
            "model.fusion must be one of l4, l34_mean",
        ),  # before any model is built
    ],
)
def test_params_validation(tmp_path, exps, eval_only, match):
    p = write_params(tmp_path / "params.yaml", exps, eval_only)
    with pytest.raises((ValueError, KeyError), match=match):
        Params.load(p)


@pytest.mark.parametrize(
    "finetune,match",
    [
        ({"t": {"from": "nope"}}, "finetune.t.from must name one of rows"),
        ({"a": {"from": "a"}}, "both in rows and in finetune"),
    ],
)
def test_finetune_validation(tmp_path, finetune, match):
    with pytest.raises(ValueError, match=match):
        Params.load(write_params(tmp_path / "params.yaml", {"a": {}}, finetune=finetune))


def test_an_unknown_top_level_key_names_the_file(tmp_path):
    p = write_params(tmp_path / "params.yaml", {"a": {}}, trian={"lr": 1})
    with pytest.raises(ValueError, match=rf"{p}.*unknown key.*trian"):
        Params.load(p)


# ------------------------------------------------------------------ presets and dvc.yaml


@pytest.mark.parametrize("preset", sorted((ROOT / "params").glob("*.yaml")), ids=lambda p: p.name)
def test_presets_are_deltas_that_dvc_applies(preset, tmp_path):
    """A preset lists only keys that params.yaml has (or removes one with null), each with another
    value; applied through DVC's own -S, it gives a valid study."""
    base, delta = yaml.safe_load(PARAMS.read_text()), yaml.safe_load(preset.read_text())

    def check(d, b, where):
        for k, v in d.items():
            if isinstance(v, dict) and isinstance(b.get(k), dict):
                check(v, b[k], f"{where}{k}.")
            elif v is not None and k in b:
                assert b[k] != v, f"{preset.name}: {where}{k} repeats the base value {v!r}"
            else:
                assert k in b or (v is not None and where.startswith("eval.sets")), (
                    f"{preset.name}: {where}{k} not in params.yaml"
                )

    check(delta, base, "")
    params = Params.load(materialise(preset, tmp_path))
    assert all(isinstance(params[n].config, Config) for n in params.names())


def test_paper_preset(tmp_path):
    params = Params.load(materialise(ROOT / "params" / "paper-coco.yaml", tmp_path))
    cfg = params.base
    assert (cfg.model.backbone, cfg.model.pretrained, cfg.data.crop_size, cfg.data.buffer_ratio) == (
        "resnet50",
        "imagenet",
        224,
        1.1,
    )
    assert (cfg.train.batch_size, cfg.train.lr, cfg.train.optimizer, cfg.train.epochs, cfg.train.max_steps) == (
        64,
        1e-4,
        "adam",
        5.0,
        0,
    )
    assert cfg.data.train_annotations == "data/coco/annotations/instances_train2017.json"
    assert (
        list(cfg.eval.sets) == ["coco_val2017", "coco128"]
        and cfg.eval.set_paths("coco_val2017")[1] == "data/coco/val2017"
    )
    assert cfg.eval.test_set == "coco_val2017"  # the paper's test set; coco128's val split a validation set
    assert params.names("trained") == params.names("rows")  # the ablations of params.yaml, at paper scale


def test_coco128_preset_is_the_paper_recipe_on_real_coco128(tmp_path):
    cfg = Params.load(materialise(ROOT / "params" / "coco128.yaml", tmp_path)).base
    paper = Params.load(materialise(ROOT / "params" / "paper-coco.yaml", tmp_path / "p")).base
    assert (cfg.model, cfg.data.crop_size, cfg.train.lr) == (paper.model, 224, paper.train.lr)
    assert cfg.data.train_annotations == "data/coco128/annotations/train.json"
    assert list(cfg.eval.sets) == ["coco_val2017", "coco128"]


@pytest.mark.parametrize("pipeline", ["dvc.yaml", "long/dvc.yaml"])
def test_dvc_yaml_params_exist_in_params_yaml(pipeline):
    """Every param a stage declares must be in params.yaml (else DVC fails): check the templates."""
    stages = yaml.safe_load((ROOT / pipeline).read_text())["stages"]
    params = yaml.safe_load(PARAMS.read_text())
    for name, stage in stages.items():
        for p in stage.get("do", stage).get("params", []):
            if isinstance(p, dict):
                assert p == {"params.yaml": None}, p  # all of params.yaml
                continue
            if "${" in p:
                assert p.startswith(("rows.", "eval_only.", "finetune.")), p
                continue
            node = params
            for part in p.split("."):
                assert isinstance(node, dict) and part in node, f"{name}: param {p} not in params.yaml"
                node = node[part]
    assert stages["train"]["foreach"] == stages["evaluate"]["foreach"] == "${rows}"
    assert stages["evaluate_only"]["foreach"] == "${eval_only}"
    if pipeline == "dvc.yaml":  # the long tier trains no finetune rows yet, and shares the baselines
        assert stages["finetune"]["foreach"] == stages["evaluate_finetune"]["foreach"] == "${finetune}"
        assert stages["baseline"]["foreach"] == list(BASELINES)


@pytest.mark.parametrize("pipeline", ["dvc.yaml", "long/dvc.yaml"])
def test_dvc_yaml_keeps_outputs_until_replaced(pipeline):
    text = (ROOT / pipeline).read_text()
    for name, stage in yaml.safe_load(text)["stages"].items():
        body = stage.get("do", stage)
        for out in body.get("outs", []) + body.get("metrics", []):
            assert isinstance(out, dict) and next(iter(out.values())).get("persist"), f"{name}: {out} not persist"


# ------------------------------------------------------------------ running a stage here


def test_find_root_from_a_subfolder(tmp_path, monkeypatch):
    (tmp_path / "params.yaml").write_text("{}")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert preflight.find_root() == tmp_path
    assert preflight.chdir_to_root() == tmp_path and Path.cwd() == tmp_path
    with pytest.raises(FileNotFoundError, match="params file not found: other.yaml"):
        preflight.find_root("other.yaml")


def test_preflight_says_what_is_missing(tmp_path):
    cfg = Params.load(materialise(ROOT / "params" / "paper-coco.yaml", tmp_path)).base.with_overrides(
        {"data": {"train_annotations": str(tmp_path / "coco/annotations/instances_train2017.json")}}
    )
    with pytest.raises(preflight.StudyError, match="instances_train2017.json.*MS COCO 2017.*make coco"):
        preflight.preflight(cfg, "train", device="cpu")
    with pytest.raises(preflight.StudyError, match="data/coco/val2017"):
        preflight.preflight(cfg, "val", device="cpu")
    gone = cfg.with_overrides({"model": {"init_from": str(tmp_path / "runs/x/model.pt")}})
    with pytest.raises(preflight.StudyError, match="runs/x/model.pt: train that row first"):
        preflight.preflight(gone, "train", device="cpu")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(preflight.StudyError, match="CUDA"):
            preflight.preflight(cfg, "train", device="cuda")


def test_every_bad_row_is_named_at_once(tmp_path):
    p = write_params(
        tmp_path / "params.yaml", {"a": {"model": {"fusion": "l5"}}, "b": {"train": {"batch_size": 10**6}}}, {}
    )
    with pytest.raises(ValueError, match=r"2 rows are wrong") as e:
        Params.load(p)
    assert "rows.a: model.fusion must be one of" in str(e.value) and "rows.b: train.batch_size must be in" in str(
        e.value
    )

"""``bbadj bench ...`` runs on tiny inputs and writes its documented keys with sane values.

Speed goals belong to the benchmarks themselves (reports/benchmarks/), not to timed tests.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bbadj.bench.crops import bbadj_crops, per_box_pil_crops
from bbadj.bench.evaluate import repeat_to_boxes
from bbadj.bench.train_step import PHASES
from bbadj.cli.main import main
from bbadj.core.config import DataConfig
from bbadj.data.coco import load_coco

TINY = ["--set", "data.crop_size=32", "--set", "model.hidden=16", "--threads", "1", "--no-progress"]


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """--threads changes a process-wide setting; put it back for the other tests."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from bbadj.data.synth import make_synthetic

    root = tmp_path_factory.mktemp("bench")
    make_synthetic(root, 4, seed=5, progress=False)
    return root / "annotations.json", root / "images"


def run(argv, out) -> dict:
    assert main(argv + ["--out", str(out)]) == 0
    return json.loads(out.read_text())


@pytest.fixture(autouse=True)
def no_params_file(tmp_path, monkeypatch):
    """Run where no params.yaml is: the config is the defaults plus --set."""
    monkeypatch.chdir(tmp_path)


def test_crops(tiny, tmp_path):
    ann, images = tiny
    r = run(
        [
            "bench",
            "crops",
            "--annotations",
            str(ann),
            "--images",
            str(images),
            "--crop-size",
            "32",
            "--rounds",
            "2",
            *TINY,
        ],
        tmp_path / "crops.json",
    )
    for key in (
        "per_box_pil_crops_per_s",
        "bbadj_crops_per_s",
        "speedup",
        "device",
        "crop_size",
        "n_boxes",
        "rounds",
        "torch_threads",
        "machine",
    ):
        assert key in r
    assert r["per_box_pil_crops_per_s"] > 0 and r["bbadj_crops_per_s"] > 0
    assert r["speedup"] == r["bbadj_crops_per_s"] / r["per_box_pil_crops_per_s"]
    assert r["n_boxes"] == load_coco(ann, images, verbose=False).n_boxes
    assert (r["crop_size"], r["rounds"], r["torch_threads"], r["device"]) == (32, 2, 1, "cpu")
    assert all(len(v) == 2 for v in r["all_rounds_crops_per_s"].values())
    assert set(r["profile_s"]["bbadj"]) == {"decode", "normalize", "cut"}


def test_pil_baseline_cuts_the_same_boxes(tiny):
    """The two pipelines crop the same windows: they differ by PIL's whole-pixel rounding and
    resampling, far less than crops of different boxes differ."""
    coco = load_coco(*tiny, verbose=False)
    cfg = DataConfig(crop_size=32)
    a, b = bbadj_crops(coco, cfg, seed=0), per_box_pil_crops(coco, cfg, seed=0)
    assert a.shape == b.shape == (coco.n_boxes, 3, 32, 32)
    same = (a - b).abs().mean()
    other = (a - b.roll(1, dims=0)).abs().mean()
    assert same < 0.5 * other


def test_train_step(tiny, tmp_path):
    ann, images = tiny
    r = run(
        [
            "bench",
            "train-step",
            "--annotations",
            str(ann),
            "--images",
            str(images),
            "--steps",
            "2",
            "--warmup",
            "1",
            "--rounds",
            "2",
            "--set",
            "train.batch_size=4",
            "--set",
            "train.device=cpu",
            *TINY,
        ],
        tmp_path / "train.json",
    )
    assert r["loader_images_per_s"] > 0 and r["memory_images_per_s"] > 0
    assert r["ratio"] == r["loader_images_per_s"] / r["memory_images_per_s"]
    assert r["rounds"] == 2 and all(len(v) == 2 for v in r["all_rounds_images_per_s"].values())
    for source in ("loader", "memory"):
        phases = r["breakdown_ms_per_step"][source]
        assert set(phases) == set(PHASES) and all(v >= 0 for v in phases.values())
        assert phases["forward"] > 0 and phases["backward_optimizer"] > 0
    assert (r["device"], r["batch_size"], r["steps"], r["amp"], r["decode"]) == ("cpu", 4, 2, False, "cpu")


def test_gpu_decode_needs_cuda(tiny, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    ann, images = tiny
    with pytest.raises(ValueError, match="CUDA"):
        run(
            [
                "bench",
                "train-step",
                "--annotations",
                str(ann),
                "--images",
                str(images),
                "--gpu-decode",
                "--set",
                "train.device=cpu",
                *TINY,
            ],
            tmp_path / "x.json",
        )


def test_adjust_latency(tmp_path):
    r = run(["bench", "adjust-latency", "--runs", "5", "--warmup", "1", *TINY], tmp_path / "lat.json")
    for name in ("adjust", "adjust_decoded", "forward"):
        assert 0 < r[f"{name}_p50_ms"] <= r[f"{name}_p95_ms"]
    assert r["overhead"] == pytest.approx(r["adjust_p50_ms"] / r["forward_p50_ms"] - 1)
    assert r["model"].startswith("untrained efficientnet_lite0") and r["crop_size"] == 32
    assert r["image_wh"] == [640, 480] and r["box"] == [160.0, 120.0, 480.0, 360.0]


def test_adjust_latency_with_checkpoint(tiny, tmp_path):
    from bbadj.model.checkpoint import save_atomic
    from bbadj.core.params import load_config
    from bbadj.model import build_model

    cfg = load_config(None, {"data": {"crop_size": 32}, "model": {"hidden": 16}})
    save_atomic(
        {"model": build_model(cfg.model, cfg.data.geometry).state_dict(), "config": cfg.to_dict()}, tmp_path / "m.pt"
    )
    image = next(iter(sorted(tiny[1].iterdir())))
    r = run(
        [
            "bench",
            "adjust-latency",
            "--checkpoint",
            str(tmp_path / "m.pt"),
            "--image",
            str(image),
            "--box",
            "10,10,60,50",
            "--runs",
            "3",
            "--warmup",
            "1",
            "--threads",
            "1",
            "--no-progress",
        ],
        tmp_path / "lat.json",
    )
    assert r["model"] == f"checkpoint {tmp_path / 'm.pt'}" and r["box"] == [10.0, 10.0, 60.0, 50.0]
    assert r["adjust_p95_ms"] >= r["adjust_p50_ms"] > 0


def test_serve_latency(tmp_path):
    r = run(["bench", "serve-latency", "--runs", "3", "--warmup", "1", *TINY], tmp_path / "serve.json")
    for name in ("request", "adjust_decoded"):
        assert 0 < r[f"{name}_p50_ms"] <= r[f"{name}_p95_ms"]
    assert r["crop_size"] == 32 and r["image_wh"] == [640, 480] and r["box"] == [160.0, 120.0, 480.0, 360.0]


def test_evaluate_extrapolates_a_subset(tiny, tmp_path):
    ann, images = tiny
    r = run(
        [
            "bench",
            "evaluate",
            "--annotations",
            str(ann),
            "--images",
            str(images),
            "--boxes",
            "100",
            "--max-boxes",
            "30",
            "--device",
            "cpu",
            *TINY,
        ],
        tmp_path / "eval.json",
    )
    assert (r["n_boxes"], r["boxes_timed"], r["extrapolated"]) == (100, 30, True)
    assert r["seconds_full"] == pytest.approx(r["seconds_timed"] * 100 / 30)
    assert r["boxes_per_s"] == pytest.approx(30 / r["seconds_timed"])
    assert "repeated to 30 boxes" in r["dataset"] and 0 <= r["miou"] <= 1


def test_evaluate_takes_the_evaluation_settings_of_set(tiny, tmp_path):
    """As in `bbadj evaluate`: --set reaches the jitter (here: none, so the untrained model's
    boxes are scored against rough boxes equal to the truth, and the result changes)."""
    from bbadj.model.checkpoint import save_atomic
    from bbadj.core.params import load_config
    from bbadj.model import build_model

    ann, images = tiny
    cfg = load_config(None, {"data": {"crop_size": 32}, "model": {"hidden": 16}})
    torch.manual_seed(0)
    save_atomic(
        {"model": build_model(cfg.model, cfg.data.geometry).state_dict(), "config": cfg.to_dict()}, tmp_path / "m.pt"
    )
    base = [
        "bench",
        "evaluate",
        "--checkpoint",
        str(tmp_path / "m.pt"),
        "--annotations",
        str(ann),
        "--images",
        str(images),
        "--boxes",
        "20",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--no-progress",
    ]
    a = run(base, tmp_path / "a.json")
    b = run(base + ["--set", "data.jitter.shift=0.0", "--set", "data.jitter.scale=0.0"], tmp_path / "b.json")
    assert a["miou"] != b["miou"]


def test_evaluate_synthetic_cache(tmp_path):
    r = run(
        [
            "bench",
            "evaluate",
            "--synth-dir",
            str(tmp_path / "cache"),
            "--synth-images",
            "2",
            "--boxes",
            "12",
            "--device",
            "cpu",
            *TINY,
        ],
        tmp_path / "eval.json",
    )
    assert (r["boxes_timed"], r["extrapolated"]) == (12, False)
    assert r["seconds_full"] == r["seconds_timed"] > 0
    assert (tmp_path / "cache" / "annotations.json").exists()


def test_repeat_to_boxes_is_exact(tiny):
    coco = load_coco(*tiny, verbose=False)
    n = 3 * coco.n_boxes + 2
    big = repeat_to_boxes(coco, n)
    assert big.n_boxes == n
    assert len({r.image_id for r in big.images}) == len(big.images)
    assert np.array_equal(big.images[len(coco.images)].boxes, coco.images[0].boxes)
    k = len(big.images) - 1
    assert big.images[-1].path == coco.images[k % len(coco.images)].path


def test_train_step_row(tiny, tmp_path):
    """--row NAME: the base sections of --params plus that row's overrides."""
    pytest.importorskip("bbadj.study")
    ann, images = tiny
    params = tmp_path / "p.yaml"
    params.write_text(
        json.dumps(
            {
                "data": {"crop_size": 32},
                "model": {"hidden": 16},
                "train": {"batch_size": 4, "device": "cpu"},
                "rows": {"base": {}, "mean34": {"model": {"fusion": "l34_mean"}}},
            }
        )
    )
    r = run(
        [
            "bench",
            "train-step",
            "--params",
            str(params),
            "--row",
            "mean34",
            "--annotations",
            str(ann),
            "--images",
            str(images),
            "--steps",
            "1",
            "--warmup",
            "1",
            "--threads",
            "1",
            "--no-progress",
        ],
        tmp_path / "train.json",
    )
    assert (r["fusion"], r["crop_size"], r["batch_size"]) == ("l34_mean", 32, 4)


def test_snap(tiny, tmp_path):
    ann, images = tiny
    r = run(
        [
            "bench",
            "snap",
            "--annotations",
            str(ann),
            "--images",
            str(images),
            "--boxes",
            "25",
            "--batch-size",
            "8",
            "--device",
            "cpu",
            *TINY,
        ],
        tmp_path / "snap.json",
    )
    assert (r["n_boxes"], r["boxes_snapped"], r["batch_size"], r["crop_size"]) == (25, 25, 8, 32)
    assert r["boxes_per_s"] == pytest.approx(25 / r["seconds"]) and r["images_per_s"] > 0
    assert 0 < r["peak_rss_mb_before"] <= r["peak_rss_mb_after"] and r["file_mb"] > 0
    assert r["model"].startswith("untrained efficientnet_lite0") and "machine" in r


def test_snap_repeats_the_file_to_exactly_n_boxes(tiny, tmp_path):
    from bbadj.bench.snap import repeat_file

    ann, _ = tiny
    n = 3 * len(json.loads(ann.read_text())["annotations"]) + 2
    made = repeat_file(ann, n, tmp_path / "big.json")
    doc = json.loads((tmp_path / "big.json").read_text())
    assert made["boxes"] == len(doc["annotations"]) == n and made["images"] == len(doc["images"])
    assert len({a["id"] for a in doc["annotations"]}) == n and len({im["id"] for im in doc["images"]}) == made["images"]
    assert {a["image_id"] for a in doc["annotations"]} == {im["id"] for im in doc["images"]}


def test_snap_harm(tiny, checkpoint, tmp_path, capsys):
    """Per hold value, the mIoU of true and jittered boxes as they are, after one pass and after
    two; hold 1e9 holds every edge, so nothing moves and no second pass is run."""
    ann, images = tiny
    argv = ["bench", "snap-harm", "--checkpoint", str(checkpoint), "--annotations", str(ann), "--images", str(images)]
    r = run([*argv, "--hold", "0,1e9", "--threads", "1", "--no-progress"], tmp_path / "harm.json")
    n, repeats = r["n_boxes"], r["repeats"]
    assert n > 0 and r["checkpoint"] == str(checkpoint) and "machine" in r
    off, every, shrink = r["rows"]  # hold 0 once, then each mode (hold, shrink) at 1e9
    assert [(row["mode"], row["hold"]) for row in r["rows"]] == [("off", 0), ("hold", 1e9), ("shrink", 1e9)]
    assert shrink["tight"] == every["tight"] and shrink["jittered"] == every["jittered"], "1e9 holds every edge"
    for row in r["rows"]:
        assert set(row) == {"mode", "hold", "tight", "jittered"}
        for case in ("tight", "jittered"):
            assert set(row[case]) == {"input", "pass1", "pass2", "held1", "held2"}
            assert all(0 <= v <= 100 for v in row[case].values())
        assert row["tight"]["input"] == pytest.approx(100)
    assert off["tight"]["held1"] == off["jittered"]["held2"] == 0 and off["tight"]["pass1"] < 100
    assert every["tight"]["pass1"] == every["tight"]["pass2"] == pytest.approx(100)
    assert every["jittered"]["pass2"] == every["jittered"]["input"] and every["jittered"]["held1"] == 100
    # first passes (true boxes and each draw), then hold 0's second passes; hold 1e9's are the first's inputs
    assert r["boxes_run"] == 2 * n * (1 + repeats)
    table = capsys.readouterr().out.splitlines()
    # a title, the header and its rule, one row per hold
    assert table[1].startswith("| mode | hold | tight: 1 pass") and len(table) == 1 + 2 + 3
    assert table[-1].startswith("| shrink | 1e+09 | 100.0 | 100.0 | 100 / 100 |")


def test_snap_harm_names_a_bad_hold(checkpoint, capsys):
    assert main(["bench", "snap-harm", "--checkpoint", str(checkpoint), "--hold", "0,-1"]) == 2
    assert "--hold must be a number >= 0" in capsys.readouterr().err


def test_layer_flops_counts_a_hand_made_model():
    """A dense 3x3 conv (4 -> 8 channels) then a depthwise one, on 2 x 4 x 5 x 5: 400 outputs each.
    Forward 2 x 400 x 4 x 9 = 28,800 and 2 x 400 x 1 x 9 = 7,200. Backward: the first layer's
    weight only (its input, the data, needs no gradient), the depthwise layer's weight and input;
    a frozen layer's weight none."""
    from bbadj.bench.step_profile import LayerFlops

    model = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.Conv2d(8, 8, 3, padding=1, groups=8))
    x = torch.randn(2, 4, 5, 5)
    with LayerFlops(model) as flops:
        model(x)
    assert (flops.forward, flops.backward) == (36_000, 28_800 + 2 * 7_200)
    model[0].requires_grad_(False)  # frozen first layer: nothing before the depthwise one trains
    with LayerFlops(model) as flops:
        model(x)
    assert (flops.forward, flops.backward) == (36_000, 7_200)
    linear = torch.nn.Linear(3, 5)
    with LayerFlops(linear) as flops:
        linear(torch.randn(7, 3, requires_grad=True))
    assert (flops.forward, flops.backward) == (2 * 7 * 5 * 3, 2 * 2 * 7 * 5 * 3)


def test_step_profile(tiny, tmp_path):
    ann, images = tiny
    argv = ["bench", "step-profile", "--annotations", str(ann), "--images", str(images), "--steps", "2"]
    r = run(argv + ["--warmup", "1", "--top", "5", "--set", "train.batch_size=4", *TINY], tmp_path / "profile.json")
    flops = r["gflop_per_step"]["forward"] + r["gflop_per_step"]["backward"]
    assert r["gflop_per_step"]["forward"] > 0 and r["gflop_per_step"]["backward"] > 0
    assert r["achieved_gflops"] == pytest.approx(flops / (r["step_ms_median"] / 1e3))
    assert r["crops_per_s"] == pytest.approx(4 / (r["step_ms_median"] / 1e3))
    assert len(r["top_ops"]) == 5 and r["matmul_fp32_gflops"] > 0
    shares = [o["share"] for o in r["top_ops"]]
    assert shares == sorted(shares, reverse=True) and 0 < sum(shares) <= 1

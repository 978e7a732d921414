"""The no-model row on real COCO images reproduces the paper's first row of Table 1."""

import json


from bbadj.cli.main import main
from bbadj.scoring import metrics


def test_identity_row_matches_the_paper_on_coco128(coco128, tmp_path):
    ann, images = coco128
    out = tmp_path / "identity.json"
    assert (
        main(
            [
                "evaluate",
                "--identity",
                "--annotations",
                str(ann),
                "--images",
                str(images),
                "--repeats",
                "25",
                "--seed",
                "0",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    m = json.loads(out.read_text())
    assert m["n_boxes"] == 929 and m["repeats"] == 25
    for metric in metrics.declared():  # by key, from the declaration
        paper = metric.jittered
        ours = 100 * m[metric.key]
        assert abs(ours - paper) < 3, f"{metric.key}: ours {ours:.1f}, paper {paper}"


def test_same_seed_same_draws_different_seed_different(coco128, tmp_path):
    from bbadj.core.config import Config
    from bbadj.data.coco import load_coco
    from bbadj.scoring.evaluate import evaluate

    coco = load_coco(*coco128, verbose=False)
    a = evaluate(coco, Config(), None, repeats=2, seed=5, progress=False)
    b = evaluate(coco, Config(), None, repeats=2, seed=5, progress=False)
    c = evaluate(coco, Config(), None, repeats=2, seed=6, progress=False)
    assert a == b and a != c

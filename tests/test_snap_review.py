"""The review rule (bbadj/snap/review.py) on hand-made numbers: by pixels, by fraction of the
box's side along each edge's axis, and by the probability of being within T px under a Laplace
error of mean absolute value err_px; each failed edge named with the numbers that failed it."""

import math

import pytest

from bbadj.snap.review import ReviewRule, p_within, reason
from bbadj.util.errors import ConfigError

BOX = [10, 20, 100, 40]  # x, y, w, h: top and bottom are judged against 40 px, left and right against 100
ERR = [1.0, 2.5, 4.0, 6.0]  # top, bottom, left, right


def test_p_within_is_the_laplace_probability():
    assert p_within(3.0, 3.0) == pytest.approx(1 - math.exp(-1))  # 0.632
    assert p_within(1.0, 3.0) == pytest.approx(0.950213, abs=1e-6)
    assert p_within(0.0, 3.0) == 1.0
    # min_p is max_err_px in other words: P >= 0.9 within 3 px  <=>  err_px <= 3 / ln 10 = 1.3029
    rule = ReviewRule(min_p=0.9)
    assert rule.edge_ok(BOX, [1.302] * 4) == [True] * 4 and rule.edge_ok(BOX, [1.304] * 4) == [False] * 4


def test_each_rule_names_the_edges_it_fails_with_their_numbers():
    assert ReviewRule(max_err_px=3).failures(BOX, ERR) == [
        {"edge": "left", "rule": "max_err_px", "err_px": 4.0, "limit_px": 3},
        {"edge": "right", "rule": "max_err_px", "err_px": 6.0, "limit_px": 3},
    ]
    # 5% of the height (40) is 2 px, of the width (100) 5 px: bottom and right fail
    frac = ReviewRule(max_err_frac=0.05).failures(BOX, ERR)
    assert [(f["edge"], f["side"], f["side_px"], f["limit_px"]) for f in frac] == [
        ("bottom", "height", 40.0, 2.0),
        ("right", "width", 100.0, 5.0),
    ]
    assert reason(frac) == "bottom: err_px 2.5 > 0.05 x height 40 = 2 px; right: err_px 6 > 0.05 x width 100 = 5 px"
    p = ReviewRule(min_p=0.6, within_px=3).failures(BOX, ERR)  # P = 0.9502, 0.6988, 0.5276, 0.3935
    assert [(f["edge"], f["p_within"]) for f in p] == [("left", 0.5276), ("right", 0.3935)]
    assert reason(p[:1]) == "left: P(|error| < 3 px) 0.5276 < 0.6 (err_px 4)"
    both = ReviewRule(max_err_px=5, max_err_frac=0.05)
    assert [(f["edge"], f["rule"]) for f in both.failures(BOX, ERR)] == [
        ("bottom", "max_err_frac"),
        ("right", "max_err_px"),
        ("right", "max_err_frac"),
    ]
    assert both.edge_ok(BOX, ERR) == [True, False, True, False]
    assert both.describe() == "err_px above 5 px or err_px above 0.05 x the box's side"
    assert ReviewRule().failures(BOX, [99] * 4) == [] and not ReviewRule().active


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"max_err_px": 0}, "max_err_px must be a number > 0"),
        ({"max_err_frac": -0.1}, "max_err_frac must be"),
        ({"min_p": 1.0}, "min_p must be a probability"),
        ({"within_px": 0}, "within_px must be"),
        ({"max_err_px": float("nan")}, "max_err_px must be"),
    ],
)
def test_bad_rules_are_named(kw, message):
    with pytest.raises(ConfigError, match=message):
        ReviewRule(**kw)

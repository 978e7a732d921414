"""The README and docs/ tell the truth about the repository: the README stays short, every file it
or a docs page links exists, the README links the main result rather than holding it, and every `bbadj` command
and `make` target they show exists."""

import re
from pathlib import Path

import pytest

from bbadj.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
MAX_LINES = 250


def links(page: Path) -> list[str]:
    """The local targets of the page's Markdown links and images, relative to the repository root."""
    out = []
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        out.append(path.relative_to(ROOT).as_posix())
    return out


def code(text: str) -> str:
    """The page's code, without shell comments: fenced blocks and inline spans, one per line."""
    fenced = re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S)
    rest = re.sub(r"```.*?```", "", text, flags=re.S)
    return re.sub(r"(^|\s)#.*$", "", "\n".join(fenced + re.findall(r"`([^`\n]+)`", rest)), flags=re.M)


def test_readme_is_short():
    n = len(README.read_text().splitlines())
    assert n <= MAX_LINES, f"README.md has {n} lines; keep it to {MAX_LINES} and move detail to docs/"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_linked_file_exists(page):
    targets = links(page)
    assert targets or page.name != "README.md"
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, f"{page.name} links files that do not exist: {missing}"


def test_readme_links_the_docs_pages():
    linked = set(links(README))
    assert {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")} <= linked
    assert {"reports/summary.md", "reports/report.html", "docs/snap_notebook.png"} <= linked


def test_the_readme_links_the_main_result_and_no_stage_writes_it():
    """The report stage writes reports/headline.md, a declared output; the README only links it
    (a stage that rewrote a tracked file DVC does not know of would change it behind DVC)."""
    assert "reports/headline.md" in set(links(README))
    assert "<!-- results" not in README.read_text()


def test_every_bbadj_command_shown_exists():
    commands = set(build_parser()._subparsers._group_actions[0].choices)
    for page in PAGES:
        shown = set(re.findall(r"(?:^|[\s(;&|])bbadj ([a-z][a-z-]*)", code(page.read_text()), flags=re.M))
        assert shown <= commands, f"{page.name} shows `bbadj {sorted(shown - commands)}`, not a bbadj command"
        for cmd in shown:
            with pytest.raises(SystemExit) as e:  # argparse prints the help and exits 0
                from bbadj.cli.main import main

                main([cmd, "--help"])
            assert e.value.code == 0, f"bbadj {cmd} --help"


def test_every_make_target_shown_exists():
    targets = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), flags=re.M))
    for page in PAGES:
        shown = set(re.findall(r"(?:^|[;&|])\s*make ([a-z][a-z-]*)", code(page.read_text()), flags=re.M))
        assert shown <= targets, f"{page.name} shows `make {sorted(shown - targets)}`, not a Makefile target"


def test_bbadj_help_is_plain_text(capsys):
    """`bbadj --help` reads as a terminal shows it: no reStructuredText markup."""
    from bbadj.cli.main import main

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "``" not in out and ":func:" not in out and "bbadj <command> --help" in out


def test_the_readme_show_sample_is_the_committed_study():
    """The README's `bbadj show` sample (make docs-samples) holds the committed metric files'
    numbers, row by row: a study rerun without rewriting it fails here."""
    import json

    import yaml

    block = re.search(r"```\n\$ bbadj show[^\n]*\n(.*?)```", README.read_text(), flags=re.S).group(1)
    eval_set = next(iter(yaml.safe_load((ROOT / "params.yaml").read_text())["eval"]["sets"]))  # bbadj show's first
    table = block.split(f"{eval_set}: mIoU, percent")[1].splitlines()[2:]
    shown = {line.split()[0]: float(line.split()[1]) for line in table if line.strip()}
    assert shown, "no rows in the README's bbadj show sample"
    for row, value in shown.items():
        metric = json.loads((ROOT / "reports" / "metrics" / row / f"{eval_set}.json").read_text())
        assert value == round(metric["miou"], 1), (
            f"README's bbadj show sample: {row} {value}, committed {metric['miou']:.1f}"
        )


def test_the_readme_verdicts_are_comparisons_csv():
    """The README's sentence on the long tier's default row says what reports/long/comparisons.csv
    holds: its seeds, how many of the metrics its gain (decided, on the test set, else the first
    set) reaches half the paper's gain on, and by how much the others fall short, each as the
    report rounds it (one decimal)."""
    import pandas as pd

    from bbadj.report.findings import NUMBERS, reached
    from bbadj.scoring import metrics

    text = " ".join(README.read_text().split())
    m = re.search(
        r"the default row `(\w+)`, chosen before the run \(the mean of its (\w+) "
        r"seeds\), reaches half the paper's gain on (\w+) of the (\w+) metrics \(short on (.*?) "
        r"points\), every gain (decided|not decided)",
        text,
    )
    assert m, "the README's sentence on the long tier's default row is not where the test reads it"
    row, seeds, count, total, short, decided = m.groups()
    path = ROOT / "reports" / "long" / "comparisons.csv"
    assert path.exists(), f"{path.relative_to(ROOT)} is missing: `bbadj stage report --tier long`"
    csv = pd.read_csv(path)
    test = csv["role"] == "test"
    main = csv[test] if test.any() else csv[csv["set"] == csv["set"].iloc[0]]
    gain = main[(main["kind"] == "gain") & (main["row"] == row) & (main["parent"] == "identity")]
    gain = gain.set_index("metric")
    words = {v: k for k, v in NUMBERS.items()}
    assert words[seeds] == int(gain["seeds_row"].iloc[0]) and words[total] == len(gain)
    reach = [k for k in gain.index if reached(gain.loc[k], k)]
    assert words[count] == len(reach), f"the CSV: half the paper's gain on {reach}"
    said = re.findall(r"([a-zA-Z0-9<>%. ]+?) by (\d+\.\d)(?:,|$)", short.replace(" and ", ", "))
    gap = {k: round(metrics.metric(k).aim, 1) - round(gain.loc[k, "difference"], 1) for k in gain.index}
    expected = {metrics.label(k): f"{gap[k]:.1f}" for k in gain.index if k not in reach}
    assert {k.strip(): v for k, v in said} == expected
    assert (decided == "decided") == (gain["verdict"] == "better").all()

"""environment.yml, pyproject.toml and the Makefile agree."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    python = next(d for d in conda if d.startswith("python"))
    from packaging.specifiers import SpecifierSet

    assert SpecifierSet(project["requires-python"]).contains(python.split("=")[1]), python
    assert "-e .[test]" in pip, "the conda env installs this package with the test extras"
    pinned = {re.split(r"[=<>]", d)[0]: d for d in project["dependencies"] if "==" in d}
    for name, spec in pinned.items():
        assert spec in pip, f"{spec} pinned in pyproject.toml must be pinned the same in environment.yml"


def test_console_script_and_make_targets():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["bbadj"] == "bbadj.cli:main"
    make = (ROOT / "Makefile").read_text()
    for target in ("setup:", "test:", "repro:"):
        assert re.search(rf"^{target}", make, re.M), target
    assert "make test" in (ROOT / ".ci/run").read_text()

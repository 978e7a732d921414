"""environment.yml, pyproject.toml, constraints.txt and the Makefile agree."""

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
    assert "-c constraints.txt" in pip, "the conda env installs the same torch as make setup"


def test_torch_is_a_range_and_ci_pins_it():
    """pyproject accepts any recent torch (a CUDA build included) and timm release 1.0.x; constraints.txt
    pins the builds `make setup` and CI install, and the pins satisfy pyproject's ranges."""
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = {Requirement(d).name: Requirement(d) for d in project["dependencies"]}
    pins = {
        Requirement(line).name: Requirement(line)
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert set(pins) == {"torch", "torchvision", "timm"}
    for name, pin in pins.items():
        assert not str(reqs[name].specifier).startswith("=="), f"{name} must be a range in pyproject.toml"
        version = str(pin.specifier).removeprefix("==")
        assert reqs[name].specifier.contains(version), f"{name}=={version} is outside {reqs[name].specifier}"
    make = (ROOT / "Makefile").read_text()
    assert "CONSTRAINTS ?= constraints.txt" in make and "-c $(CONSTRAINTS)" in make


def test_console_script_and_make_targets():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["bbadj"] == "bbadj.cli.main:main"
    make = (ROOT / "Makefile").read_text()
    for target in ("setup:", "test:", "repro:", "lab:", "coco:"):
        assert re.search(rf"^{target}", make, re.M), target
    assert "make test" in (ROOT / ".ci/run").read_text()
    study = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["study"]
    assert any(d.startswith("jupyterlab") for d in study), "make setup installs JupyterLab"


def test_importing_bbadj_makes_openmp_threads_sleep_while_they_wait():
    """OMP_WAIT_POLICY=PASSIVE before torch loads OpenMP (speed beside a busy process:
    docs/benchmarks.md); a value the user set is kept."""
    import os
    import subprocess
    import sys

    code = "import os, bbadj, torch; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert (
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()
        == "PASSIVE"
    )
    assert (
        subprocess.run(
            [sys.executable, "-c", code],
            env={**env, "OMP_WAIT_POLICY": "ACTIVE"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        == "ACTIVE"
    )


def test_a_wheel_carries_the_shipped_model_and_its_card(tmp_path):
    """bbadj snap, adjust and serve default to the shipped model: an installed bbadj, not only a clone, has it
    (and its quality head, docs/quality.md)."""
    import subprocess
    import sys
    import zipfile

    from bbadj.snap.quality import SHIPPED_HEAD
    from bbadj.snap.shipped import CARD, SHIPPED

    src = tmp_path / "src"  # a copy of what the wheel is built from: a build in the clone leaves build/ there
    listed = subprocess.run(["git", "ls-files", "bbadj", "pyproject.toml", "README.md"], cwd=ROOT, capture_output=True)
    for name in listed.stdout.decode().split():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes((ROOT / name).read_bytes())
    wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)]
    subprocess.run([*wheel, str(src)], check=True)
    names = zipfile.ZipFile(next(tmp_path.glob("bbadj-*.whl"))).namelist()
    for f in (SHIPPED, CARD, SHIPPED_HEAD):
        assert f.relative_to(ROOT).as_posix() in names, f

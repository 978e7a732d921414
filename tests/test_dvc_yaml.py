"""dvc.yaml lists, for each stage, the code its notebook runs: every bbadj module the notebook can
import (directly or through other modules, at any depth, including imports inside functions) is
a dependency, and every bbadj dependency is imported: a file it lists, the notebook imports; a
folder it lists (bbadj/data), the notebook imports one of its files at least, so a module added to
the folder needs no edit of dvc.yaml. A stage whose code changed without DVC knowing would keep
stale results; one that lists code it never runs reruns for nothing."""
import ast
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def module_file(module: str) -> Path | None:
    p = ROOT / Path(*module.split("."))
    for f in (p / "__init__.py", p.with_suffix(".py")):
        if f.exists():
            return f
    return None


def imported(code: str, package: str) -> set[str]:
    """bbadj modules named by the import statements of ``code`` (anywhere in it)."""
    out = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            out |= {base} | {f"{base}.{a.name}" for a in node.names}
    return {m for m in out if m.split(".")[0] == "bbadj"}


def closure(roots: set[str]) -> set[Path]:
    """The files of every bbadj module reachable from ``roots`` (a.b.c imports a and a.b too)."""
    seen, todo = set(), list(roots)
    while todo:
        parts = todo.pop().split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            f = module_file(name)
            if f and name not in seen:
                seen.add(name)
                todo.extend(imported(f.read_text(), name if f.name == "__init__.py" else name.rsplit(".", 1)[0]))
    return {module_file(m).relative_to(ROOT) for m in seen}


def notebook_code(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


PIPELINES = ("dvc.yaml", "long/dvc.yaml")  # the default tier's and the long tier's (bbadj/core/tiers.py)
STAGES = {f"{pipeline}:{name}": stage.get("do", stage) for pipeline in PIPELINES
          for name, stage in yaml.safe_load((ROOT / pipeline).read_text())["stages"].items()}
# the stages that run a command of the package rather than a notebook: the modules that command runs
COMMANDS = {"long/dvc.yaml:synth": "bbadj.data.synth"}


def stage_notebook(stage: dict) -> str | None:
    """The notebook a stage runs: `bbadj stage <train|evaluate|report> ...` (bbadj/study/stage.py)."""
    from bbadj.study.stage import NOTEBOOKS

    m = re.search(r"bbadj stage (\w+)", json.dumps(stage["cmd"]))
    return NOTEBOOKS[m.group(1)] if m else None


@pytest.mark.parametrize("name", [n for n, s in STAGES.items() if stage_notebook(s) or n in COMMANDS])
def test_stage_deps_are_the_code_it_imports(name):
    stage = STAGES[name]
    notebook = stage_notebook(stage)
    needed = closure(imported(notebook_code(ROOT / notebook), "bbadj") if notebook else {COMMANDS[name]})
    deps = [Path(d) for d in stage["deps"] if isinstance(d, str) and d.startswith("bbadj")]
    covered = lambda f: any(f == d or d in f.parents for d in deps)  # noqa: E731
    assert notebook is None or notebook in stage["deps"]
    missing = sorted(str(f) for f in needed if not covered(f))
    assert not missing, f"{name}: imports {missing}, which are not in its deps"
    unused = sorted(str(d) for d in deps if not any(f == d or d in f.parents for f in needed))  # file or folder
    assert not unused, f"{name}: depends on {unused}, which it never imports"


def test_every_stage_reads_its_data_through_a_dependency():
    for name, stage in STAGES.items():
        if name in COMMANDS:
            continue
        assert "data" in stage["deps"] or "reports/metrics" in stage["deps"], name

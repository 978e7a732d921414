"""The package's layers: the core never imports the study, the benchmarks or the command line,
and no module imports itself back through others (checked on every import statement, including
those inside functions)."""
import subprocess
import sys

import pytest

from test_dvc_yaml import ROOT, imported, module_file

CORE = ["bbadj.util", "bbadj.config", "bbadj.params", "bbadj.box_ops", "bbadj.data", "bbadj.model", "bbadj.losses",
        "bbadj.decoding", "bbadj.metrics", "bbadj.engine", "bbadj.evaluate", "bbadj.checkpoint", "bbadj.grabcut",
        "bbadj.detections", "bbadj.args", "bbadj.snap"]
OUTSIDE_CORE = ("bbadj.study", "bbadj.bench", "bbadj.cli")


def test_every_module_is_placed():
    """A new module is either core or above it: nothing escapes the layering test by being unlisted."""
    placed = CORE + list(OUTSIDE_CORE) + ["bbadj", "bbadj.__main__"]
    loose = [m for m in all_modules() if not any(m == p or m.startswith(p + ".") for p in placed)]
    assert not loose, f"add {loose} to CORE or OUTSIDE_CORE in tests/test_layering.py"


def all_modules() -> list[str]:
    return sorted(".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                  for p in (ROOT / "bbadj").rglob("*.py"))


def graph() -> dict[str, set[str]]:
    """module -> the bbadj modules its import statements name (a.b.c counts as a.b.c only)."""
    mods = set(all_modules())
    out = {}
    for m in mods:
        f = module_file(m)
        pkg = m if f.name == "__init__.py" else m.rsplit(".", 1)[0]
        out[m] = {t for t in imported(f.read_text(), pkg) if t in mods and t != m}
    return out


def reachable(start: str, g: dict[str, set[str]]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for n in g.get(todo.pop(), ()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


@pytest.mark.parametrize("core", CORE)
def test_the_core_imports_nothing_outside_it(core):
    g = graph()
    bad = sorted(m for m in reachable(core, g) | {core} for x in OUTSIDE_CORE if m == x or m.startswith(x + "."))
    assert not bad, f"{core} reaches {bad}"


def test_no_import_cycles():
    g = graph()
    cycles = sorted(m for m in g if m in reachable(m, g) and not module_file(m).name == "__init__.py")
    # a package's __init__ importing its own submodules is not a cycle of ideas; other modules are
    assert not cycles, f"modules that import themselves back: {cycles}"


def test_identity_evaluation_loads_neither_the_study_nor_the_benchmarks(tmp_path):
    code = ("import sys; from bbadj.cli.main import main; "
            f"main(['evaluate', '--identity', '--annotations', r'{ROOT / 'data/coco128/annotations/val.json'}', "
            f"'--images', r'{ROOT / 'data/coco128/images'}', '--repeats', '1', '--out', r'{tmp_path / 'i.json'}', "
            "'--no-progress']); "
            "print(sorted(m for m in sys.modules if m.startswith(('bbadj.study', 'bbadj.bench'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "i.json").exists()

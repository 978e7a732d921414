"""The package's layers, bottom to top, as ``bbadj/util/layout.py`` declares them (``LAYERS``, with what
each holds and why). A module's folder places it (a new module in a folder is placed at once); a
top-level module is listed by name. No module imports one of a higher layer, and no module imports
itself back through others (checked on every import statement, including those inside functions).

``bbadj/__init__.py``, the package's face, imports nothing by an import statement (its public
names load on first use), so every module may name it (``from .. import adjust``).
"""

import functools
import subprocess
import sys
from pathlib import Path

import pytest

from bbadj.fingerprint import code
from bbadj.util.layout import LAYERS, PACKAGE

ROOT = Path(__file__).resolve().parents[1]
FACE = PACKAGE


def module_file(module: str) -> Path | None:
    return code.module_file(module, ROOT)


def layer(module: str) -> int | None:
    """The index in LAYERS of ``module``'s layer (its longest listed prefix); -1 for the face."""
    if module == FACE:
        return -1
    found = [
        (len(p), i)
        for i, names in enumerate(LAYERS.values())
        for p in names
        if module == p or module.startswith(p + ".")
    ]
    return max(found)[1] if found else None


def all_modules() -> list[str]:
    return sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in (ROOT / "bbadj").rglob("*.py")
    )


@functools.cache
def graph() -> dict[str, frozenset[str]]:
    """module -> the bbadj modules its import statements name (a.b.c counts as a.b.c only)."""
    mods = set(all_modules())
    out = {}
    for m in mods:
        f = module_file(m)
        pkg = m if f.name == "__init__.py" else m.rsplit(".", 1)[0]
        out[m] = frozenset(t for t in code.imported(f.read_text(), pkg) if t in mods and t != m)
    return out


def reachable(start: str, g: dict[str, frozenset[str]]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for n in g.get(todo.pop(), ()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def test_every_module_is_placed():
    """A module of a folder in LAYERS is placed by it; a new top-level module must be listed."""
    loose = [m for m in all_modules() if layer(m) is None]
    assert not loose, f"add {loose} to a layer of LAYERS in bbadj/util/layout.py"


@pytest.mark.parametrize("module", all_modules())
def test_nothing_imports_a_higher_layer(module):
    names = list(LAYERS)
    up = sorted(f"{t} ({names[layer(t)]})" for t in graph()[module] if layer(t) > layer(module))
    assert not up, f"{module} ({names[layer(module)]}) imports {up}"


def test_no_import_cycles():
    g = graph()
    cycles = sorted(m for m in g if m in reachable(m, g) and not module_file(m).name == "__init__.py")
    # a package's __init__ importing its own submodules is not a cycle of ideas; other modules are
    assert not cycles, f"modules that import themselves back: {cycles}"


def test_identity_evaluation_loads_neither_the_study_nor_the_benchmarks(tmp_path):
    code = (
        "import sys; from bbadj.cli.main import main; "
        f"main(['evaluate', '--identity', '--annotations', r'{ROOT / 'data/coco128/annotations/val.json'}', "
        f"'--images', r'{ROOT / 'data/coco128/images'}', '--repeats', '1', '--out', r'{tmp_path / 'i.json'}', "
        "'--no-progress']); "
        "print(sorted(m for m in sys.modules if m.startswith(('bbadj.study', 'bbadj.bench'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "i.json").exists()

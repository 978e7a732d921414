"""Which code a stage runs, read from the source without importing it: the modules its entry (a
notebook's code cells, or a module; ``bbadj.util.layout.STAGES``) imports, at any depth, imports
inside functions included; and each one's code *normalised*: parsed and written back without its
comments and docstrings (``ast.unparse``), so that a comment, a docstring or a reformatting
changes no digest and nothing retrains (docs/which-code-trains.md).

A module that holds a registry of variants (``bbadj/core/registry.py``: a fusion, a decoder, a loss
or a decoding named where it is defined) counts, for one row, without the variants the row does not
use (``unused_definitions``), so a new variant changes the digest of its own rows only.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import json
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Iterable

from ..util.layout import PACKAGE
from ..core.registry import unused_definitions  # a row's unchosen variants (issue 32.3)

LIBRARIES = ("torch", "torchvision", "timm")  # their versions count as code: other kernels, other numbers


def package_parent() -> Path:
    """The folder that holds the imported package (``bbadj/``): the code this process runs."""
    return Path(__file__).resolve().parents[2]


def module_file(module: str, root: str | Path) -> Path | None:
    """The file of ``module`` (``bbadj.model.fusion``) under ``root``, or None (not a module: a name
    inside one, or another package's)."""
    p = Path(root, *module.split("."))
    for f in (p / "__init__.py", p.with_suffix(".py")):
        if f.is_file():
            return f
    return None


def imported(code: str | ast.AST, package: str) -> set[str]:
    """The package's modules that the import statements of ``code`` (source, or its tree) name, anywhere in it;
    ``package``: the package ``code`` belongs to (relative imports resolve against it)."""
    out = set()
    for node in ast.walk(ast.parse(code) if isinstance(code, str) else code):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            out |= {base} | {f"{base}.{a.name}" for a in node.names}
    return {m for m in out if m.split(".")[0] == PACKAGE}


def module_package(module: str, file: Path) -> str:
    """The package a module's relative imports resolve against: itself for an ``__init__.py``."""
    return module if file.name == "__init__.py" else module.rsplit(".", 1)[0]


def closure(roots: Iterable[str], root: str | Path) -> set[str]:
    """Every module of the package under ``root`` reachable from the modules ``roots`` by import
    statements (``a.b.c`` imports ``a`` and ``a.b`` too: their ``__init__`` runs first)."""
    seen, todo = set(), list(roots)
    while todo:
        parts = todo.pop().split(".")
        for i in range(1, len(parts) + 1):
            name = ".".join(parts[:i])
            f = module_file(name, root)
            if f and name not in seen:
                seen.add(name)
                todo.extend(_imports(name, *_key(f)))
    return seen


def _key(path: Path) -> tuple[Path, int, int]:
    """A file and what tells whether it changed since it was read (the caches' key)."""
    st = path.stat()
    return path.resolve(), st.st_mtime_ns, st.st_size


@lru_cache(maxsize=None)
def _tree(path: Path, mtime_ns: int, size: int) -> ast.Module:  # noqa: ARG001 (the cache's key)
    return ast.parse(path.read_text(), str(path))


@lru_cache(maxsize=None)
def _imports(module: str, path: Path, mtime_ns: int, size: int) -> frozenset[str]:
    return frozenset(imported(_tree(path, mtime_ns, size), module_package(module, path)))


def notebook_code(path: str | Path) -> str:
    """A notebook's code cells, one after another."""
    cells = json.loads(Path(path).read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def entry_code(entry: str, root: str | Path) -> tuple[str, set[str]]:
    """(the entry's own code, the modules it imports): a notebook's code cells, or a module's
    source (then it is its own first module)."""
    if entry.endswith(".ipynb"):
        code = notebook_code(Path(root, entry))
        return code, imported(code, PACKAGE)
    return "", {entry}


def stage_files(entry: str, root: str | Path) -> list[Path]:
    """The files of the code a stage with ``entry`` runs, relative to ``root``: the notebook (if
    it is one) and every module its closure holds."""
    root = Path(root)
    _, roots = entry_code(entry, root)
    files = [module_file(m, root).relative_to(root) for m in closure(roots, root)]
    return ([Path(entry)] if entry.endswith(".ipynb") else []) + sorted(files)


def _strip(body: list[ast.stmt], drop: frozenset[str] = frozenset()) -> list[ast.stmt]:
    """``body`` without its docstring (a leading string expression) and the definitions ``drop``
    names; the bodies of the definitions it keeps likewise. Copies what it changes."""
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    out = []
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name in drop:
                continue
            node = copy.copy(node)
            node.body = _strip(node.body) or [ast.Pass()]
        out.append(node)
    return out


def normalised(source: str | ast.Module, drop: frozenset[str] = frozenset(), where: str = "<code>") -> str:
    """``source`` (or its tree) as its syntax tree writes it back: no comments, no docstrings, one
    layout; without the top-level definitions ``drop`` names."""
    try:
        tree = ast.parse(source) if isinstance(source, str) else source
    except SyntaxError as e:
        raise SyntaxError(f"{where}: {e.msg} (line {e.lineno}); its code digest needs Python it can parse") from e
    return ast.unparse(ast.Module(body=_strip(tree.body, drop), type_ignores=[]))


@lru_cache(maxsize=None)
def _file_digest(path: Path, mtime_ns: int, size: int, drop: frozenset[str]) -> str:
    text = normalised(_tree(path, mtime_ns, size), drop, str(path))
    return hashlib.sha256(text.encode()).hexdigest()


def file_digest(path: str | Path, root: str | Path, config: dict | None = None) -> str:
    """The digest of one file of a stage's code, normalised (``normalised``): a module without the
    variants ``config`` does not use, a notebook's code cells."""
    path = Path(root, path)
    if path.suffix == ".ipynb":
        return hashlib.sha256(normalised(notebook_code(path), where=str(path)).encode()).hexdigest()
    key = _key(path)
    return _file_digest(*key, _unused(*key, json.dumps(config, sort_keys=True) if config is not None else None))


@lru_cache(maxsize=None)
def _unused(path: Path, mtime_ns: int, size: int, config: str | None) -> frozenset[str]:  # noqa: ARG001
    """``unused_definitions`` of a module that registers variants (``.register(`` in it), for a row's
    config (JSON, hashable); nothing for any other module, or without a row."""
    source = path.read_text()
    if config is None or ".register(" not in source:
        return frozenset()
    return frozenset(unused_definitions(source, json.loads(config)))


def libraries() -> dict[str, str]:
    """The versions of ``LIBRARIES`` installed here (``absent`` where one is not)."""
    out = {}
    for dist in LIBRARIES:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


def code_files(entry: str, root: str | Path, config: dict | None = None) -> dict[str, str]:
    """Each file of the stage's code (``stage_files``) -> its normalised digest, in path order."""
    return {f.as_posix(): file_digest(f, root, config) for f in stage_files(entry, root)}


def code_digest(entry: str, root: str | Path | None = None, config: dict | None = None) -> str:
    """One digest of the code a stage with ``entry`` runs for a row with ``config`` (under
    ``root``, default the imported package's folder), and of the libraries' versions."""
    files = code_files(entry, root or package_parent(), config)
    return digest([f"{p}\0{d}" for p, d in files.items()] + [f"{k}=={v}" for k, v in libraries().items()])


def digest(items: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(items).encode()).hexdigest()

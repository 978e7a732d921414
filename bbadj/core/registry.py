"""The named variants of the model and its training: each fusion, decoder, loss, decoding and
training objective is named once, where it is defined, by a decorator::

    @FUSIONS.register("fpn")
    class FPNSum(nn.Module): ...

and built by that name (``FUSIONS.get("fpn")``); the settings that choose one (``model.fusion``,
...) take the names registered.

Two readings of the same declaration, which ``tests/test_registry.py`` holds equal:

- at run time, ``get``/``runtime_names``: what the decorators registered when the defining module
  was imported (the objects themselves);
- from the source, ``names``/``meta``: the decorators' literal arguments read from the defining
  module's file with ``ast``, without importing it. Config validation and the command line's
  choices read these: the defining modules import torch, torchvision and timm (2 to 5 s here),
  and every ``bbadj stage`` checks its params before its kernel starts.

``unused_definitions`` tells the code fingerprint which top-level definitions of a module belong
only to variants a row does not use, so that a new variant (or an edit of one) changes the digest
of the rows that use it and of no other. A private helper (``_name``) referenced only from
variants counts for the rows of those variants; anything else (a public name, a helper used by
module-level code) counts for every row, because another module may use it.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Any, Callable

from ..util.errors import UnknownName

_PACKAGE = Path(__file__).resolve().parents[1]


class Registry:
    """The variants of one kind: ``var`` is the registry's name in the defining module (the
    decorator's), ``source`` that module's file under ``bbadj/``, ``key`` the setting that chooses
    one (as ``--set`` spells it: ``model.fusion``)."""

    def __init__(self, kind: str, var: str, source: str, key: str):
        self.kind, self.var, self.source, self.key = kind, var, source, key
        self._objects: dict[str, Any] = {}
        self._meta: dict[str, dict] = {}

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.key})"

    def register(self, name: str, **meta) -> Callable:
        """Decorator: the class or function below is the variant ``name``; ``meta`` (literals
        only, so the source reading sees them) describes it, e.g. ``output="laplace"``."""

        def add(obj):
            if name in self._objects:
                raise ValueError(f"{self.kind} {name!r} is registered twice ({self._objects[name]!r}, {obj!r})")
            self._objects[name], self._meta[name] = obj, dict(meta)
            return obj

        return add

    def get(self, name: str):
        """The variant registered as ``name`` (its defining module must have been imported: the
        module that builds one is that module, or imports it); an unknown name is an
        ``UnknownName`` naming the setting and the choices."""
        if name not in self._objects:
            raise UnknownName(
                f"unknown {self.kind} {name!r} ({self.key}); choose one of "
                f"{', '.join(self._objects) or '(none registered: import ' + self.source + ')'}"
            )
        return self._objects[name]

    def runtime_names(self) -> tuple[str, ...]:
        return tuple(self._objects)

    def runtime_meta(self, name: str) -> dict:
        return dict(self._meta[name])

    # the source reading

    def names(self) -> tuple[str, ...]:
        """The names the defining module registers, in file order, read from its source."""
        return tuple(_declared(self.path, self.var))

    def meta(self, name: str) -> dict:
        """The literal keyword arguments of ``name``'s decorator, read from the source."""
        declared = _declared(self.path, self.var)
        if name not in declared:
            raise UnknownName(f"unknown {self.kind} {name!r} ({self.key}); choose one of {', '.join(declared)}")
        return dict(declared[name][1])

    def defined_by(self, name: str) -> str:
        """The top-level definition (class or function name) registered as ``name``."""
        return _declared(self.path, self.var)[name][0]

    @property
    def path(self) -> Path:
        return _PACKAGE / self.source

    def chosen(self, cfg: dict) -> str | None:
        """The name ``cfg`` (a config as a nested dict) sets at ``key``; None where it has none."""
        node: Any = cfg
        for part in self.key.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node


FUSIONS = Registry("fusion", "FUSIONS", "model/fusion.py", "model.fusion")
DECODERS = Registry("decoder", "DECODERS", "model/decoders.py", "model.decoder")
DECODINGS = Registry("decoding", "DECODINGS", "model/decoding.py", "eval.decoding")
LOSSES = Registry("loss", "LOSSES", "train/losses.py", "train.loss")
OBJECTIVES = Registry("objective", "OBJECTIVES", "train/objectives.py", "train.objective")
REGISTRIES = (FUSIONS, DECODERS, DECODINGS, LOSSES, OBJECTIVES)


@functools.lru_cache(maxsize=None)
def _declared(path: Path, var: str) -> dict[str, tuple[str, dict]]:
    return {
        name: (definition, meta) for definition, var_, name, meta in _registrations(path.read_text()) if var_ == var
    }


def _registrations(source: str) -> list[tuple[str, str, str, dict]]:
    """(definition, registry variable, name, meta) of every ``@VAR.register("name", k=literal)``
    on a top-level class or function of ``source``."""
    out = []
    for node in ast.parse(source).body:
        if not isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            continue
        for dec in node.decorator_list:
            if (
                isinstance(dec, ast.Call)
                and isinstance(dec.func, ast.Attribute)
                and dec.func.attr == "register"
                and isinstance(dec.func.value, ast.Name)
                and dec.args
            ):
                meta = {k.arg: ast.literal_eval(k.value) for k in dec.keywords}
                out.append((node.name, dec.func.value.id, ast.literal_eval(dec.args[0]), meta))
    return out


def unused_definitions(source: str, cfg: dict) -> set[str]:
    """The top-level definitions of module ``source`` that a row of config ``cfg`` (a nested dict:
    ``Config.to_dict()``, or part of it) does not run: the variants registered there that it does
    not choose, and the private helpers only they reference. A registry whose setting ``cfg`` lacks
    counts all its variants as used (``eval.decoding`` in a training's config, for example)."""
    by_var = {r.var: r for r in REGISTRIES}
    tree = ast.parse(source)
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))}
    unused = set()
    for definition, var, name, _ in _registrations(source):
        registry = by_var.get(var)
        chosen = registry.chosen(cfg) if registry else None
        if chosen is not None and chosen != name:
            unused.add(definition)
    # what stays: module-level code, public definitions and the chosen variants, and every
    # top-level definition they reference (transitively)
    live = {n for n in defs if n not in unused and (not n.startswith("_") or n.startswith("__"))}
    todo = [node for node in tree.body if not isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
    todo += [defs[n] for n in live]
    while todo:
        for ref in _names(todo.pop()):
            if ref in defs and ref not in live:  # a variant another live one uses (a subclass) runs too
                live.add(ref)
                todo.append(defs[ref])
    return set(defs) - live


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}

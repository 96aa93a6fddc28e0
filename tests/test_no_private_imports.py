"""No module reaches into another project module's private names.

A *private name* starts with one underscore (``_x``; dunders such as ``__version__`` are
not private). A *project module* is one of this repository's: ``phonjax``,
``phonjax_adapters`` (the ``adapters/`` folder), ``validation``, ``tests``, any relative
import, or a script next to the importing one in a folder that is not a package (e.g.
``adapter_checks`` beside the adapter tests). The rule, checked in every ``.py`` file
under phonjax/, adapters/, validation/, tests/, scripts/ and examples/:

* no ``from M import _x`` where M is a project module (``import M as _m`` or
  ``from M import f as _f``, private aliases of public names, are fine);
* no ``m._x``, nor ``getattr``/``setattr``/``monkeypatch.setattr(m, "_x", ...)``, where
  ``m`` is a name bound to an imported project module (``self._x``, ``cls._x`` and a
  module's own names are not affected).

One exception, for tests only: ``tests/**/test_<name>.py`` may reach the private names
of the module it tests, a project module whose last dotted part is ``<name>``
(``tests/test_cli.py`` may use ``phonjax.cli._run_phonons``), and of no other. Anything
that two modules share gets a public name in the module where it belongs.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("phonjax", "adapters", "validation", "tests", "scripts", "examples")
PROJECT_TOPS = {"phonjax", "phonjax_adapters", "adapters", "validation", "tests"}
ATTRIBUTE_CALLS = {"getattr", "setattr", "hasattr", "delattr"}


def is_private(name: str) -> bool:
    """``_x`` but not ``__x__``."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def project_files() -> list[Path]:
    """Every .py file of the checked folders (virtual environments and caches left out)."""
    return [path for folder in FOLDERS for path in sorted((ROOT / folder).rglob("*.py"))
            if not {".venv", "__pycache__", "build"} & set(path.relative_to(ROOT).parts)]


def sibling_scripts(folder: Path) -> set[str]:
    """Bare module names a script imports from its own folder, when that folder is not a
    package (pytest and ``python script.py`` put it on ``sys.path``)."""
    if (folder / "__init__.py").is_file() or not folder.is_dir():
        return set()
    return {p.stem for p in folder.glob("*.py")} - set(sys.stdlib_module_names)


def is_submodule(name: str) -> bool:
    """Whether ``name`` (dotted) is a module or package file of this repository."""
    parts = name.split(".")
    if parts[0] == "phonjax_adapters":
        parts[0] = "adapters"
    base = ROOT.joinpath(*parts)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


class Checker:
    """The rule applied to one file's source; ``rel``: its path from the repository root."""

    def __init__(self, source: str, rel: Path, siblings: set[str]):
        self.tree = ast.parse(source, filename=str(rel))
        self.rel, self.siblings = rel, siblings
        self.found: list[tuple[int, str]] = []

    def is_project(self, module: str | None, level: int = 0) -> bool:
        top = (module or "").split(".")[0]
        return level > 0 or top in PROJECT_TOPS or top in self.siblings

    def exempt(self, module: str) -> bool:
        """The tests-only exception: ``test_<name>.py`` may use the privates of ``…<name>``."""
        stem = self.rel.stem
        return (self.rel.parts[0] == "tests" and stem.startswith("test_")
                and module.split(".")[-1] == stem[len("test_"):])

    def reach(self, node: ast.AST, module: str, name: str) -> None:
        if is_private(name) and not self.exempt(module):
            self.found.append((node.lineno, module + ("" if module.endswith(".") else ".") + name))

    def modules(self) -> dict[str, str]:
        """Names bound to project *modules* by the file's imports → the module's name."""
        bound = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if self.is_project(a.name):
                        bound[a.asname or a.name.split(".")[0]] = (
                            a.name if a.asname else a.name.split(".")[0])
            elif (isinstance(node, ast.ImportFrom) and node.level == 0
                  and self.is_project(node.module)):
                for a in node.names:  # a submodule, not a function or class
                    if is_submodule(f"{node.module}.{a.name}"):
                        bound[a.asname or a.name] = f"{node.module}.{a.name}"
        return bound

    def run(self) -> list[str]:
        """``file:line: module._name`` for each private name of another module used."""
        modules = self.modules()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ImportFrom) and self.is_project(node.module, node.level):
                for a in node.names:
                    self.reach(node, "." * node.level + (node.module or ""), a.name)
            elif isinstance(node, ast.Attribute):
                chain, root = [], node
                while isinstance(root, ast.Attribute):
                    chain.insert(0, root.attr)
                    root = root.value
                # reported at the first private part of a chain rooted at a module's name
                if (isinstance(root, ast.Name) and root.id in modules
                        and not any(is_private(p) for p in chain[:-1])):
                    self.reach(node, ".".join([modules[root.id], *chain[:-1]]), node.attr)
            elif isinstance(node, ast.Call) and len(node.args) >= 2:
                func, (target, name) = node.func, node.args[:2]
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
                if (called in ATTRIBUTE_CALLS and isinstance(target, ast.Name)
                        and target.id in modules and isinstance(name, ast.Constant)
                        and isinstance(name.value, str)):
                    self.reach(node, modules[target.id], name.value)
        return [f"{self.rel}:{line}: {what}" for line, what in sorted(self.found)]


def violations(path: Path) -> list[str]:
    """The rule's violations in one file of the repository."""
    return Checker(path.read_text(encoding="utf-8"), path.relative_to(ROOT),
                   sibling_scripts(path.parent)).run()


def test_checker_finds_each_form():
    """The checker itself, on a made-up file: each form found, the allowed ones not."""
    source = ("from phonjax.bench import compute\nfrom phonjax.harmonic.system import _unique_rows\n"
              "import phonjax.harmonic.system as prep\nx = compute._hidden.attr\ny = prep._other\n"
              "from phonjax.harmonic.system import prepare as _fine\nz = compute.model_rows\n"
              "setattr(compute, '_patched', 1)\nimport phonjax\nw = phonjax.structure.supercell._deep\n"
              "from . import _relative\nclass A:\n    def f(self):\n        return self._own\n"
              "from adapter_checks import _helper\nimport numpy as np\nv = np._NoValue\n")
    found = Checker(source, Path("validation/probe.py"), {"adapter_checks"}).run()
    assert found == ["validation/probe.py:2: phonjax.harmonic.system._unique_rows",
                     "validation/probe.py:4: phonjax.bench.compute._hidden",
                     "validation/probe.py:5: phonjax.harmonic.system._other",
                     "validation/probe.py:8: phonjax.bench.compute._patched",
                     "validation/probe.py:10: phonjax.structure.supercell._deep",
                     "validation/probe.py:11: ._relative",
                     "validation/probe.py:15: adapter_checks._helper"]
    as_test = Checker("from phonjax.harmonic.system import _unique_rows\nfrom phonjax.cli import _x\n",
                      Path("tests/test_system.py"), set()).run()
    assert as_test == ["tests/test_system.py:2: phonjax.cli._x"]  # its own subject is exempt


def test_no_module_uses_another_modules_private_names():
    """The rule of the module docstring, over the whole repository."""
    found = [v for path in project_files() for v in violations(path)]
    assert not found, ("private names of other modules used (give them a public name where "
                       "they belong):\n" + "\n".join(found))

"""phonopy's own test suite (its inputs and expected numbers) run through phonjax's public API.

Issue 28's "done means": phonopy's reference values for the features phonjax took from it hold,
through the public API, at phonopy's tolerances. For every test function of the phonopy test
modules in ``SCOPE`` this script

1. reads the test's inputs from a phonopy git mirror at run time (``git show REV:test/...``:
   the files the conftest.py fixture named by the test's argument loads, with that fixture's
   options; the POSCAR/FORCE_SETS pairs of test_irreps.py; no network) and its expected numbers
   (the literal lists, arrays and strings the test names, by ``ast.literal_eval`` of phonopy's
   test source: nothing is copied into this repository);
2. computes the same quantity with phonjax's public API: ``Phonons.from_dataset`` and its
   methods (``produce_force_constants``, ``modes_at``, ``run_band_structure``, ``run_mesh``,
   ``run_dos``, ``run_thermal_properties``, ``run_group_velocities``,
   ``run_thermal_displacements``, ``run_thermal_displacement_matrices``, ``irreps``,
   ``run_modulations``, ``write``), ``phonjax.read_input``, ``phonjax.prepare`` (generated
   one-atom displacements), ``phonjax.harmonic.random_displacements``,
   ``phonjax.harmonic.fc_options.compact_force_constants``, the writers of
   ``phonjax.phonon.thermal_displacements`` and ``phonjax.single.dos.equivalent_atoms``;
   phonopy only builds inputs where the fixture is a phonopy object (irreps' unit cell +
   FORCE_SETS, AgNO2 with zero forces), never the compared numbers;
3. compares at the tolerance of phonopy's assertion: ``np.testing.assert_allclose``'s rule
   |a − b| ≤ atol + rtol·|b| (rtol 1e-7 unless the test gives one), counts and shapes exactly.

A dynamical matrix (test_dynamical_matrix.py) is phonjax's D(q) = E·diag(λ)·E†, λ = sign(ν)·
(ν / FORCE_CONSTANT_TO_THZ)², from ``modes_at``'s frequencies and eigenvectors (phonopy's phase
convention): phonjax has no dynamical-matrix output of its own.

Each row of ``validation/results/phonopy_suite.csv`` is one phonopy test function (a
parametrized test is one row): ``expressible`` is "yes", "partial: …" (some parametrizations
or assertions), "no: gap: …" (a phonjax API that is missing; the signature it would need is in
the note) or "out of scope: …" (phonopy internals with no phonjax counterpart: its option
parsers, grid classes, symfc's basis sets, file compression, deprecations). The summary counts
expressible tests of those in scope (all but "out of scope").

    cd /work/main && PYTHONPATH=. .venv/bin/python validation/phonopy_suite.py \
        [--phonopy-repo GIT_DIR] [--rev v4.10.0] [--only SUBSTRING] [--out validation/results]
"""

from __future__ import annotations

import argparse
import ast
import csv
import io
import itertools
import operator
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

DEFAULT_REPO = Path("/work/.mirror/phonopy+phonopy/repo")
WANTED_TAG = "v4.10.0"  # the phonopy release phonjax matches
RTOL = 1e-7  # np.testing.assert_allclose's default, which phonopy's tests keep
BASE_SETTINGS = {"mesh": (3, 3, 3)}  # the kernel's own mesh (F/S/Cv at produce time): small

SCOPE = {  # phonopy test module -> feature
    "phonon/test_group_velocity.py": "group velocity",
    "phonon/test_thermal_displacement.py": "thermal displacements",
    "phonon/test_modulation.py": "modulation",
    "phonon/test_irreps.py": "irreps",
    "phonon/test_band_structure.py": "band structure",
    "phonon/test_thermal_properties.py": "thermal properties",
    "phonon/test_thermal_properties_classical.py": "thermal properties (classical)",
    "phonon/test_dos.py": "DOS",
    "phonon/test_mesh.py": "mesh",
    "phonon/test_qpoints.py": "q-points",
    "phonon/test_grid.py": "mesh from length / grids",
    "phonon/test_random_displacements.py": "random displacements (thermal)",
    "harmonic/test_displacements.py": "displacements",
    "harmonic/test_force_constants.py": "force constants",
    "harmonic/test_dynamical_matrix.py": "dynamical matrix / NAC",
    "interface/test_symfc.py": "force constants (symfc)",
}


# --- outcomes ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One test's result: ``passed`` None when not run."""

    expressible: str
    passed: bool | None = None
    max_dev: float | None = None
    tolerance: str = ""
    note: str = ""


@dataclass
class Checks:
    """The assertions of one test, phonopy's rule each; ``outcome`` sums them up."""

    devs: list = field(default_factory=list)
    tols: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    notes: list = field(default_factory=list)

    def close(self, what: str, actual, expected, atol: float, rtol: float = RTOL,
              absolute: bool = False) -> None:
        a, b = np.asarray(actual), np.asarray(expected)
        if absolute:
            a, b = np.abs(a), np.abs(b)
        if a.shape != b.shape:
            self.failed.append(f"{what}: shape {a.shape} vs {b.shape}")
            return
        diff = np.abs(a - b)
        self.devs.append(float(diff.max()) if diff.size else 0.0)
        self.tols.append(f"atol {atol:g}")
        if not (diff <= atol + rtol * np.abs(b)).all():
            self.failed.append(f"{what}: max |Δ| {diff.max():.3g} > atol {atol:g}")
        elif diff.size and diff.max() > atol:
            self.notes.append(f"{what}: |Δ| {diff.max():.4g} > atol, within atol + rtol·|b|")

    def equal(self, what: str, actual, expected) -> None:
        a, b = np.asarray(actual), np.asarray(expected)
        self.tols.append("exact")
        if a.shape != b.shape or not (a == b).all():
            self.failed.append(f"{what}: {a.tolist()} vs {b.tolist()}")
            if a.shape == b.shape and np.issubdtype(a.dtype, np.number):
                self.devs.append(float(np.abs(a - b).max()))

    def true(self, what: str, condition) -> None:
        self.tols.append("exact")
        if not bool(condition):
            self.failed.append(what)

    def raises(self, what: str, call: Callable) -> None:
        self.tols.append("raises")
        try:
            call()
        except (ValueError, RuntimeError):
            return
        self.failed.append(f"{what}: no error raised")

    def outcome(self, expressible: str = "yes", note: str = "") -> Outcome:
        tol = ", ".join(dict.fromkeys(self.tols))
        notes = "; ".join([*self.failed, *self.notes, *([note] if note else [])])
        return Outcome(expressible, not self.failed, max(self.devs) if self.devs else None,
                       tol, notes)


# --- phonopy's test sources -------------------------------------------------------------------


OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
             ast.Div: operator.truediv}


def literal(node: ast.AST):
    """A literal of phonopy's test source: constants, lists and tuples of them, arithmetic
    (``1.0 / 3``, ``["Na"] * 8 + ["Cl"] * 8``), ``np.array(x, ...)``, ``np.eye(n)``,
    ``np.diag(x)`` and ``set([...])``; anything else is a ``ValueError``."""
    if isinstance(node, ast.Call):
        fn = ast.unparse(node.func)
        if fn in ("np.array", "np.eye", "np.diag", "set"):
            value = literal(node.args[0])
            return {"np.array": np.array, "np.eye": np.eye, "np.diag": np.diag,
                    "set": set}[fn](value)
    if isinstance(node, (ast.List, ast.Tuple)):
        values = [literal(e) for e in node.elts]
        return values if isinstance(node, ast.List) else tuple(values)
    if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
        return OPERATORS[type(node.op)](literal(node.left), literal(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = literal(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    return ast.literal_eval(node)


class PhonopyTests:
    """phonopy's test folder at one revision of a bare git mirror (read with ``git show``)."""

    def __init__(self, git_dir: Path, rev: str):
        self.git_dir, self.rev = Path(git_dir), rev
        self._modules: dict[str, ast.Module] = {}

    def read(self, path: str) -> bytes:
        out = subprocess.run(["git", f"--git-dir={self.git_dir}", "show", f"{self.rev}:{path}"],
                             capture_output=True)
        if out.returncode:
            raise FileNotFoundError(f"{self.rev}:{path}: {out.stderr.decode().strip()}")
        return out.stdout

    def module(self, name: str) -> ast.Module:
        if name not in self._modules:
            self._modules[name] = ast.parse(self.read(f"test/{name}").decode())
        return self._modules[name]

    def function(self, module: str, name: str) -> ast.FunctionDef:
        for node in self.module(module).body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                return node
        raise KeyError(f"{module}: no function {name}")

    def tests(self, module: str) -> list[str]:
        return [n.name for n in self.module(module).body
                if isinstance(n, ast.FunctionDef) and n.name.lower().startswith("test")]

    def value(self, module: str, name: str, function: str | None = None):
        """The literal assigned to ``name`` in ``function`` (None: at module level)."""
        scope = self.function(module, function) if function else self.module(module)
        nodes = ast.walk(scope) if function else scope.body
        for node in nodes:
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == name for t in node.targets):
                return literal(node.value)
        raise KeyError(f"{module}: no literal {name}" + (f" in {function}" if function else ""))

    def calls(self, module: str, function: str, callee: str) -> list[ast.Call]:
        """Calls of ``callee`` (a name or an attribute's last part) in ``function``."""
        def name(c):
            return c.func.attr if isinstance(c.func, ast.Attribute) else getattr(c.func, "id", "")

        return [c for c in ast.walk(self.function(module, function))
                if isinstance(c, ast.Call) and name(c) == callee]

    def expected(self, module: str, function: str, callee: str = "assert_allclose",
                 index: int = 0):
        """(expected literal, atol) of the ``index``-th ``callee`` call in ``function``."""
        call = self.calls(module, function, callee)[index]
        kw = {k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg in ("atol",)}
        node = call.args[1]
        if isinstance(node, ast.Name):  # a literal named in the function or the module
            try:
                return self.value(module, node.id, function), kw.get("atol", 0.0)
            except KeyError:
                return self.value(module, node.id), kw.get("atol", 0.0)
        return literal(node), kw.get("atol", 0.0)

    def compared(self, module: str, function: str, side_contains: str):
        """The literal of ``assert <expr> == <literal>`` (either way round) whose expression
        side mentions ``side_contains``."""
        for node in ast.walk(self.function(module, function)):
            if not (isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.Eq)):
                continue
            for expr, other in ((node.left, node.comparators[0]), (node.comparators[0], node.left)):
                if side_contains in ast.unparse(expr):
                    try:
                        return literal(other)
                    except ValueError:
                        continue
        raise KeyError(f"{function}: no '{side_contains} == literal'")

    def fixture_argument(self, module: str, function: str) -> str:
        args = [a.arg for a in self.function(module, function).args.args]
        return next(a for a in args if a.startswith("ph_"))


# --- inputs: conftest fixtures as phonjax folders ---------------------------------------------


@dataclass(frozen=True)
class FixtureSpec:
    """What conftest.py's fixture loads: files (name in the folder -> test path) and options."""

    files: dict
    options: dict
    wang: bool

    @property
    def compact(self) -> bool:
        """phonopy.load's is_compact_fc (True unless the fixture says otherwise)."""
        return self.options.get("is_compact_fc", True)


def folder_name(test_file: str) -> str:
    """The name phonjax reads in a folder for one of phonopy's test yaml files."""
    xz = ".xz" if test_file.endswith(".xz") else ""
    if "phonopy_params" in test_file:
        return "phonopy_params.yaml" + xz
    if "phonopy_disp" in test_file:
        return "phonopy_disp.yaml" + xz
    return "phonopy.yaml" + xz


def fixture_spec(tests: PhonopyTests, fixture: str) -> FixtureSpec:
    fn = tests.function("conftest.py", fixture)
    paths = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.BinOp) \
                and isinstance(node.value.right, ast.Constant):
            paths[node.targets[0].id] = str(node.value.right.value)
    load = next(c for c in ast.walk(fn) if isinstance(c, ast.Call)
                and ast.unparse(c.func) == "phonopy.load")
    files = {folder_name(paths[load.args[0].id]): paths[load.args[0].id]}
    options = {}
    for kw in load.keywords:
        if kw.arg == "force_sets_filename":
            files["FORCE_SETS"] = paths[kw.value.id]
        elif kw.arg == "born_filename":
            files["BORN"] = paths[kw.value.id]
        elif isinstance(kw.value, ast.Constant):
            options[kw.arg] = kw.value.value
    wang = any(isinstance(n, ast.Constant) and n.value == "wang" for n in ast.walk(fn))
    return FixtureSpec(files, options, wang)


def phonopy_folder(ph, folder: Path) -> Path:
    """A phonopy object's cell, matrices and displacement dataset as phonopy_disp.yaml +
    FORCE_SETS (type 1 or 2) in ``folder``: an input phonjax reads (``phonjax.read_input``)."""
    from phonopy.file_IO import write_FORCE_SETS

    folder.mkdir(parents=True, exist_ok=True)
    ph.save(folder / "phonopy_disp.yaml", settings={"force_sets": False, "displacements": True,
                                                    "force_constants": False})
    write_FORCE_SETS(ph.dataset, filename=str(folder / "FORCE_SETS"))
    return folder


class Suite:
    """Inputs as folders under ``workdir`` and the ``Phonons`` made of them, each made once
    (conftest fixtures with the same files and phonjax settings share them)."""

    def __init__(self, tests: PhonopyTests, workdir: Path):
        self.tests, self.workdir = tests, workdir
        self._folders: dict[tuple, tuple[Path, str]] = {}
        self._phonons: dict = {}

    def fixture_folder(self, fixture: str) -> tuple[Path, str]:
        """The folder of conftest's ``fixture`` and a note (how it had to be converted)."""
        spec = fixture_spec(self.tests, fixture)
        key = tuple(sorted(spec.files.items()))
        if key not in self._folders:
            import phonjax

            folder = self.workdir / f"input-{len(self._folders)}"
            folder.mkdir(parents=True)
            for name, path in spec.files.items():
                (folder / name).write_bytes(self.tests.read(f"test/{path}"))
            note = ""
            if phonjax.read_input(folder).forces is None:  # a type-2 phonopy_params.yaml
                import phonopy

                ph = phonopy.load(folder / next(iter(spec.files)), produce_fc=False, log_level=0)
                folder = phonopy_folder(ph, folder.with_name(folder.name + "-converted"))
                note = (f"read gap: phonjax.read_input reads no forces from "
                        f"{next(iter(spec.files.values()))} (phonopy's type-2 'displacements:' "
                        "section); input converted by phonopy to phonopy_disp.yaml + FORCE_SETS")
            self._folders[key] = (folder, note)
        return self._folders[key]

    def fixture_settings(self, fixture: str) -> dict:
        """phonjax settings for conftest's options (``nac="wang"``: Wang's method)."""
        spec = fixture_spec(self.tests, fixture)
        out = {}
        if spec.options.get("is_nac") is False:
            out["nac"] = False
        if spec.options.get("symmetrize_fc") is False:
            out["symmetrize_fc"] = False
        if "fc_calculator" in spec.options:
            out["fc_calculator"] = spec.options["fc_calculator"]
        if spec.wang:
            out["nac"] = "wang"
        return out

    def phonons(self, fixture: str, **settings):
        """``Phonons.from_dataset`` of conftest's ``fixture`` (its options) with ``settings``."""
        folder, _ = self.fixture_folder(fixture)
        settings = {**BASE_SETTINGS, **self.fixture_settings(fixture), **settings}
        key = (str(folder), tuple(sorted((k, repr(v)) for k, v in settings.items())))
        if key not in self._phonons:
            import phonjax
            from phonjax import Phonons

            if settings.get("nac") == "wang":
                settings["nac"] = phonjax.read_input(folder).nac.replace(method="wang")
            self._phonons[key] = Phonons.from_dataset(folder, **settings)
        return self._phonons[key]

    def note(self, fixture: str) -> str:
        return self.fixture_folder(fixture)[1]

    def built(self, name: str, make: Callable, **settings):
        """``Phonons`` of an input that phonopy builds (``make(folder)`` writes it)."""
        key = (name, tuple(sorted((k, repr(v)) for k, v in settings.items())))
        if key not in self._phonons:
            from phonjax import Phonons

            folder = self.workdir / name
            if not folder.exists():
                make(folder)
            self._phonons[key] = Phonons.from_dataset(folder, **{**BASE_SETTINGS, **settings})
        return self._phonons[key]

    def agno2(self, primitive_matrix, random: bool = False, **settings):
        """AgNO2 (conftest's agno2_cell) in a 1×1×1 supercell with zero forces: one-atom
        displacements, or phonopy's 2 random snapshots (seed 1, 0.01 Å)."""
        def make(folder):
            import phonopy
            from phonopy.interface.phonopy_yaml import read_cell_yaml

            cell_file = self.workdir / "AgNO2_cell.yaml"
            cell_file.write_bytes(self.tests.read("test/AgNO2_cell.yaml"))
            ph = phonopy.Phonopy(read_cell_yaml(cell_file), supercell_matrix=[1, 1, 1],
                                 primitive_matrix=primitive_matrix)
            if random:
                ph.generate_displacements(distance=0.01, number_of_snapshots=2, random_seed=1)
            else:
                ph.generate_displacements()
            ph.forces = np.zeros((len(ph.displacements), len(ph.supercell), 3))
            phonopy_folder(ph, folder)

        name = f"agno2-{'eye' if not isinstance(primitive_matrix, str) else primitive_matrix}" \
               f"{'-random' if random else ''}"
        return self.built(name, make, **settings)


# --- the runners: one per phonopy test (or family of tests) ----------------------------------

RUNNERS: dict[tuple[str, str], Callable] = {}
NOT_EXPRESSIBLE: dict[tuple[str, str], str] = {}


def case(module: str, *names: str):
    """Register a runner ``fn(suite, module, name) -> Outcome`` for phonopy tests ``names``."""
    def add(fn):
        for name in names:
            RUNNERS[(module, name)] = fn
        return fn
    return add


def unexpressible(module: str, reason: str, *names: str) -> None:
    for name in names:
        NOT_EXPRESSIBLE[(module, name)] = reason


# group velocity ------------------------------------------------------------------------------

GV = "phonon/test_group_velocity.py"


@case(GV, "test_gv_nacl", "test_gv_nacl_wang", "test_gv_si")
def group_velocity(s: Suite, module: str, name: str) -> Outcome:
    fixture = s.tests.fixture_argument(module, name)
    ref, atol = s.tests.value(module, "gv_ref", name), s.tests.expected(module, name)[1]
    v = s.phonons(fixture).run_group_velocities([[0.1, 0.1, 0.1]]).velocities_THz_A
    c = Checks()
    c.close("group velocities at (0.1, 0.1, 0.1)", np.ravel(v[0]), ref, atol)
    return c.outcome()


# thermal displacements -----------------------------------------------------------------------

TD = "phonon/test_thermal_displacement.py"
TD_MESH = (5, 5, 5)  # the tests' init_mesh([5, 5, 5], is_mesh_symmetry=False)
TD_FREQ_MIN = 1e-2  # the tests' freq_min


def msd(p, temperatures, direction=None) -> np.ndarray:
    td = p.run_thermal_displacements(TD_MESH, temperatures, freq_min_THz=TD_FREQ_MIN,
                                     direction=direction)
    return td.msd_A2.reshape(len(temperatures), -1)


def tdm(p, temperatures):
    return p.run_thermal_displacement_matrices(TD_MESH, temperatures, freq_min_THz=TD_FREQ_MIN)


@case(TD, "test_ThermalDisplacements")
def thermal_displacements(s: Suite, module: str, name: str) -> Outcome:
    temps, ref = s.tests.value(module, "temps"), s.tests.value(module, "td_ref")
    p, c = s.phonons("ph_nacl"), Checks()
    c.close("⟨u²⟩ x, y, z", msd(p, temps), ref, 1e-5)
    c.close("⟨u²⟩ along [1, 0, 0]", msd(p, temps, [1, 0, 0]), ref[:, [0, 3]], 1e-5)
    return c.outcome()


@case(TD, "test_ThermalDisplacementMatrices")
def thermal_displacement_matrices(s: Suite, module: str, name: str) -> Outcome:
    ref = s.tests.value(module, "tdm_ref")
    c = Checks()
    c.close("B at 0, 500 K", tdm(s.phonons("ph_sno2"), [0, 500]).matrices_A2.reshape(-1, 3),
            ref, 1e-5)
    return c.outcome()


@case(TD, "test_compare_TD_and_TDM")
def td_vs_tdm(s: Suite, module: str, name: str) -> Outcome:
    temps, c = list(range(0, 1000, 100)), Checks()
    for fixture in ("ph_nacl", "ph_sno2"):
        p = s.phonons(fixture)
        diag = np.diagonal(tdm(p, temps).matrices_A2, axis1=-2, axis2=-1).reshape(len(temps), -1)
        c.close(f"{fixture}: diag(B) vs ⟨u²⟩", diag, msd(p, temps), 1e-8)
    return c.outcome()


@case(TD, "test_ThermalDisplacements_write_yaml")
def td_yaml(s: Suite, module: str, name: str) -> Outcome:
    import yaml

    from phonjax.phonon.thermal_displacements import write_thermal_displacements_yaml

    ref, c = s.tests.value(module, "_td_yaml_ref"), Checks()
    td = s.phonons("ph_nacl").run_thermal_displacements(TD_MESH, [0, 300],
                                                        freq_min_THz=TD_FREQ_MIN)
    path = write_thermal_displacements_yaml(td, s.workdir / "thermal_displacements.yaml")
    data = yaml.safe_load(Path(path).read_text())
    c.equal("natom", data["natom"], s.tests.compared(module, name, "'natom'"))
    c.close("freq_min", data["freq_min"], 0.01, 1e-12, rtol=1e-6)
    c.equal("temperatures", [b["temperature"] for b in data["thermal_displacements"]], [0, 300])
    for i, block in enumerate(data["thermal_displacements"]):
        c.close(f"displacements at {block['temperature']} K", block["displacements"], ref[i],
                1e-5)
    return c.outcome()


@case(TD, "test_ThermalDisplacementMatrices_write_yaml")
def tdm_yaml(s: Suite, module: str, name: str) -> Outcome:
    import yaml

    from phonjax.phonon.thermal_displacements import write_thermal_displacement_matrices_yaml

    ref, c = s.tests.value(module, "_yaml_ref"), Checks()
    path = write_thermal_displacement_matrices_yaml(
        tdm(s.phonons("ph_sno2"), [0, 300]), s.workdir / "thermal_displacement_matrices.yaml")
    data = yaml.safe_load(Path(path).read_text())
    c.equal("natom", data["natom"], s.tests.compared(module, name, "'natom'"))
    c.close("freq_min", data["freq_min"], 0.01, 1e-12, rtol=1e-6)
    blocks = data["thermal_displacement_matrices"]
    c.equal("temperatures", [b["temperature"] for b in blocks], [0, 300])
    for i, block in enumerate(blocks):
        for key in ("displacement_matrices", "displacement_matrices_cif"):
            c.close(f"|{key}| at {block['temperature']} K", block[key], ref[i], 1e-5,
                    absolute=True)
    return c.outcome()


@case(TD, "test_ThermalDisplacementMatrices_write_cif")
def tdm_cif(s: Suite, module: str, name: str) -> Outcome:
    from phonjax.phonon.thermal_displacements import write_adp_cif

    ref, c = s.tests.value(module, "_cif_ref"), Checks()
    result = tdm(s.phonons("ph_sno2"), [300])
    u = result.matrices_cif_A2[0]
    six = np.array([[m[0, 0], m[1, 1], m[2, 2], m[1, 2], m[0, 2], m[0, 1]] for m in u])
    c.close("|U_cif| at 300 K", six, ref, 1e-5, absolute=True)
    text = Path(write_adp_cif(result, s.workdir / "tdispmat.cif")).read_text()
    rows = [ln.split() for ln in text.splitlines()
            if ln.strip() and ln.strip()[0].isalpha() and "_atom_site_aniso" not in ln
            and "loop_" not in ln and ln.strip().split()[0][0] in ("O", "S")
            and len(ln.split()) == 7]
    c.equal("aniso rows in tdispmat.cif", len(rows), s.tests.compared(module, name, "aniso_lines"))
    if len(rows) == len(ref):
        c.close("|U| in tdispmat.cif", [[float(x) for x in r[1:]] for r in rows], ref, 1e-4,
                absolute=True)
    return c.outcome()


# modulation ----------------------------------------------------------------------------------

MOD = "phonon/test_modulation.py"
MOD_DIM = [2, 2, 2]  # the tests' dimension and modes (q, band from 0, amplitude, phase)
MOD_MODES = [([0, 0.5, 0.5], 2, 2, 0), ([0, 0.5, 0.5], 3, 2, 0)]


def same_cell(c: Checks, crystal, lattice, frac, symbols, symprec: float = 1e-5) -> None:
    """conftest's compare_cells_with_order: lattice, positions (squared distance < symprec),
    numbers and masses in order."""
    from phonopy.structure.atoms import PhonopyAtoms

    ref = PhonopyAtoms(cell=lattice, scaled_positions=frac, symbols=symbols)
    c.close("lattice", crystal.lattice, ref.cell, symprec)
    diff = np.asarray(crystal.frac_positions) - ref.scaled_positions
    diff -= np.rint(diff)
    dist2 = ((diff @ np.asarray(crystal.lattice)) ** 2).sum(axis=1)
    c.devs.append(float(np.sqrt(dist2.max())))
    c.tols.append(f"dist² < {symprec:g} Å²")
    if not (dist2 < symprec).all():
        c.failed.append(f"positions: max distance {np.sqrt(dist2.max()):.3g} Å")
    c.equal("numbers", crystal.numbers, ref.numbers)
    c.close("masses", crystal.masses, ref.masses, symprec)


@case(MOD, "test_modulation")
def modulation(s: Suite, module: str, name: str) -> Outcome:
    m = s.phonons("ph_nacl").run_modulations(MOD_DIM, MOD_MODES[:1])
    c = Checks()
    same_cell(c, m.modulated_supercells[0], *(s.tests.value(module, n) for n in (
        "lattice_NaCl222", "positions_NaCl222", "symbols_NaCl222")))
    return c.outcome()


@case(MOD, "test_modulation_properties")
def modulation_properties(s: Suite, module: str, name: str) -> Outcome:
    p = s.phonons("ph_nacl")
    m, c = p.run_modulations(MOD_DIM, MOD_MODES), Checks()
    n_super, n_modes = m.supercell.n_atoms, 3 * p.system.n_primitive
    c.equal("number of modulated cells", len(m.modulated_supercells), 2)
    c.equal("modulations shape", m.displacements_A.shape, (2, n_super, 3))
    positions = m.supercell.positions + m.displacements_A.sum(axis=0).real
    frac = positions @ np.linalg.inv(m.supercell.lattice)
    c.close("combined cell", m.modulated_supercell.frac_positions, frac - np.floor(frac), 1e-12)
    c.equal("frequencies shape", m.frequencies_THz.shape, (2,))
    c.true("frequencies > 0", (m.frequencies_THz > 0).all())
    c.equal("eigenvectors shape", m.eigenvectors.shape, (2, n_modes))
    return c.outcome(note="the legacy-getter comparisons are phonopy API, not repeated")


# irreps --------------------------------------------------------------------------------------

IRREPS = "phonon/test_irreps.py"


def characters(text: str) -> np.ndarray:
    """phonopy's _load_data: rows of (re, im) pairs as complex characters."""
    data = np.loadtxt(io.StringIO(text))
    return data.view(dtype=f"c{data.itemsize * 2}")


def irreps_input(s: Suite, spgtype: str, dim, pmat, symmetrize_fc: bool):
    def make(folder):
        import phonopy
        from phonopy.interface.vasp import read_vasp

        raw = s.workdir / f"raw-{spgtype}"
        raw.mkdir(parents=True, exist_ok=True)
        for f in ("POSCAR", "FORCE_SETS"):
            (raw / f).write_bytes(s.tests.read(f"test/phonon/{f}_{spgtype}"))
        ph = phonopy.load(unitcell=read_vasp(raw / "POSCAR"), supercell_matrix=np.diag(dim),
                          primitive_matrix=pmat, force_sets_filename=raw / "FORCE_SETS",
                          produce_fc=False, log_level=0)
        phonopy_folder(ph, folder)

    return s.built(f"irreps-{spgtype}", make, symmetrize_fc=symmetrize_fc)


def character_sums(c: Checks, p, qpoints) -> None:
    """phonopy's _check_char_sum: traces are the characters, Σ|χ|² is (1, 2 or 4)·|G|."""
    for q in qpoints:
        ir = p.irreps(q)
        order = len(ir.conventional_rotations)
        for k, (reps, chars) in enumerate(zip(ir.representations, ir.characters)):
            c.close(f"q {q} set {k}: tr D", np.trace(reps, axis1=1, axis2=2), chars, 1.5e-7,
                    rtol=0)
            total = abs(np.sum(chars.conj() * chars))
            dim = int(np.rint(total / order))
            c.true(f"q {q} set {k}: Σ|χ|² {total:.6g} not a multiple of {order}",
                   abs(total - dim * order) < 1e-5)
            c.true(f"q {q} set {k}: dimension {dim} not in 1, 2, 4", dim in (1, 2, 4))


@case(IRREPS, *[f"test_pt{n}" for n in (
    "03_P2", "04_Pc", "06_P222_1", "07_Amm2", "09_P4_1", "10_Pbar4", "11_I4_1a", "13_P4mm",
    "14_Pbar42_1m", "19_P3m1", "19_P31m", "20_Pbar3m1", "21_P6", "22_Pbar6", "24_P6_222",
    "26_Pbar6m2", "26_Pbar62m", "28_P2_13", "29_Pabar3", "30_P4_332", "31_Pbar43m",
    "31_Pbar43m_Gamma")])
def irreps(s: Suite, module: str, name: str) -> Outcome:
    call = s.tests.calls(module, name, "_get_phonon")[0]
    spgtype, dim, pmat = (literal(a) for a in call.args[:3])
    sym = any(k.arg == "symmetrize_fc" and ast.literal_eval(k.value) for k in call.keywords)
    p, c = irreps_input(s, spgtype, dim, pmat, sym), Checks()
    loads = s.tests.calls(module, name, "_load_data")
    if loads:
        run = s.tests.calls(module, name, "run_irreps")[0]
        kw = {k.arg: literal(k.value) for k in run.keywords}
        ir = p.irreps(literal(run.args[0]),
                      degeneracy_tolerance_THz=kw.get("degeneracy_tolerance"))
        ref = characters(s.tests.value(module, loads[0].args[0].id))
        c.close("characters at Γ", ir.characters, ref, 1e-5)
        symbols = next(literal(n.comparators[0]) for n in ast.walk(s.tests.function(module, name))
                       if isinstance(n, ast.Compare) and "rotation_symbols" in ast.unparse(n))
        c.equal("rotation symbols", sorted(set(ir.rotation_symbols)), sorted(symbols))
    character_sums(c, p, s.tests.value(module, "qpoints", name))
    return c.outcome()


# band structure ------------------------------------------------------------------------------

BAND = "phonon/test_band_structure.py"


def band_path(s: Suite, module: str):
    """(phonjax user path, points per segment) of the tests' _get_band_qpoints."""
    paths = s.tests.value(module, "band_paths", "_get_band_qpoints")
    call = s.tests.calls(module, "_get_band_qpoints", "get_band_qpoints")[0]
    n = next(ast.literal_eval(k.value) for k in call.keywords if k.arg == "npoints")
    return [[(f"P{i}{j}", q) for j, q in enumerate(line)] for i, line in enumerate(paths)], n


@case(BAND, "test_band_structure")
def band_structure(s: Suite, module: str, name: str) -> Outcome:
    path, n = band_path(s, module)
    band = s.phonons("ph_nacl").run_band_structure(path, n, per_segment=True,
                                                   band_connection=False)
    ref, atol = s.tests.expected(module, name)
    c = Checks()
    c.equal("segments", len(band.frequencies_THz), s.tests.compared(module, name, "len(freqs)"))
    c.equal("first segment shape", band.frequencies_THz[0].shape,
            s.tests.compared(module, name, "freqs[0].shape"))
    c.close("frequencies at Γ (direction Γ→L)", band.frequencies_THz[0][0], ref, atol)
    return c.outcome()


@case(BAND, "test_band_structure_gv")
def band_velocities(s: Suite, module: str, name: str) -> Outcome:
    path, n = band_path(s, module)
    p, c = s.phonons("ph_nacl"), Checks()
    p.run_band_structure(path, n, per_segment=True, with_group_velocities=True)
    c.true("band group velocities", p.band_group_velocities is not None)
    return c.outcome()


@case(BAND, "test_band_structure_bc")
def band_connection(s: Suite, module: str, name: str) -> Outcome:
    path, n = band_path(s, module)
    p = s.phonons("ph_nacl")
    plain = p.run_band_structure(path, n, per_segment=True, band_connection=False)
    connected = p.run_band_structure(path, n, per_segment=True, band_connection=True)
    call = s.tests.calls(module, name, "assert_allclose")[0]
    order = next(ast.literal_eval(x) for x in ast.walk(call.args[1]) if isinstance(x, ast.List))
    atol = next(ast.literal_eval(k.value) for k in call.keywords if k.arg == "atol")
    c = Checks()
    c.close("connected last point of segment 2", connected.frequencies_THz[1][-1],
            plain.frequencies_THz[1][-1][order], atol)
    return c.outcome()


@case(BAND, "test_write_yaml_band_structure")
def band_yaml(s: Suite, module: str, name: str) -> Outcome:
    import yaml

    path, n = band_path(s, module)
    writer = "_test_write_yaml_band_structure"
    keys = s.tests.value(module, "yaml_keys", writer)
    point_keys = s.tests.compared(module, writer, "data_q.keys()")
    band_keys = s.tests.value(module, "band_keys", writer)
    p, c = s.phonons("ph_nacl"), Checks()
    for const_interval, gv in itertools.product([False, True], [False, True]):
        p.run_band_structure(path, n, per_segment=not const_interval, with_group_velocities=gv)
        folder = s.workdir / f"band-yaml-{const_interval}-{gv}"
        p.write(folder)
        data = yaml.safe_load((folder / "band.yaml").read_text())
        tag = f"const_interval={const_interval}, gv={gv}"
        c.equal(f"{tag}: keys", sorted(data), sorted(keys))
        c.equal(f"{tag}: point keys", sorted(data["phonon"][0]), sorted(point_keys))
        c.equal(f"{tag}: band keys", sorted(data["phonon"][0]["band"][0]),
                sorted(band_keys + (["group_velocity"] if gv else [])))
    return c.outcome("partial: 4 of 24 parametrizations (no compression, no eigenvectors)",
                     note="gap: band.yaml gzip/lzma compression and eigenvectors "
                          "(Phonons.write(folder, compression=None|'gzip'|'lzma', "
                          "band_eigenvectors=False))")


# thermal properties --------------------------------------------------------------------------

TP, TPC = "phonon/test_thermal_properties.py", "phonon/test_thermal_properties_classical.py"


def thermal_table(s: Suite, module: str, name: str, classical: bool) -> Outcome:
    temps = s.tests.value(module, "temps")
    p = s.phonons("ph_nacl", temperatures_K=tuple(temps))
    p.run_mesh((5, 5, 5))
    t = p.run_thermal_properties(cutoff_frequency_THz=1e-5, classical=classical)
    c = Checks()
    for what, got in (("temperatures", t.temperatures_K), ("fes", t.free_energy_kJmol),
                      ("entropies", t.entropy_JKmol), ("cvs", t.heat_capacity_JKmol)):
        c.close(what, got, s.tests.value(module, "temps" if what == "temperatures" else what),
                1e-5)
    return c.outcome()


@case(TP, "test_thermal_properties", "test_thermal_properties_at_temperatues",
      "test_thermal_properties_individual_properties")
def thermal_properties(s: Suite, module: str, name: str) -> Outcome:
    return thermal_table(s, module, name, classical=False)


@case(TPC, "test_thermal_properties", "test_thermal_properties_at_temperatues")
def thermal_properties_classical(s: Suite, module: str, name: str) -> Outcome:
    return thermal_table(s, module, name, classical=True)


# DOS -----------------------------------------------------------------------------------------

DOS = "phonon/test_dos.py"


def table(text: str, columns: int) -> np.ndarray:
    return np.reshape([float(x) for x in text.split()], (-1, columns))


def nacl_dos(s: Suite, mesh, method, sigma=None):
    p = s.phonons("ph_nacl_nofcsym")
    p.run_mesh(mesh)
    return p.run_dos(method, sigma, freq_pitch_THz=1)


@case(DOS, "testTotalDOS", "testTotalDOSTetrahedron", "testTotalDOSTetrahedronEvenMesh")
def total_dos(s: Suite, module: str, name: str) -> Outcome:
    ref_name, method, mesh = {
        "testTotalDOS": ("tdos_str", "gaussian", (5, 5, 5)),
        "testTotalDOSTetrahedron": ("tdos_thm_str", "tetrahedron", (5, 5, 5)),
        "testTotalDOSTetrahedronEvenMesh": ("tdos_thm_even_str", "tetrahedron", (6, 6, 6))}[name]
    d, c = nacl_dos(s, mesh, method), Checks()
    c.close("(frequency, DOS)", np.c_[d.frequency_points_THz, d.total],
            table(s.tests.value(module, ref_name), 2), 1e-5)
    shifted_grid(c, s, mesh)
    return c.outcome()


def shifted_grid(c: Checks, s: Suite, mesh) -> None:
    """The even-mesh tests' check: the half-shifted grid (no Γ): min |q| = √3/12."""
    if mesh[0] % 2 == 0:
        grid = s.phonons("ph_nacl_nofcsym").mesh.grid
        c.true("grid half-shifted", not grid.gamma_center)
        c.close("min |q|", np.linalg.norm(grid.qpoints, axis=1).min(), np.sqrt(3) / 12, 1e-12)


@case(DOS, "testProjectedlDOS", "testPartialDOSTetrahedron", "testPartialDOSTetrahedronEvenMesh")
def projected_dos(s: Suite, module: str, name: str) -> Outcome:
    ref_name, method, mesh = {
        "testProjectedlDOS": ("pdos_str", "gaussian", (5, 5, 5)),
        "testPartialDOSTetrahedron": ("pdos_thm_str", "tetrahedron", (5, 5, 5)),
        "testPartialDOSTetrahedronEvenMesh": ("pdos_thm_even_str", "tetrahedron", (6, 6, 6)),
    }[name]
    d, c = nacl_dos(s, mesh, method), Checks()
    c.close("(frequency, PDOS Na, PDOS Cl)", np.vstack([d.frequency_points_THz, d.atoms]),
            table(s.tests.value(module, ref_name), 3).T, 1e-5)
    shifted_grid(c, s, mesh)
    return c.outcome()


@case(DOS, "test_total_dos_sigma_overrides_tetrahedron",
      "test_projected_dos_sigma_overrides_tetrahedron")
def sigma_overrides(s: Suite, module: str, name: str) -> Outcome:
    p = s.phonons("ph_nacl_nofcsym")
    p.run_mesh((5, 5, 5))
    default = p.run_dos(sigma_THz=0.5, freq_pitch_THz=1)
    smearing = p.run_dos("gaussian", 0.5, freq_pitch_THz=1)
    c, what = Checks(), "total" if "total" in name else "atoms"
    c.close(f"run_dos(sigma_THz=0.5) {what} vs gaussian", getattr(default, what),
            getattr(smearing, what), 1e-12)
    return c.outcome(note=f"phonjax run_dos(sigma_THz=0.5) used method {default.method!r}")


@case(DOS, "test_get_pdos_indices")
def pdos_indices(s: Suite, module: str, name: str) -> Outcome:
    from phonjax.single.dos import equivalent_atoms

    p = s.phonons("ph_tio2")
    p.prepare()
    orbit = equivalent_atoms(p.system.primitive.crystal, p.settings.symprec)
    groups = [np.flatnonzero(orbit == r).tolist() for r in dict.fromkeys(orbit.tolist())]
    refs = [literal(call.args[1]) for call in s.tests.calls(module, name, "assert_array_equal")]
    c = Checks()
    c.true(f"PDOS atom groups {groups} vs {refs}", groups == [np.asarray(r).tolist() for r in refs])
    return c.outcome()


# mesh ----------------------------------------------------------------------------------------

MESH = "phonon/test_mesh.py"


@case(MESH, "test_Mesh_nofcsym", "test_Mesh_full_fcsym", "test_Mesh_compact_fcsym",
      "test_Mesh_full_fcsym_nonac", "test_Mesh_full_fcsym_wang", "test_Mesh_full_fcsym_si")
def mesh_frequencies(s: Suite, module: str, name: str) -> Outcome:
    fixture = s.tests.fixture_argument(module, name)
    ref = s.tests.value(module, s.tests.calls(module, name, "_test_IterMesh")[0].args[1].id)
    m, c = s.phonons(fixture).run_mesh((3, 3, 3)), Checks()
    c.close("frequencies on the irreducible 3×3×3 mesh", m.frequencies_THz.ravel(), ref, 1e-5)
    note = "phonjax keeps full force constants; compact ones give the same D(q)" \
        if "compact" in fixture else ""
    return c.outcome(note=note)


@case(MESH, "test_mesh_grg_fallback_on_float_input")
def mesh_grg(s: Suite, module: str, name: str) -> Outcome:
    g, c = s.agno2("auto").run_mesh(length_A=20.0).grid, Checks()
    c.equal("mesh numbers (D_diag)", g.mesh,
            s.tests.expected(module, name, "assert_array_equal")[0])
    c.equal("irreducible q-points", len(g.qpoints),
            s.tests.compared(module, name, "qpoints"))
    c.equal("weights sum", int(g.weights.sum()), int(np.prod(g.mesh)))
    c.true("generalized regular grid", g.generalized)
    return c.outcome(note="phonopy's MeshGRGridFallbackWarning: phonjax records it in "
                          "mesh.grid.generalized, no warning")


@case(MESH, "test_mesh_tr_only_fallback_on_tuple_input", "test_mesh_no_fallback_on_uniform_tuple")
def mesh_fallback(s: Suite, module: str, name: str) -> Outcome:
    ref = s.tests.expected(module, name, "assert_array_equal")[0]
    g, c = s.agno2("auto").run_mesh(tuple(ref)).grid, Checks()
    c.equal("mesh numbers", g.mesh, ref)
    fallback = "tr_only" in name
    c.equal("time-reversal-only fallback", g.symmetry_fallback, fallback)
    if fallback:
        c.equal("irreducible q-points", len(g.qpoints),
                s.tests.compared(module, name, "qpoints"))
    return c.outcome(note="phonopy's MeshSymmetryFallbackWarning: phonjax records it in "
                          "mesh.grid.symmetry_fallback, no warning")


# q-points and grids --------------------------------------------------------------------------

QP, GRID = "phonon/test_qpoints.py", "phonon/test_grid.py"


@case(QP, "test_Qpoints_with_NAC_qdirection")
def gamma_nac_direction(s: Suite, module: str, name: str) -> Outcome:
    p, c = s.phonons("ph_nacl"), Checks()
    for i, direction in enumerate((None, [1, 0, 0])):
        ref, atol = s.tests.expected(module, name, index=i)
        f, _ = p.modes_at([[0, 0, 0]], q_direction=direction)
        c.close(f"Γ, q_direction {direction}", f, ref, atol)
    return c.outcome()


@case(GRID, "test_length2mesh")
def length2mesh(s: Suite, module: str, name: str) -> Outcome:
    g, c = s.phonons("ph_nacl").run_mesh(length_A=50.0).grid, Checks()
    for i in range(2):  # without and with the point group: phonjax uses the point group
        c.equal("mesh numbers of length 50 Å", g.mesh,
                s.tests.expected(module, name, "assert_array_equal", i)[0])
    return c.outcome()


# displacements -------------------------------------------------------------------------------

DISP = "harmonic/test_displacements.py"


def file_displacements(p) -> np.ndarray:
    p.prepare()
    return np.c_[p.system.displaced_atoms, p.system.displacements]


def generated_displacements(s: Suite, fixture: str) -> np.ndarray:
    """phonjax's own one-atom displacements (phonopy's generate_displacements() defaults)."""
    import phonjax

    ds = phonjax.read_input(s.fixture_folder(fixture)[0])
    system = phonjax.prepare(ds, mesh=(1, 1, 1), use_dataset_displacements=False)
    return np.c_[system.displaced_atoms, system.displacements]


@case(DISP, "test_nacl", "test_si", "test_sno2", "test_tio2", "test_zr3n4", "test_tipn3")
def one_atom_displacements(s: Suite, module: str, name: str) -> Outcome:
    fixture, c = s.tests.fixture_argument(module, name), Checks()
    try:
        ref = s.tests.value(module, "disp_ref", name)
        c.close("the file's displacements", file_displacements(s.phonons(fixture)), ref, 1e-8)
    except KeyError:
        ref = None
    try:
        gen = s.tests.value(module, "disp_gen", name)
    except KeyError:
        gen = ref
    c.close("generated displacements", generated_displacements(s, fixture), gen, 1e-8)
    return c.outcome()


def tio2_atoms(s: Suite) -> int:
    p = s.phonons("ph_tio2")
    p.prepare()
    return p.system.supercell.n_atoms


def random(s: Suite, n, distance=None, seed=None, **kw) -> np.ndarray:
    from phonjax.harmonic.random_displacements import random_displacements

    return random_displacements(tio2_atoms(s), n, 0.01 if distance is None else distance, seed,
                                **kw)


@case(DISP, "test_tio2_random_disp")
def tio2_random(s: Suite, module: str, name: str) -> Outcome:
    c = Checks()
    for plusminus, distance in itertools.product([False, True], [None, 0.03]):
        d = random(s, 4, distance, is_plusminus=plusminus)
        tag = f"plusminus={plusminus}, distance={distance}"
        c.equal(f"{tag}: snapshots", len(d), 4 * (plusminus + 1))
        c.close(f"{tag}: lengths", np.linalg.norm(d, axis=2).ravel(),
                np.full(d.shape[0] * d.shape[1], distance or 0.01), 1e-8)
        if plusminus:
            c.close(f"{tag}: ± pairs", d[: len(d) // 2], -d[len(d) // 2:], 1e-8)
    return c.outcome("partial: 4 of 8 parametrizations",
                     note="gap: number_of_snapshots='auto' (random_displacements(supercell, "
                          "'auto', ..., number_estimation_factor=None, max_distance_A=None))")


@case(DISP, "test_tio2_random_disp_with_random_dist")
def tio2_random_dist(s: Suite, module: str, name: str) -> Outcome:
    c = Checks()
    for low in (None, 0.05, 0.2):
        if low is not None and low > 0.1:
            c.raises(f"distance {low} > max_distance 0.1", lambda: random(s, 1, low,
                                                                          max_distance_A=0.1))
            continue
        dist = np.linalg.norm(random(s, 100, low, max_distance_A=0.1), axis=2).ravel()
        c.true(f"distance={low}: all < 0.1", (dist < 0.1 + 1e-8).all())
        if low is not None:
            c.true(f"distance={low}: all > {low}", (dist > low - 1e-8).all())
    return c.outcome()


@case(DISP, "test_tio2_random_disp_with_random_dist_defualt",
      "test_tio2_random_disp_with_random_max_distance", "test_tio2_random_distances")
def tio2_random_default(s: Suite, module: str, name: str) -> Outcome:
    c = Checks()
    highs = (None, 0.1) if name.endswith("defualt") else (0.1,)
    for high in highs:
        d = random(s, 100, 0.01, max_distance_A=high)
        dist = np.linalg.norm(d, axis=2)
        c.equal(f"max_distance={high}: snapshots", len(d), 100)
        c.true(f"max_distance={high}: below", (dist < (high or 0.01) + 1e-8).all())
        if high is not None and name.endswith("defualt"):
            c.true(f"max_distance={high}: above 0.01", (dist > 0.01 - 1e-8).all())
        if name == "test_tio2_random_distances":
            c.close("one length per supercell", dist, dist[:, :1] * np.ones_like(dist), 1e-10)
    return c.outcome()


@case(DISP, "test_tio2_random_disp_distance_sampling_atom")
def tio2_atom_sampling(s: Suite, module: str, name: str) -> Outcome:
    c = Checks()
    dist = np.linalg.norm(random(s, 20, 0.01, 1, max_distance_A=0.1, distance_sampling="atom"),
                          axis=2)
    c.true("0.01 < |u| < 0.1", ((dist < 0.1 + 1e-8) & (dist > 0.01 - 1e-8)).all())
    c.true("spread in every supercell", (dist.max(axis=1) - dist.min(axis=1) > 0.01).all())
    c.true("no pile-up at 0.01", (dist <= 0.01 + 1e-8).mean() < 0.01)
    per_cell = np.linalg.norm(random(s, 20, 0.01, 1, max_distance_A=0.1), axis=2)
    c.close("supercell sampling: one length per cell", per_cell.max(axis=1),
            per_cell.min(axis=1), 1e-12)
    return c.outcome()


@case(DISP, "test_tio2_random_disp_atom_sampling_requires_max_distance",
      "test_tio2_random_disp_rejects_unknown_distance_sampling")
def tio2_sampling_refusals(s: Suite, module: str, name: str) -> Outcome:
    c = Checks()
    if "requires" in name:
        c.raises("atom sampling without max_distance",
                 lambda: random(s, 2, distance_sampling="atom"))
    else:
        c.raises("distance_sampling='per_atom'",
                 lambda: random(s, 2, max_distance_A=0.1, distance_sampling="per_atom"))
    return c.outcome()


@case(DISP, "test_tio2_random_disp_per_supercell_unchanged")
def tio2_seeded(s: Suite, module: str, name: str) -> Outcome:
    ref, atol = s.tests.expected(module, name)
    d = random(s, 3, 0.01, 1, max_distance_A=0.1)
    c = Checks()
    c.close("lengths of seed 1", np.linalg.norm(d, axis=2)[:, 0], ref, atol)
    return c.outcome()


@case(DISP, "test_tio2_random_disp_plusminus")
def tio2_plusminus(s: Suite, module: str, name: str) -> Outcome:
    c = Checks()
    c.close("the file's displacements", file_displacements(s.phonons("ph_tio2")),
            s.tests.value(module, "disp_ref", name), 1e-8)
    d = random(s, 4, 0.03, is_plusminus=True)
    c.close("± pairs", d[:4], -d[4:], 1e-8)
    c.close("lengths", np.linalg.norm(d, axis=2).ravel(), np.full(d[..., 0].size, 0.03), 1e-8)
    return c.outcome()


# force constants -----------------------------------------------------------------------------

FC = "harmonic/test_force_constants.py"


def compact(p) -> np.ndarray:
    from phonjax.harmonic.fc_options import compact_force_constants

    return compact_force_constants(p.produce_force_constants(), p.system.primitive.p2s)


@case(FC, "test_fc", "test_fc_nofcsym", "test_fc_compact_fcsym", "test_fc_compact_symfc")
def force_constants(s: Suite, module: str, name: str) -> Outcome:
    fixture = s.tests.fixture_argument(module, name)
    ref_name = next(t.id for n in ast.walk(s.tests.function(module, name))
                    if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)
                    and t.id.startswith("fc_1_10_") and t.id.endswith("_ref"))
    p = s.phonons(fixture)
    is_compact = fixture_spec(s.tests, fixture).compact
    fc = compact(p) if is_compact else p.produce_force_constants()
    c = Checks()
    c.close("Φ[1, 10]", fc[1, 10].ravel(), s.tests.value(module, ref_name, name), 1e-5)
    how = "compact (phonopy.load's default is_compact_fc=True)" if is_compact else "full"
    return c.outcome(note="; ".join(filter(None, [f"{how} force constants", s.note(fixture)])))


@case(FC, "test_fc_cutoff_radius", "test_fc_cutoff_radius_svecs")
def fc_cutoff(s: Suite, module: str, name: str) -> Outcome:
    branch = next(n for n in ast.walk(s.tests.function(module, name)) if isinstance(n, ast.If)
                  and "np.sum(changed)" in ast.unparse(n))
    counts = {}
    for is_compact, body in ((True, branch.body), (False, branch.orelse)):
        counts[is_compact] = next(n.comparators[0].value for stmt in body for n in ast.walk(stmt)
                                  if isinstance(n, ast.Compare))
    full, cut = s.phonons("ph_nacl"), s.phonons("ph_nacl", fc_cutoff_radius_A=4.0)
    c = Checks()
    for is_compact, expected in counts.items():
        a, b = (compact(full), compact(cut)) if is_compact else (
            full.produce_force_constants(), cut.produce_force_constants())
        c.equal(f"{'compact' if is_compact else 'full'}: elements changed by the 4 Å cutoff",
                int((np.abs(a - b) > 1e-8).sum()), expected)
    note = "dense/sparse svecs are phonopy's storage; the same counts" if "svecs" in name else ""
    return c.outcome(note=note)


# dynamical matrix ----------------------------------------------------------------------------

DM = "harmonic/test_dynamical_matrix.py"


def dynamical_matrix(p, q) -> np.ndarray:
    """D(q) (eV/Å²/AMU) = E diag(λ) E† from phonjax's modes at ``q``."""
    from phonjax.units import FORCE_CONSTANT_TO_THZ

    f, e = p.modes_at([q], eigenvectors=True)
    lam = np.sign(f[0]) * (f[0] / FORCE_CONSTANT_TO_THZ) ** 2
    return (e[0] * lam) @ e[0].conj().T


def complex_matrix(values) -> np.ndarray:
    return np.array(values, dtype=float).view(complex).reshape(6, 6)


@case(DM, "test_dynmat", "test_dynmat_dense_svecs", "test_dynmat_gonze_lee", "test_dynmat_wang",
      "test_dynmat_gonze_lee_full_term")
def dynmat(s: Suite, module: str, name: str) -> Outcome:
    fixtures = [a.arg for a in s.tests.function(module, name).args.args if a.arg.startswith("ph_")]
    full = {}
    if name.endswith("full_term"):
        # phonopy's test hands a new DynamicalMatrixGL its dynmat.nac_params, whose "factor" is
        # nac_factor = unit conversion · 4π/V (3.93 for NaCl), as the unit conversion: the
        # same factor here, with the full terms
        import phonjax

        ds = phonjax.read_input(s.fixture_folder(fixtures[0])[0])
        nac = ds.nac
        volume = ds.unitcell.volume * abs(np.linalg.det(np.asarray(ds.primitive_matrix, float)))
        full = {"nac": nac.replace(with_full_terms=True,
                                   factor=nac.factor * 4 * np.pi / volume)}
    p, c = s.phonons(fixtures[0], **full), Checks()
    calls = s.tests.calls(module, name, "_test_dynmat_252525")
    ref_252525 = calls[0].args[1].id
    if s.tests.calls(module, name, "_test_dynmat"):  # _test_dynmat: Γ and (½, ½, ½)
        for q, ref in (([0, 0, 0], "dynmat_ref_000"), ([0.5] * 3, "dynmat_ref_555")):
            c.close(f"D{tuple(q)}", dynamical_matrix(p, q), complex_matrix(
                s.tests.value(module, ref)), 1e-5)
    c.close("D(¼, ¼, ¼)", dynamical_matrix(p, [0.25] * 3),
            complex_matrix(s.tests.value(module, ref_252525)), 1e-5)
    note = "D from modes_at's eigenpairs; compact FC and the Python path are phonopy's " \
           "implementations of the same D" if name in ("test_dynmat",) else \
        "D from modes_at's eigenpairs"
    if full:
        note += ("; NACParams(with_full_terms=True, factor=14.4·4π/V: the nac_factor phonopy's "
                 "test passes as the unit conversion)")
    return c.outcome(note=note)


# symfc ---------------------------------------------------------------------------------------

SYMFC = "interface/test_symfc.py"


@case(SYMFC, "test_symfc_auto_fallback_to_full_fc_on_primitive_mismatch")
def symfc_full(s: Suite, module: str, name: str) -> Outcome:
    p = s.agno2(np.eye(3), random=True, fc_calculator="symfc")
    fc, n = p.produce_force_constants(), p.system.supercell.n_atoms
    c = Checks()
    c.equal("primitive atoms (P = I)", p.system.n_primitive,
            s.tests.compared(module, name, "p2s_map"))
    c.equal("force constants shape", fc.shape, (n, n, 3, 3))
    return c.outcome(note="phonjax's force constants are always full; input: phonopy's 2 random "
                          "snapshots (seed 1) with zero forces")


# --- not expressible --------------------------------------------------------------------------

unexpressible(BAND, "no: gap: no band.hdf5 writer (Phonons.write(folder, hdf5=True))",
              "test_band_structure_write_hdf5")
unexpressible(MESH, "no: gap: no mesh.hdf5 writer (Phonons.write(folder, hdf5=True))",
              "test_mesh_write_hdf5")
unexpressible(QP, "no: gap: no qpoints.hdf5 writer and no dynamical-matrix output "
                  "(Phonons.modes_at(q, eigenvectors, q_direction, dynamical_matrices=True))",
              "test_qpoints_write_hdf5")
unexpressible(QP, "no: gap: no dynamical-matrix output to check eigenpairs against "
                  "(Phonons.modes_at(q, eigenvectors, q_direction, dynamical_matrices=True) -> "
                  "(f, e, D))", "test_Qpoints")
unexpressible(DOS, "no: gap: Cauchy (Lorentzian) smearing (Phonons.run_dos(method='cauchy', "
                   "sigma_THz=...))", "test_total_dos_cauchy_smearing",
              "test_projected_dos_cauchy_smearing")
unexpressible(DOS, "no: gap: PDOS per Cartesian component or along a direction "
                   "(Phonons.run_dos(..., xyz_projection=False, direction=None))",
              "test_projected_dos_xyz_projection", "test_projected_dos_direction")
unexpressible(DOS, "no: gap: site-mixture weights (phonjax refuses disordered sites)",
              "test_projected_dos_non_merge_site_weights")
unexpressible(DOS, "no: gap: Debye frequency of the DOS (DensityOfStates.debye_frequency_THz, "
                   "phonopy's TotalDos.run_debye_frequency)", "test_debye_frequency")
unexpressible(DOS, "out of scope: phonopy's deprecated set_/get_Debye_frequency",
              "test_debye_frequency_deprecated_api")
unexpressible(FC, "no: gap: no force-constant re-indexing between two atom orders "
                  "(rearrange_force_constants(fc, supercell, other_supercell) -> (fc, indices))",
              "test_rearrange_force_constants_array")
unexpressible(DM, "no: gap: the Gonze–Lee short-range force constants and G-list "
                  "(Harmonic.short_range_force_constants, NAC g_cutoff/G-vectors read-out)",
              "test_dynmat_gonze_lee_short_range_fc")
unexpressible(DM, "no: gap: D(q) without Hermitian symmetrization "
                  "(hermitianize=False; phonjax always symmetrizes)",
              "test_dynmat_without_hermitianize")
unexpressible(DM, "out of scope: phonopy's eigensolver back-ends (phonors vs NumPy)",
              "test_diagonalize_dynamical_matrices_phonors_vs_numpy",
              "test_diagonalize_dynamical_matrices_non_destructive")
unexpressible(SYMFC, "no: gap: projector symmetrization of given force constants "
                     "(symmetrize_force_constants(fc, supercell, method='projector'))",
              "test_symmetrize_by_projector", "test_symmetrize_by_projector_with_inconsistent_p2s")
unexpressible(SYMFC, "no: gap: mixture (VCA) supercells (phonjax refuses disordered sites)",
              "test_symfc_force_constants_GeSn_mixture")
unexpressible(SYMFC, "out of scope: symfc's basis sets, memory estimates and phonopy's "
                     "option parser (phonjax takes symfc_cutoff_A)",
              "test_symfc_cutoff", "test_parse_symfc_options_none",
              "test_parse_symfc_options_dict_passthrough", "test_parse_symfc_options_str_cutoff",
              "test_parse_symfc_options_str_memsize", "test_parse_symfc_options_str_use_mkl",
              "test_parse_symfc_options_str_multiple", "test_parse_symfc_options_type_error",
              "test_symfc_fc_shape_full", "test_symfc_fc_shape_compact",
              "test_symfc_force_constants_before_run_raises", "test_symfc_estimate_basis_size",
              "test_symfc_estimate_numbers_of_supercells", "test_estimate_symfc_memory_usage",
              "test_update_symfc_cutoff_by_memsize_no_memsize",
              "test_update_symfc_cutoff_by_memsize_large_memsize")
unexpressible(DISP, "no: gap: number_of_snapshots='auto' and number_estimation_factor "
                    "(random_displacements(supercell, 'auto', distance_A, seed, "
                    "number_estimation_factor=None))",
              "test_tio2_random_disp_rd_auto_estimation_factor")
unexpressible("phonon/test_random_displacements.py",
              "no: gap: finite-temperature random displacements (phonopy's RandomDisplacements:"
              " thermal_random_displacements(harmonic, temperature_K, n_snapshots, seed, "
              "max_distance_A=None) and its frequencies/treat_imaginary_modes)",
              "test_random_displacements_Zr3N4", "test_random_displacements_all_atoms_TiPN3",
              "test_random_displacements_all_atoms_TiPN3_max_distance",
              "test_tio2_random_disp_plusminus",
              "test_random_displacements_persist_after_temperature_generation",
              "test_treat_imaginary_modes", "test_frequencies_setter_roundtrip_with_ij",
              "test_frequencies_setter_roundtrip_without_ij",
              "test_frequencies_setter_wrong_dimension")
unexpressible(GRID, "no: gap: a generalized regular grid where a regular one keeps the "
                    "symmetry (Phonons.run_mesh(length_A=..., use_grg=True) or "
                    "run_mesh(grid_matrix=3×3))", "test_GridMatrix_with_symmetry",
              "test_GridMatrix_with_grid_matrix", "test_GridMatrix_with_transformation_matrix")
unexpressible(GRID, "out of scope: phonopy's grid classes (BZGrid, GRGrid, SNF, GridMatrix on "
                    "a supercell), which phonjax imports from phonopy itself",
              "test_get_grid_point_from_address", "test_GRGrid_agno2", "test_BZGrid",
              "test_BZGrid_bzg2grg", "test_BZGrid_SNF", "test_BZGrid_SNF_with_tmat",
              "test_BZGrid_SNF_with_negative_tmat", "test_BZGrid_SNF_with_non_integer_inv_tmat",
              "test_BZGrid_SNF_hexagonal", "test_BZGrid_SNF_nonprimitive",
              "test_SNF_tetrahedra_relative_grid", "test_get_grid_points_by_bz_rotations",
              "test_can_use_std_lattice", "test_aln_BZGrid_with_shift",
              "test_aln_BZGrid_with_shift_broken_symmetry", "test_agno2_BZGrid_with_shift",
              "test_relocate_BZ_grid_address_FCC", "test_relocate_BZ_grid_address_aln_grg",
              "test_relocate_BZ_grid_address_aln_553", "test_relocate_BZ_grid_address_aln_compare",
              "test_GridMatrix_without_symmetry", "test_GridMatrix_with_supercell_symmetry",
              "test_GridMatrix_with_supercell_symmetry_grg_false")


# --- running ----------------------------------------------------------------------------------


def run_one(s: Suite, module: str, name: str) -> Outcome:
    key = (module, name)
    if key in NOT_EXPRESSIBLE:
        return Outcome(NOT_EXPRESSIBLE[key])
    if key not in RUNNERS:
        return Outcome("no: not mapped by this script")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return RUNNERS[key](s, module, name)
    except Exception as exc:  # a failure of phonjax (or of reading the test) is a result
        where = traceback.extract_tb(exc.__traceback__)[-1]
        line = str(exc).splitlines()[0] if str(exc) else ""
        return Outcome("yes", False, None, "", f"error: {type(exc).__name__}: {line} "
                                               f"({Path(where.filename).name}:{where.lineno})")


def resolve_rev(git_dir: Path, wanted: str) -> tuple[str, str]:
    """(revision to read, how it was chosen): the tag if the mirror has it, else HEAD."""
    tags = subprocess.run(["git", f"--git-dir={git_dir}", "tag", "--list", wanted],
                          capture_output=True, text=True).stdout.split()
    if wanted in tags:
        return wanted, f"tag {wanted}"
    head = subprocess.run(["git", f"--git-dir={git_dir}", "describe", "--tags", "--always",
                           "HEAD"], capture_output=True, text=True).stdout.strip()
    sha = subprocess.run(["git", f"--git-dir={git_dir}", "rev-parse", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
    return sha, f"HEAD {sha[:8]} ({head}; the mirror has no tag {wanted})"


def in_scope(row: dict) -> bool:
    return not row["expressible"].startswith("out of scope")


def counts(rows: list[dict]) -> dict:
    scoped = [r for r in rows if in_scope(r)]
    expressible = [r for r in scoped if r["expressible"].startswith(("yes", "partial"))]
    return {"tests": len(rows), "in scope": len(scoped), "expressible": len(expressible),
            "partial": sum(r["expressible"].startswith("partial") for r in expressible),
            "passed": sum(r["passed"] == "yes" for r in expressible),
            "failed": sum(r["passed"] == "no" for r in expressible)}


def write_csv(rows: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def write_md(rows: list[dict], path: Path, source: str, seconds: float) -> None:
    total = counts(rows)
    lines = ["# phonopy's test suite through phonjax's public API", "",
             f"phonopy tests read from {source}; written by `validation/phonopy_suite.py` "
             f"in {seconds:.0f} s. Rows: `phonopy_suite.csv`.", "",
             f"**{total['expressible']} expressible of {total['in scope']} in scope "
             f"({total['partial']} partly), {total['passed']} pass, {total['failed']} fail**; "
             f"{total['tests'] - total['in scope']} more are out of scope.", "",
             "| feature | tests | in scope | expressible | pass | fail |",
             "|---|---|---|---|---|---|"]
    for feature in dict.fromkeys(r["feature"] for r in rows):
        c = counts([r for r in rows if r["feature"] == feature])
        lines.append(f"| {feature} | {c['tests']} | {c['in scope']} | {c['expressible']} | "
                     f"{c['passed']} | {c['failed']} |")
    failed = [r for r in rows if r["passed"] == "no"]
    if failed:
        lines += ["", "## Failures", ""] + [f"- `{r['test']}`: {r['note']}" for r in failed]
    gaps = dict.fromkeys(r["expressible"] for r in rows if r["expressible"].startswith("no"))
    gaps.update(dict.fromkeys(part for r in rows for part in r["note"].split("; ")
                              if "gap:" in part))
    if gaps:
        lines += ["", "## Gaps (not expressible through the public API)", ""]
        lines += [f"- {g}" for g in gaps]
    path.write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--phonopy-repo", type=Path, default=DEFAULT_REPO,
                    help="phonopy's bare git mirror (default: %(default)s)")
    ap.add_argument("--rev", default=WANTED_TAG, help="tag to read (HEAD if the mirror lacks it)")
    ap.add_argument("--only", default=None,
                    help="run only tests whose id contains this (no files written)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    if not (args.phonopy_repo / "HEAD").is_file():
        ap.error(f"{args.phonopy_repo}: not a git directory")
    rev, source = resolve_rev(args.phonopy_repo, args.rev)
    tests = PhonopyTests(args.phonopy_repo, rev)
    rows, start = [], time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="phonopy_suite-") as tmp:
        suite = Suite(tests, Path(tmp))
        for module, feature in SCOPE.items():
            for name in tests.tests(module):
                test_id = f"{module}::{name}"
                if args.only and args.only not in test_id:
                    continue
                t0 = time.perf_counter()
                o = run_one(suite, module, name)
                rows.append({"test": test_id, "feature": feature, "expressible": o.expressible,
                             "passed": "" if o.passed is None else ("yes" if o.passed else "no"),
                             "max_deviation": "" if o.max_dev is None else f"{o.max_dev:.3g}",
                             "tolerance": o.tolerance, "seconds": f"{time.perf_counter() - t0:.1f}",
                             "note": o.note})
                print(f"{rows[-1]['passed'] or '-':3s} {test_id}  {rows[-1]['max_deviation']}  "
                      f"{o.note[:100]}", flush=True)
    seconds = time.perf_counter() - start
    if not rows:
        print("no test matched", file=sys.stderr)
        return 1
    if args.only is None:  # a partial run writes nothing
        args.out.mkdir(parents=True, exist_ok=True)
        write_csv(rows, args.out / "phonopy_suite.csv")
        write_md(rows, args.out / "phonopy_suite.md", source, seconds)
    c = counts(rows)
    print(f"phonopy tests from {source}: {c['expressible']} expressible of {c['in scope']} in "
          f"scope ({c['partial']} partly; {c['tests'] - c['in scope']} out of scope), "
          f"{c['passed']} pass, {c['failed']} fail; {seconds:.0f} s")
    return 0 if c["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

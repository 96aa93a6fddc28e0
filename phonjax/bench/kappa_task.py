"""The κ benchmark as a bench task: protocol presets, work items and rows.

A ``KappaProtocol`` names and versions a ``pipeline.kappa.KappaRecipe`` (its ``key`` is the
store's protocol column; overrides change the key, so rows of different settings never mix).
``kappa-srme@v1`` is the published benchmark (Póta et al. 2024; k_SRME's scripts, which
matbench-discovery's κ task runs): two-stage FIRE relaxation (FrechetCellFilter without
tilt, FixSymmetry in stage 1) to 1e-4 eV/Å in ≤ 300 steps per stage, spglib symprec 1e-5;
phono3py's displacements of 0.03 Å in the dataset's FC3 and FC2 supercells, traditional
symmetrization of FC2 and FC3; Wigner transport (SMM19) with isotope scattering and a 1 m
boundary at 300 K on the dataset's q-mesh, tetrahedron weights averaged over degenerate
bands (phono3py's ``average_degenerate_weights``); a crystal with imaginary modes (Γ acoustic
< −0.01 THz, anything else < 0) or a space group changed by the relaxation is censored
(κ_SRME = 2, with its reason).

Work items are ``bench.inputs.Material`` entries (``material_entry``: the crystal and its
settings as plain JSON, hashed like every input), so the bench's store, claims, shards and
executors run them unchanged; ``compute_kappa_chunk`` is this task's ``compute`` for
``bench.runner.run``: the chunk's crystals relaxed together and all their displaced
supercells in one model call (``pipeline.kappa.kappa_of_crystals``), one row per crystal as
soon as the chunk is done. A row holds κ (tensor and its trace average, particle and
coherence parts), the per-mode total κ and the frequencies on the irreducible q-points (what
the metrics need), the relaxation's and the gate's record, the wall times.
"""

from __future__ import annotations

import hashlib
import json
import time
import traceback
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from phonjax.pipeline.kappa import KappaCrystal, KappaRecipe
from phonjax.pipeline.settings import TwoStageRelaxSettings

DATASET_LABEL = "kappa-phonondb-pbe"


@dataclass(frozen=True)
class KappaProtocol:
    """A named, versioned ``KappaRecipe`` (``mesh``: one q-mesh for every crystal instead of
    the dataset's, for a quick look; the mode-resolved metrics then cannot be scored)."""

    name: str
    version: int
    recipe: KappaRecipe = KappaRecipe()
    mesh: tuple[int, int, int] | None = None

    @property
    def overrides(self) -> dict:
        base = asdict(KAPPA_PRESETS[self.name]) if self.name in KAPPA_PRESETS else {}
        mine = asdict(self)
        return {k: v for k, v in _flat(mine).items() if _flat(base).get(k) != v}

    @property
    def key(self) -> str:
        key = f"{self.name}@v{self.version}"
        extra = self.overrides
        if extra:
            digest = hashlib.sha1(json.dumps(extra, sort_keys=True, default=str).encode())
            key += "+" + digest.hexdigest()[:8]
        return key

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, default=str)


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = list(v) if isinstance(v, tuple) else v
    return out


KAPPA_PRESETS: dict[str, KappaProtocol] = {
    "kappa-srme": KappaProtocol("kappa-srme", 1, KappaRecipe()),
}
DEFAULT_KAPPA_PROTOCOL = "kappa-srme"

_RELAX_KEYS = {f.name for f in fields(TwoStageRelaxSettings)}
_RECIPE_KEYS = {f.name for f in fields(KappaRecipe)} - {"relax"}


def resolve_kappa(name: str = DEFAULT_KAPPA_PROTOCOL, overrides: dict | None = None
                  ) -> KappaProtocol:
    """A preset with ``overrides`` ({setting: text or value}) applied and checked: the
    recipe's fields, the relaxation's (``fmax_eV_A``, ``steps``, ``symprec``, ``allow_tilt``)
    or ``relax=false``, and ``mesh`` (N or N1xN2xN3)."""
    from phonjax import options
    from phonjax.bench.protocols import mesh_setting

    if name not in KAPPA_PRESETS:
        raise ValueError(f"unknown κ protocol {name!r}; known: {', '.join(KAPPA_PRESETS)}")
    p = KAPPA_PRESETS[name]
    recipe, relax, mesh = {}, {}, p.mesh
    for k, v in (overrides or {}).items():
        k = k.replace("-", "_")
        if k == "mesh":
            mesh = mesh_setting(v)
        elif k == "relax":
            if not options.boolean("relax", v):
                recipe["relax"] = None
        elif k in _RELAX_KEYS:
            relax[k] = v
        elif k in _RECIPE_KEYS:
            recipe[k] = _recipe_value(k, v)
        else:
            raise ValueError(f"unknown κ protocol setting {k!r}; known: mesh, relax, "
                             f"{', '.join(sorted(_RELAX_KEYS | _RECIPE_KEYS))}")
    if relax:
        if recipe.get("relax", ...) is None:
            raise ValueError("relax=false takes no relaxation settings")
        recipe["relax"] = TwoStageRelaxSettings(**{**asdict(p.recipe.relax), **relax})
    return replace(p, recipe=replace(p.recipe, **recipe), mesh=mesh)


def _recipe_value(name: str, value):
    from phonjax import options

    if not isinstance(value, str):
        return value
    if name in ("isotope", "average_degenerate", "kappa_if_symmetry_broken"):
        return options.boolean(name, value)
    if name == "temperatures_K":
        return tuple(options.non_negative(name, t) for t in value.replace(",", " ").split())
    if name in ("method", "symmetrization"):
        choices = {"method": ("rta", "wigner"),
                   "symmetrization": ("traditional", "symfc-projector", "none")}[name]
        if value not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value
    if name == "boundary_mfp_um" and value.lower() == "none":
        return None
    if name == "distance_A":
        return options.displacement_distance(name, value)
    return float(value)


# --- work items ----------------------------------------------------------------------------


def material_entry(m) -> dict:
    """A ``bench.kappa_reference.KappaMaterial`` as plain JSON (what is hashed and sent)."""
    a = m.atoms
    return {"task": "kappa", "mp_id": m.mp_id, "name": m.name,
            "spacegroup_number": int(m.spacegroup_number),
            "cell": np.asarray(a.cell).tolist(), "positions": a.positions.tolist(),
            "numbers": a.numbers.tolist(), "fc3_supercell": np.asarray(m.fc3_supercell).tolist(),
            "fc2_supercell": np.asarray(m.fc2_supercell).tolist(),
            "primitive_matrix": np.asarray(m.primitive_matrix, float).tolist(),
            "q_mesh": [int(x) for x in m.q_mesh]}


def kappa_materials(materials, label: str = DATASET_LABEL) -> list:
    """``bench.inputs.Material`` work items of ``KappaMaterial``s."""
    from phonjax.bench.inputs import Material

    return [Material(label, m.mp_id, entry=material_entry(m)) for m in materials]


def crystal_of(entry: dict, protocol: KappaProtocol) -> KappaCrystal:
    from ase import Atoms

    atoms = Atoms(numbers=entry["numbers"], positions=entry["positions"], cell=entry["cell"],
                  pbc=True)
    mesh = protocol.mesh or tuple(entry["q_mesh"])
    return KappaCrystal(entry["mp_id"], atoms, np.array(entry["fc3_supercell"], int),
                        np.array(entry["fc2_supercell"], int),
                        np.array(entry["primitive_matrix"], float), tuple(int(x) for x in mesh))


# --- rows -----------------------------------------------------------------------------------


def _row_base(m, model: str, protocol: KappaProtocol) -> dict:
    e = m.entry
    return {"dataset": m.dataset, "material_id": m.material_id, "model": model,
            "protocol": protocol.key, "input_sha256": m.input_sha256, "name": e["name"],
            "spacegroup_number": e["spacegroup_number"],
            "structure": {225: "rocksalt", 216: "zincblende", 186: "wurtzite"}.get(
                e["spacegroup_number"], str(e["spacegroup_number"]))}


def outcome_row(m, model: str, protocol: KappaProtocol, outcome) -> dict:
    """The store row of one crystal's ``KappaOutcome``."""
    from phonjax.bench.kappa_metrics import mode_kappa_total, split_band_pairs

    row = {**_row_base(m, model, protocol), "status": outcome.status, "stage": outcome.stage,
           "error": outcome.reason, "n_supercells": outcome.n_supercells,
           "timings_s": outcome.timings_s}
    r = outcome.relaxation
    if r is not None:
        row["relax"] = {"ok": r.ok, "steps": r.steps, "fmax_eV_A": r.fmax_eV_A,
                        "seconds": r.seconds, **r.details}
        if r.atoms is not None:
            row["relaxed"] = {"cell": np.asarray(r.atoms.cell).tolist(),
                              "positions": r.atoms.positions.tolist()}
    if outcome.gate is not None:
        row["gate"] = asdict(outcome.gate)
    res = outcome.result
    if res is not None:
        n_mesh = int(np.prod(res.mesh))
        particle = res.kappa_particle
        if res.mode_kappa_matrix is not None:  # the benchmark's per-mode κ_P + κ_C
            mode_p, mode_c = split_band_pairs(res.mode_kappa_matrix, res.frequency)
            mode_tot = mode_kappa_total(mode_p, mode_c, res.heat_capacity)
        else:
            mode_tot = mode_kappa_total(res.mode_kappa)
        row.update({
            "temperatures_K": res.temperatures_K.tolist(),
            "kappa_WmK": res.kappa.tolist(), "kappa_P_WmK": particle.tolist(),
            "kappa_C_WmK": (None if res.kappa_coherence is None
                            else res.kappa_coherence.tolist()),
            "kappa_avg_WmK": [float(k[:3].mean()) for k in res.kappa],
            "mode_kappa_tot_avg": mode_tot.tolist(), "frequencies_THz": res.frequency.tolist(),
            "weights": res.weight.tolist(), "qpoints": res.qpoint.tolist(),
            "mesh": res.mesh.tolist(), "n_mesh": n_mesh, "n_triplets": res.n_triplets,
            "kappa_timings_s": res.timings_s})
    return row


def compute_kappa_chunk(materials, model: str, protocol: KappaProtocol, device: str = "cpu",
                        max_atoms: int = 4096, lanes: int | None = None, plan=None):
    """Rows of ``materials`` under ``model`` (``bench.runner.run``'s ``compute``); never
    raises: a model that cannot load gives ``model_error`` rows (the runner stops), a
    crystal's failure its own ``failed`` row."""
    from phonjax.pipeline import models
    from phonjax.pipeline.forces import lane_threads, lanes_or_default
    from phonjax.pipeline.kappa import kappa_of_crystals

    t_last = time.perf_counter()
    try:
        adapter = models.loaded_adapter(model, device, max_atoms)
    except Exception as exc:
        for m in materials:
            yield {**_row_base(m, model, protocol), "status": "model_error", "stage": "model",
                   "error": f"{type(exc).__name__}: {exc}"}
        return
    lanes = lanes_or_default(device, lanes)
    crystals = [crystal_of(m.entry, protocol) for m in materials]
    done = 0
    try:
        with lane_threads(lanes):
            for m, o in zip(materials, kappa_of_crystals(crystals, adapter, protocol.recipe,
                                                         lanes=lanes, plan=plan)):
                # the first row carries the batched stages shared by all; each its κ stage
                now = time.perf_counter()
                wall, t_last, done = now - t_last, now, done + 1
                yield {**outcome_row(m, model, protocol, o), "wall_seconds": wall}
    except Exception as exc:  # the model failed for all: not the materials' fault
        for m in materials[done:]:
            yield {**_row_base(m, model, protocol), "status": "model_error", "stage": "model",
                   "error": f"{type(exc).__name__}: {exc}",
                   "traceback": traceback.format_exc(limit=5)}


def list_kappa_materials(datasets: list[str] | None, label: str | None = None
                         ) -> tuple[str, list, list[str]]:
    """(label, work items, problems) of the κ benchmark's crystals: ``datasets`` None (the
    shared copy, ``kappa_reference.default_folder``) or one folder holding its two files."""
    from phonjax.bench.inputs import InputError
    from phonjax.bench.kappa_reference import load_benchmark

    if datasets and len(datasets) > 1:
        raise InputError("task kappa takes one --dataset folder (the benchmark's two files)")
    try:
        pairs = load_benchmark(datasets[0] if datasets else None)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    return label or DATASET_LABEL, kappa_materials([m for m, _ in pairs.values()],
                                                   label or DATASET_LABEL), []


def cost(material) -> tuple:
    """Sort key, cheapest first: primitive atoms, mesh points, FC3 supercell atoms, id."""
    e = material.entry
    n_unit = len(e["numbers"])
    n_prim = round(n_unit * abs(np.linalg.det(np.array(e["primitive_matrix"], float))))
    n_fc3 = n_unit * round(abs(np.linalg.det(np.array(e["fc3_supercell"], float))))
    return (n_prim, int(np.prod(e["q_mesh"])), n_fc3, material.material_id)

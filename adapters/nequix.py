"""Nequix (nequix package, MIT): an equinox model evaluated in JAX, no torch anywhere.

Weights are ``.nqx`` files (one JSON config line, then equinox-serialised
leaves), loaded by the package's own ``nequix.calculator.from_pretrained`` from
the first of: ``checkpoint=PATH``, the package's cache
``~/.cache/nequix/models/<variant>.nqx`` (where its own download puts them on a
connected machine), or the copies next to the repository in
``../shared/models/nequix/``. Graphs are built as ``NequixCalculator`` builds
them (``nequix.data.preprocess_graph``: matscipy neighbour list at the model's
cutoff), batched with jraph and padded to a size ladder (nodes in steps of 8,
edges of 64, ≤ ~19 % padding above 16 nodes and 512 edges, graphs to a power
of two ≥ 4) so that one compiled shape serves many calls.
Energies (eV), forces −∂E/∂x (eV/Å) and stresses (1/V) ∂E/∂ε (eV/Å³, ASE sign)
come from one ``jax.grad`` of the model's own ``__call__``.

Precision: ``float64`` (default) casts the float32 weights to float64 and
builds positions and cells in float64, inside ``jax.enable_x64(True)``;
``float32`` is the package's own path (positions rounded to float32, x64 off).
Either way the caller's global JAX settings are left as they were (importing
nequix sets ``jax_default_matmul_precision='highest'`` globally; that is
undone, and 'highest' is applied only around this adapter's calls).

:meth:`NequixAdapter.energy_function` returns the model's energy as a pure JAX
function of the positions for the Hessian route (see ``jax_energy``).
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from phonjax.resources import MemoryGate
from phonjax_adapters.base import Adapter, ModelUnavailable, StructureResult, split_results

_REPO_COPIES = Path(__file__).resolve().parents[1].parent / "shared" / "models" / "nequix"
# Loaded float32 models by (path, mtime): the loader spends seconds building a template
# model, so a second adapter on the same file (another dtype) reuses the first load.
_LOADED: dict[tuple[str, float], tuple[Any, dict]] = {}
_MIN_NODES, _MIN_EDGES = 16, 512  # padded sizes never go below these
# Compiled model calls by (model, device, graph shapes): the model and the call, and the
# bytes its temporaries and outputs take (XLA's memory analysis), reserved in ``MODEL_MEMORY``
# around each call so that concurrent lanes fit in the machine's memory together (float64
# forces take ~30 MB per atom on CPU: 15 GB for a 512-atom cell).
_COMPILED: dict[tuple, tuple[Any, Any, float]] = {}
MODEL_MEMORY = MemoryGate()


def _model_call(model, graph):
    return model(graph)


def _cache_dir() -> Path:
    return Path("~/.cache/nequix/models").expanduser()  # hard-coded in nequix.calculator


def _import_nequix():
    """nequix's loader and graph builder, imported without leaving its global JAX setting."""
    import jax

    before = jax.config.jax_default_matmul_precision
    try:
        from nequix.calculator import from_pretrained
        from nequix.data import atomic_numbers_to_indices, dict_to_graphstuple, preprocess_graph
    finally:
        jax.config.update("jax_default_matmul_precision", before)
    return from_pretrained, atomic_numbers_to_indices, dict_to_graphstuple, preprocess_graph


def ladder(n: int, quantum: int) -> int:
    """``n`` rounded up to a size ladder: multiples of ``quantum``, in steps of at most
    ~1/8 of the size above 8 quanta (so at most ~19 % padding, ~6 sizes per doubling)."""
    n = max(int(n), 1)
    step = quantum * max(1, 2 ** max(0, math.floor(math.log2(max(n / quantum, 1))) - 3))
    return -(-n // step) * step


class NequixAdapter(Adapter):
    family = "nequix"
    title = "Nequix"
    distribution = "nequix"
    module = "nequix"
    extra = "nequix"
    variants = ("nequix-mp-1", "nequix-mp-1-pft")
    dtypes = ("float64", "float32")
    batched = True
    # On CPU, 8 displaced 64-atom Si cells took 15 s in one call against 9 s one by one
    # (float64, warm, busy 2-core machine); accelerators still get the batches.
    batch_on_cpu = False

    # --- weights --------------------------------------------------------------------------

    def _candidates(self) -> list[Path]:
        name = f"{self.variant}.nqx"
        return [_cache_dir() / name, _REPO_COPIES / name]

    def weight_files(self) -> list[Path]:
        found = [p for p in self._candidates() if p.exists()]
        return found[:1] or self._candidates()[:1]

    def weights_hint(self) -> str:
        return (
            "on a connected machine run `python -c \"from nequix.calculator import "
            f"from_pretrained; from_pretrained('{self.variant}', use_kernel=False)\"` "
            f"(downloads to {_cache_dir()}), "
            f"or copy {self.variant}.nqx there or to {_REPO_COPIES}, or pass checkpoint=PATH"
        )

    def install_hint(self) -> str:
        return (
            "scripts/install-models.sh VENV, or pip install -c constraints.txt 'phonjax[nequix]' "
            "&& pip install --no-deps nequix==0.4.5 (its wheel would pull jax[cuda12])"
        )

    # --- loading ---------------------------------------------------------------------------

    @property
    def float_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    def _precision(self) -> contextlib.ExitStack:
        """The JAX settings every call of this adapter runs under (restored afterwards)."""
        import jax

        stack = contextlib.ExitStack()
        stack.enter_context(jax.enable_x64(self.dtype == "float64"))
        stack.enter_context(jax.default_matmul_precision("highest"))
        stack.enter_context(jax.default_device(self._jax_device()))
        return stack

    def _jax_device(self):
        import jax

        kind, _, index = self.device.partition(":")
        platform = {"cuda": "gpu", "gpu": "gpu", "rocm": "gpu"}.get(kind, kind)
        try:
            return jax.devices(platform)[int(index or 0)]
        except (RuntimeError, IndexError) as err:
            raise ModelUnavailable(f"Nequix: no JAX device {self.device!r} here ({err})") from None

    def _load(self, weights: Path) -> Any:
        import jax
        import jax.numpy as jnp

        from_pretrained, to_indices, _, _ = _import_nequix()
        key = (str(weights.resolve()), weights.stat().st_mtime)
        if key not in _LOADED:
            # The file holds float32 leaves: build and fill the model with x64 off, as
            # the package does (under x64 its template is float64 and loading fails).
            with jax.enable_x64(False):
                _LOADED[key] = from_pretrained(
                    self.variant, model_path=str(weights), use_kernel=False
                )
        model, config = _LOADED[key]
        self.package_model = model  # float32, as nequix's loader returns it
        with self._precision():
            model = jax.tree.map(
                lambda x: jnp.asarray(x, self.dtype)
                if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jnp.floating)
                else x,
                model,
            )
            model = jax.device_put(model, self._jax_device())
        self.config = config
        self.cutoff_A = float(config["cutoff"])
        self.species_index = to_indices(config["atomic_numbers"])
        return model

    # --- graphs ----------------------------------------------------------------------------

    def _graph_dict(self, atoms) -> dict:
        """nequix's own graph of one structure, with positions and cell in this dtype."""
        _, _, _, preprocess_graph = _import_nequix()
        from ase.data import chemical_symbols

        unknown = sorted(
            {chemical_symbols[z] for z in atoms.numbers if int(z) not in self.species_index}
        )
        if unknown:
            raise ModelUnavailable(
                f"Nequix {self.variant} was not trained on {', '.join(unknown)} "
                f"(elements Z = {min(self.species_index)}..{max(self.species_index)} with gaps)"
            )
        graph = preprocess_graph(atoms, self.species_index, self.cutoff_A, False)
        graph["positions"] = np.asarray(atoms.positions, self.float_dtype)
        graph["cell"] = np.asarray(atoms.cell.array, self.float_dtype)
        return graph

    def _padded_batch(self, atoms: Sequence[Any]):
        import jraph

        _, _, dict_to_graphstuple, _ = _import_nequix()
        graphs = [dict_to_graphstuple(self._graph_dict(a)) for a in atoms]
        batch = jraph.batch_np(graphs)
        n_node = int(np.sum(batch.n_node))
        n_edge = int(np.sum(batch.n_edge))
        # At least one padding node and one padding graph, as jraph needs. The floors
        # give every small cell (≤ 15 atoms, ≤ 512 edges, ≤ 3 structures) one shape.
        return jraph.pad_with_graphs(
            batch,
            n_node=ladder(max(n_node + 1, _MIN_NODES), 8),
            n_edge=ladder(max(n_edge, _MIN_EDGES), 64),
            n_graph=max(4, 2 ** math.ceil(math.log2(len(atoms) + 1))),
        )

    # --- evaluation ------------------------------------------------------------------------

    def _compiled(self, graph) -> tuple[Any, float]:
        """The model call compiled for this graph's shapes (under ``_precision``) and the bytes
        of its temporaries and outputs."""
        import equinox as eqx
        import jax

        key = (id(self.model), str(self._jax_device()), jax.config.jax_enable_x64,
               tuple((np.shape(x), np.asarray(x).dtype.str)
                     for x in jax.tree_util.tree_leaves(graph)))
        hit = _COMPILED.get(key)
        if hit is None or hit[0] is not self.model:
            call = eqx.filter_jit(_model_call).lower(self.model, graph).compile()
            try:
                memory = call.compiled.memory_analysis()
                need = float(memory.temp_size_in_bytes + memory.output_size_in_bytes)
            except Exception:  # a backend without the analysis: nothing reserved
                need = 0.0
            hit = _COMPILED[key] = (self.model, call, need)
        return hit[1], hit[2]

    def _evaluate(self, atoms: Sequence[Any], compute_stress: bool) -> list[StructureResult]:
        n = len(atoms)
        n_atoms = sum(len(a) for a in atoms)
        with self._precision():
            graph = self._padded_batch(atoms)
            call, need = self._compiled(graph)
            with MODEL_MEMORY.reserve(
                    need, f"Nequix {self.variant} ({self.dtype}) on {n_atoms} atoms",
                    "use a smaller supercell, fewer structures per call (--max-atoms) or "
                    "dtype float32"):
                energies, forces, stresses = call(self.model, graph)
                energies = np.asarray(energies, np.float64)[:n]
                forces = np.asarray(forces, np.float64)[:n_atoms]
                stresses = np.asarray(stresses, np.float64)[:n] if compute_stress else None
        return split_results(atoms, energies, forces, stresses)

    # --- the Hessian route ----------------------------------------------------------------

    def energy_function(self, lattice_A, positions_A, numbers):
        """The model's energy as a pure JAX function of the positions, on a fixed graph.

        ``lattice_A`` (3, 3) Å, rows are lattice vectors; ``positions_A`` (N, 3)
        Cartesian Å; ``numbers`` (N,) atomic numbers: the reference (e.g. ideal
        supercell) geometry, periodic in all three directions. The neighbour
        list is built here, once, on the host (``nequix.data.preprocess_graph``,
        cutoff ``self.cutoff_A``); Nequix's polynomial envelope makes the energy
        smooth at the cutoff, so derivatives at the reference are exact.

        Returns ``energy_fn(positions_A, cell_A=None) -> eV``: positions (N, 3)
        Å → total energy (scalar, the adapter's dtype), a pure JAX function:
        ``-jax.grad(energy_fn)`` are the forces (N, 3) eV/Å and
        ``jax.hessian(energy_fn)`` the force constants (N, 3, N, 3) eV/Å².
        ``cell_A`` (3, 3) Å, default ``lattice_A``, lets strains through.
        ``model=`` takes another ``nequix.model.Nequix`` of the same structure
        (e.g. ``eqx.tree_at`` of ``adapter.model``) in place of the loaded one, so
        that gradients with respect to its parameters flow (``eqx.filter_grad``).
        With the default float64 dtype, call and differentiate it inside
        ``with jax.enable_x64(True):``.
        """
        import ase

        from phonjax_adapters.jax_energy import node_energy_function

        self.load()
        atoms = ase.Atoms(numbers=np.asarray(numbers), positions=np.asarray(positions_A, float),
                          cell=np.asarray(lattice_A, float), pbc=True)
        graph = self._graph_dict(atoms)
        loaded = self.model

        def node_energies(vectors, species, senders, receivers, model=None):
            return (loaded if model is None else model).node_energies(
                vectors, species, senders, receivers
            )

        return node_energy_function(
            node_energies,
            senders=graph["senders"],
            receivers=graph["receivers"],
            shifts=graph["shifts"],
            species=graph["species"],
            lattice_A=lattice_A,
            dtype=self.float_dtype,
        )

"""The adapter protocol: one uMLIP family behind one small interface.

An adapter names a model family and one of its variants, tells whether that
variant can run here (package importable, weights on disk) without importing
torch or the model package, loads the model on a device and dtype, and
evaluates a :class:`~phonjax.structure.batch.StructureBatch`:

  energies  (B,)       eV, total energy of each structure
  forces    (B, N, 3)  eV/Å, padded like the batch (zeros on padding atoms)
  stresses  (B, 3, 3)  eV/Å³, ASE sign convention σ = (1/V) ∂E/∂ε
                       (negative under compression), full 3×3 tensor, not Voigt

Each family runs in float64 where its package's own inference path supports
it (MACE, matgl, ORB, fairchem; the default there) and in float32 otherwise
(CHGNet, SevenNet and MatterSim build their inputs in float32).

Families whose package can evaluate many structures in one model call set
``batched = True`` and get groups of at most ``max_atoms`` atoms; the others
are called one structure at a time. A family whose batched calls were measured
slower than one call per structure on CPU sets ``batch_on_cpu = False`` and is
then called per structure there (its batching is kept for accelerators).
Subclasses implement ``weight_files``, ``_load`` and ``_evaluate``; everything
else lives here.

Weights: a variant whose files are missing is fetched on first use into its
package's cache (``weights_url``/``download_weights``, see ``weights``), unless
downloads are off (``offline=True``, or ``PHONJAX_OFFLINE=1``, which the command
lines' ``--offline`` sets): then ``load`` fails at once naming the missing files
and where to put them. ``weights_path`` and ``weights_sha256`` identify what was
loaded (the benchmark records both). A local ``checkpoint=`` is never fetched.
"""

from __future__ import annotations

import abc
import contextlib
import importlib.metadata
import importlib.util
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterator, Sequence

import numpy as np

from phonjax.structure.batch import StructureBatch, pad_structures
from phonjax_adapters.weights import WeightsMixin, WeightsNotFound

__all__ = ["Adapter", "Availability", "Evaluation", "ModelUnavailable", "StructureResult",
           "WeightsNotFound", "batch_to_atoms", "module_installed", "package_dir",
           "package_version", "split_results"]

if TYPE_CHECKING:
    import ase

class ModelUnavailable(RuntimeError):
    """The model package is missing or cannot serve the requested variant or dtype."""


@dataclass(frozen=True)
class Availability:
    """Whether a variant can run here; ``reason`` says briefly why not (or that its weights
    download on first use: ``downloads``), ``hint`` how to fix it or where they go."""

    ok: bool
    reason: str = ""
    hint: str = ""
    downloads: bool = False

    def __bool__(self) -> bool:
        return self.ok


@dataclass(frozen=True)
class Evaluation:
    """Results of one :meth:`Adapter.evaluate` call (units in the module docstring)."""

    energies: np.ndarray
    forces: np.ndarray
    stresses: np.ndarray | None


@dataclass(frozen=True)
class StructureResult:
    """What a family's ``_evaluate`` returns for each structure, already in eV, eV/Å, eV/Å³."""

    energy: float
    forces: np.ndarray
    stress: np.ndarray | None


def split_results(
    atoms: Sequence["ase.Atoms"],
    energies: np.ndarray,
    forces: np.ndarray,
    stresses: np.ndarray | None,
) -> list[StructureResult]:
    """Per-structure results of one model call on ``atoms``.

    ``energies`` (B,) eV, ``forces`` (sum of atoms, 3) eV/Å concatenated in
    order, ``stresses`` (B, 3, 3) eV/Å³ or None.
    """
    per_structure = np.split(np.asarray(forces, float), np.cumsum([len(a) for a in atoms])[:-1])
    stress = [None] * len(atoms) if stresses is None else np.asarray(stresses, float)
    return [
        StructureResult(float(e), f, s)
        for e, f, s in zip(np.asarray(energies, float).reshape(-1), per_structure, stress, strict=True)
    ]


@contextlib.contextmanager
def printed_to_log(name: str) -> Iterator[None]:
    """What a model package prints on stdout inside the block (e.g. CHGNet's "initialized
    with N parameters" banner) goes to the ``phonjax_adapters`` logger at INFO instead of the
    user's terminal (phonjax's own output is on stdout: tables, JSON lines)."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    finally:
        for line in buffer.getvalue().splitlines():
            logging.getLogger("phonjax_adapters").info("%s: %s", name, line)


def package_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def module_installed(module: str) -> bool:
    """Whether ``module`` (maybe dotted) can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


def package_dir(module: str) -> Path | None:
    """Directory of an installed package, found without importing it."""
    if not module_installed(module):
        return None
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def batch_to_atoms(batch: StructureBatch) -> list["ase.Atoms"]:
    """Periodic ASE Atoms of every structure in ``batch``, without padding."""
    import ase

    return [
        ase.Atoms(numbers=z, positions=r, cell=c, pbc=True)
        for c, r, z in (batch.structure(b) for b in range(len(batch)))
    ]


class Adapter(WeightsMixin, abc.ABC):
    """One model family; an instance is one variant on one device and dtype.

    Construction is cheap and imports nothing heavy; the model is loaded by
    :meth:`load` or on the first :meth:`evaluate`.
    """

    family: ClassVar[str]  # entry-point name, e.g. "chgnet"
    title: ClassVar[str]  # human name, e.g. "CHGNet"
    distribution: ClassVar[str]  # PyPI name, for versions and install hints
    module: ClassVar[str]  # import name checked with find_spec
    extra: ClassVar[str]  # phonjax extra that installs the package
    variants: ClassVar[tuple[str, ...]]  # the first one is the default
    aliases: ClassVar[dict[str, str]] = {}
    dtypes: ClassVar[tuple[str, ...]]  # supported; the first one is the default
    batched: ClassVar[bool]  # True when the package evaluates many structures per call
    batch_on_cpu: ClassVar[bool] = True  # False: one structure per call on CPU (measured faster)
    conservative: ClassVar[bool] = True  # forces are -dE/dx (False for direct-force heads)

    def __init__(
        self,
        variant: str | None = None,
        *,
        checkpoint: str | os.PathLike | None = None,
        device: str = "cpu",
        dtype: str | None = None,
        max_atoms: int = 4096,
        offline: bool | None = None,
    ) -> None:
        name = variant or self.variants[0]
        self.variant = self.aliases.get(name, name)
        if checkpoint is None and self.variant not in self.variants:
            raise ValueError(
                f"{self.title} has no variant {name!r}; known: {', '.join(self.variants)} "
                "(or pass checkpoint=PATH for a local checkpoint)"
            )
        self.checkpoint = Path(checkpoint).expanduser() if checkpoint is not None else None
        self.device = device
        self.dtype = dtype or self.dtypes[0]
        self.max_atoms = max_atoms
        self._offline = offline
        self.model: Any = None

    def __repr__(self) -> str:
        where = f", checkpoint={str(self.checkpoint)!r}" if self.checkpoint else ""
        return f"{type(self).__name__}({self.variant!r}{where}, device={self.device!r}, dtype={self.dtype!r})"

    # --- availability, without importing torch or the model package -------------------
    # (weight_files, weights_hint, missing_weights, ensure_weights, weights_sha256 ...:
    # see weights.WeightsMixin)

    def install_hint(self) -> str:
        return ("make models (scripts/install-models.sh), or "
                f"pip install -c constraints.txt 'phonjax[{self.extra}]'")

    def availability(self) -> Availability:
        if not module_installed(self.module):
            return Availability(False, f"{self.distribution} not installed", self.install_hint())
        missing = self.missing_weights()
        if missing:
            # Just the file names here, to keep `phonjax models` readable; the hint and
            # load()'s error give full paths.
            more = f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""
            label = self.weights_label(missing[0])
            if self._will_download():
                return Availability(True, f"downloads {label}{more} on first use",
                                    str(self.download_dest().parent), downloads=True)
            off = " (downloads off)" if self.offline and self.can_download() else ""
            return Availability(False, f"weights missing{off}: {label}{more}", self.weights_hint())
        return Availability(True)

    # --- loading and evaluation ----------------------------------------------------------

    def load(self, device: str | None = None, dtype: str | None = None) -> "Adapter":
        """Load the model (once); ``device``/``dtype`` override the constructor's."""
        wanted = (device or self.device, dtype or self.dtype)
        if wanted != (self.device, self.dtype):
            self.model = None
            self.device, self.dtype = wanted
        if self.model is not None:
            return self
        if self.dtype not in self.dtypes:
            raise ModelUnavailable(
                f"{self.title} runs in {' or '.join(self.dtypes)} only, not {self.dtype}"
            )
        if not module_installed(self.module):
            raise ModelUnavailable(
                f"{self.distribution} is not installed; install it with {self.install_hint()}"
            )
        weights = self.ensure_weights()
        from phonjax_adapters.weights import hubs_offline

        with hubs_offline():  # the files are local now; no hub client may wait on the network
            self.model = self._load(weights)
        return self

    @abc.abstractmethod
    def _load(self, weights: Path) -> Any:
        """Build the model from ``weights`` with the package's own loader."""

    @abc.abstractmethod
    def _evaluate(
        self, atoms: Sequence["ase.Atoms"], compute_stress: bool
    ) -> list[StructureResult]:
        """Evaluate ``atoms`` in one model call (one structure when not ``batched``)."""

    @property
    def batches_here(self) -> bool:
        """Whether calls on this device take many structures at once."""
        return self.batched and (self.batch_on_cpu or self.device != "cpu")

    def evaluate(
        self, batch: StructureBatch, *, compute_stress: bool = True, workers: int = 1
    ) -> Evaluation:
        """Energies, forces and (optionally) stresses of every structure in ``batch``.

        ``workers`` > 1 runs that many model calls (groups of ≤ ``max_atoms`` atoms)
        at once in threads; each call sees the same structures as with one worker,
        so results do not change. Meant for CPUs with one intra-op thread per call
        (see ``torch_utils.intra_op_threads``); the family must be thread-safe in
        inference (CHGNet is).
        """
        self.load()
        if self.batches_here:
            groups = batch.split(self.max_atoms)
        else:
            groups = [np.array([b]) for b in range(len(batch))]
        n_batch, n_max = batch.mask.shape
        energies = np.zeros(n_batch)
        forces = np.zeros((n_batch, n_max, 3))
        stresses = np.zeros((n_batch, 3, 3)) if compute_stress else None

        def run(group):
            return self._evaluate(batch_to_atoms(batch.take(group)), compute_stress)

        if workers > 1 and len(groups) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(workers, len(groups))) as pool:
                evaluated = list(pool.map(run, groups))
        else:
            evaluated = map(run, groups)
        for group, results in zip(groups, evaluated):
            for b, result in zip(group, results, strict=True):
                energies[b] = result.energy
                forces[b, : len(result.forces)] = result.forces
                if stresses is not None:
                    stresses[b] = result.stress
        return Evaluation(energies, forces, stresses)

    def evaluate_atoms(
        self, atoms: Sequence["ase.Atoms"], *, compute_stress: bool = True
    ) -> list[StructureResult]:
        """Evaluate ASE Atoms directly (periodic in all three directions)."""
        batch = pad_structures((a.cell.array, a.positions, a.numbers) for a in atoms)
        out = self.evaluate(batch, compute_stress=compute_stress)
        return [
            StructureResult(
                float(out.energies[b]),
                out.forces[b, : len(a)],
                None if out.stresses is None else out.stresses[b],
            )
            for b, a in enumerate(atoms)
        ]

    def calculator(self) -> "ase.calculators.calculator.Calculator":
        """An ASE calculator backed by this adapter, e.g. for relaxations."""
        from phonjax_adapters.ase_calculator import AdapterCalculator

        return AdapterCalculator(self)

"""M3GNet and the other matgl potentials: ``matgl.load_model`` + a batched ``Potential`` call.

matgl (4.x, PyTorch Geometric) downloads weights from the Hugging Face org
``materialyze`` into ``~/.cache/matgl``; this adapter looks there (and in the
older flat layout ``~/.cache/matgl/<name>/``), fetches a missing model the same
way (``hf_hub_download`` of its three files into that cache) on first use, and
hands the local directory to ``matgl.load_model``. ``Potential`` supports
float64 through ``.double()``; the converters build fractional coordinates in
float32, so in float64 they are rebuilt from the float64 positions.
Stress comes out in GPa and is converted with ASE's GPa as ``PESCalculator``
does with ``stress_unit="eV/A3"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from phonjax_adapters.base import Adapter, StructureResult, split_results

_MODEL_FILES = ("model.pt", "state.pt", "model.json")
_HF_ORG = "materialyze"


def _matgl_cache() -> Path:
    return Path.home() / ".cache" / "matgl"  # hard-coded in matgl.config


def _local_model_dir(name: str) -> Path | None:
    """A directory holding the three matgl model files for ``name``, if cached."""
    cache = _matgl_cache()
    candidates = [cache / name]
    snapshots = cache / f"models--{_HF_ORG}--{name}" / "snapshots"
    if snapshots.is_dir():
        candidates += sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    for directory in candidates:
        if all((directory / f).exists() for f in _MODEL_FILES):
            return directory
    return None


class M3GNetAdapter(Adapter):
    family = "m3gnet"
    title = "M3GNet (matgl)"
    distribution = "matgl"
    module = "matgl"
    extra = "m3gnet"
    variants = (
        "M3GNet-MP-2021.2.8-PES",
        "M3GNet-MP-2021.2.8-DIRECT-PES",
        "M3GNet-MatPES-PBE-v2025.1-PES",
        "TensorNet-MatPES-PBE-v2025.1-PES",
        "CHGNet-MatPES-PBE-2025.2.10-2.7M-PES",
    )
    dtypes = ("float64", "float32")
    batched = True

    def weight_files(self) -> list[Path]:
        directory = _local_model_dir(self.variant) or _matgl_cache() / self.variant
        return [directory / f for f in _MODEL_FILES]

    def weights_hint(self) -> str:
        return (
            f"on a machine with internet run python -c \"import matgl; matgl.load_model('{self.variant}')\" "
            f"and copy {_matgl_cache()} here, or put model.pt, state.pt and model.json in a "
            "directory and pass checkpoint=DIR"
        )

    def can_download(self) -> bool:
        return True

    def download_weights(self) -> None:
        from phonjax_adapters.weights import hf_download

        hf_download(f"{_HF_ORG}/{self.variant}", _MODEL_FILES, _matgl_cache(),
                    f"{self.title} {self.variant}")

    def download_dest(self) -> Path:
        return _matgl_cache() / f"models--{_HF_ORG}--{self.variant}"

    def weight_digest_files(self, path: Path) -> list[Path]:
        return [path / f for f in _MODEL_FILES] if path.is_dir() else [path]

    def resolve_weights(self) -> Path:
        path = super().resolve_weights()
        return path if path.is_dir() else path.parent

    def _load(self, weights: Path) -> Any:
        import matgl
        import torch

        potential = matgl.load_model(weights)
        potential.calc_stresses = True
        potential = potential.to(self.device, getattr(torch, self.dtype))
        potential.eval()
        return potential

    def _evaluate(self, atoms: Sequence[Any], compute_stress: bool) -> list[StructureResult]:
        import torch
        from ase import units
        from matgl.ext.ase import Atoms2Graph
        from torch_geometric.data import Batch

        potential = self.model
        dtype = getattr(torch, self.dtype)
        converter = Atoms2Graph(potential.model.element_types, potential.model.cutoff)
        graphs, states = [], []
        for a in atoms:
            graph, _lattice, state = converter.get_graph(a)
            # Both matgl graph builders use unwrapped fractional coordinates; rebuild them
            # in full precision so float64 means float64 positions, not rounded ones.
            graph.frac_coords = torch.as_tensor(a.cell.scaled_positions(a.positions), dtype=dtype)
            graph.pbc_offset = graph.pbc_offset.to(dtype)
            graphs.append(graph.cpu())
            states.append(torch.as_tensor(np.asarray(state), dtype=dtype))
        lattices = torch.as_tensor(np.stack([a.cell.array for a in atoms]), dtype=dtype)
        potential.calc_stresses = compute_stress
        energies, forces, stresses, *_ = potential(
            Batch.from_data_list(graphs).to(self.device),
            lattices.to(self.device),
            torch.stack(states).to(self.device),
        )
        stress_gpa = stresses.detach().cpu().numpy().reshape(-1, 3, 3) if compute_stress else None
        return split_results(
            atoms,
            energies.detach().cpu().numpy(),
            forces.detach().cpu().numpy(),
            None if stress_gpa is None else stress_gpa * units.GPa,
        )

"""MatterSim (mattersim package): ``Potential.from_checkpoint`` + its batched data loader.

Weights live in ``~/.local/mattersim/pretrained_models/``, where mattersim's
``download_checkpoint`` puts them; a missing checkpoint is fetched there from the
same URL on first use, then the local path is handed to the loader. MatterSim's graph convertor and model cast inputs to float32, so
only float32 is offered. Stress comes out in GPa and is converted with ASE's
GPa, as ``MatterSimCalculator`` does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from phonjax_adapters.base import Adapter, StructureResult, split_results

_CHECKPOINTS = {"v1.0.0-1M": "mattersim-v1.0.0-1M.pth", "v1.0.0-5M": "mattersim-v1.0.0-5M.pth"}
RAW_URL = "https://raw.githubusercontent.com/microsoft/mattersim/main/pretrained_models"


def _checkpoint_dir() -> Path:
    return Path.home() / ".local" / "mattersim" / "pretrained_models"  # hard-coded in mattersim


class MatterSimAdapter(Adapter):
    family = "mattersim"
    title = "MatterSim"
    distribution = "mattersim"
    module = "mattersim"
    extra = "mattersim"
    variants = tuple(_CHECKPOINTS)
    aliases = {f"mattersim-{v}": v for v in _CHECKPOINTS}
    dtypes = ("float32",)
    batched = True

    def weight_files(self) -> list[Path]:
        return [_checkpoint_dir() / _CHECKPOINTS[self.variant]]

    def weights_url(self) -> str:
        return f"{RAW_URL}/{_CHECKPOINTS[self.variant]}"

    def weights_hint(self) -> str:
        name = _CHECKPOINTS[self.variant]
        return f"download {RAW_URL}/{name} to {_checkpoint_dir() / name}, or pass checkpoint=PATH"

    def _load(self, weights: Path) -> Any:
        from mattersim.forcefield.potential import Potential

        potential = Potential.from_checkpoint(
            load_path=str(weights), device=self.device, load_training_state=False
        )
        potential.model.eval()
        return potential

    def _evaluate(self, atoms: Sequence[Any], compute_stress: bool) -> list[StructureResult]:
        from ase import units
        from mattersim.datasets.utils.build import build_dataloader
        from mattersim.forcefield.potential import batch_to_dict

        args = self.model.model.model_args
        loader = build_dataloader(
            list(atoms),
            cutoff=args["cutoff"],
            threebody_cutoff=args["threebody_cutoff"],
            batch_size=len(atoms),
            only_inference=True,
        )
        (graph_batch,) = list(loader)
        output = self.model.forward(
            batch_to_dict(graph_batch, device=self.device),
            include_forces=True,
            include_stresses=compute_stress,
        )
        return split_results(
            atoms,
            output["total_energy"].detach().cpu().numpy(),
            output["forces"].detach().cpu().numpy(),
            output["stresses"].detach().cpu().numpy() * units.GPa if compute_stress else None,
        )

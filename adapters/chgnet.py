"""CHGNet (chgnet package): weights ship inside the wheel, batched through ``predict_graph``.

CHGNet's graph converter and batching hard-code float32, so only float32 is
offered. The model predicts energy per atom and stress in GPa; both are
converted here to eV per structure and eV/Å³ exactly as ``CHGNetCalculator``
does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from phonjax_adapters.base import Adapter, StructureResult, package_dir

# File names inside chgnet/pretrained/, as CHGNet.load() resolves them.
_CHECKPOINTS = {
    "0.3.0": "0.3.0/chgnet_0.3.0_e29f68s314m37.pth.tar",
    "0.2.0": "0.2.0/chgnet_0.2.0_e30f77s348m32.pth.tar",
    "r2scan": "r2scan/chgnet_r2scan_transfer_learning_e15f36s161m23.pth.tar",
}


class CHGNetAdapter(Adapter):
    family = "chgnet"
    title = "CHGNet"
    distribution = "chgnet"
    module = "chgnet"
    extra = "chgnet"
    variants = ("0.3.0", "0.2.0", "r2scan")
    dtypes = ("float32",)
    batched = True

    def weight_files(self) -> list[Path]:
        root = package_dir(self.module)
        return [(root or Path("<chgnet not installed>")) / "pretrained" / _CHECKPOINTS[self.variant]]

    def weights_hint(self) -> str:
        return "reinstall chgnet from its wheel (the weights ship inside it), or pass checkpoint=PATH"

    def _load(self, weights: Path) -> Any:
        from chgnet.model import CHGNet

        if self.checkpoint is not None:
            model = CHGNet.from_file(str(weights))
        else:
            # The package loader also sets the per-version options (e.g. 0.2.0's output bias).
            model = CHGNet.load(model_name=self.variant, use_device=self.device, verbose=False)
        model = model.to(self.device)
        model.eval()
        return model

    def _evaluate(self, atoms: Sequence[Any], compute_stress: bool) -> list[StructureResult]:
        from ase import units
        from pymatgen.io.ase import AseAtomsAdaptor

        model = self.model
        graphs = [
            model.graph_converter(AseAtomsAdaptor.get_structure(a)).to(self.device) for a in atoms
        ]
        predictions = model.predict_graph(
            graphs, task="efs" if compute_stress else "ef", batch_size=len(graphs)
        )
        if isinstance(predictions, dict):  # predict_graph unwraps single results
            predictions = [predictions]
        return [
            StructureResult(
                energy=float(p["e"]) * (len(a) if model.is_intensive else 1),
                forces=p["f"].astype(float),
                stress=p["s"].astype(float) * units.GPa if compute_stress else None,
            )
            for p, a in zip(predictions, atoms, strict=True)
        ]

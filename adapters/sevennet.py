"""SevenNet (sevenn package): checkpoints in the wheel or ~/.cache/sevennet, batched via PyG.

The wheel ships 7net-0, 7net-0_22May2024, 7net-l3i5 and 7net-mf-0; 7net-omat and
7net-mf-ompa are GitHub release assets, fetched on first use to
``~/.cache/sevennet/`` as ``sevenn.util.pretrained_name_to_path`` does (its other
target, the package folder, is left alone).

``SevenNetCalculator`` has no multi-structure call, so this adapter runs the
checkpoint's model in batch mode on a ``torch_geometric`` batch of the same
graphs the calculator builds (``unlabeled_atoms_to_graph``), on accelerators; on
CPU one structure per call is faster (``batch_on_cpu``). sevenn builds its
graphs in float32, so only float32 is offered. The model's stress is
``-σ`` in the order (xx, yy, zz, xy, yz, zx); it is turned into the full
σ tensor here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from phonjax_adapters.base import Adapter, StructureResult, package_dir, split_results

# Paths below sevenn/pretrained_potentials/ (or ~/.cache/sevennet/), as
# sevenn.util.pretrained_name_to_path resolves them.
_CHECKPOINTS = {
    "7net-0": "SevenNet_0__11Jul2024/checkpoint_sevennet_0.pth",
    "7net-0_22May2024": "SevenNet_0__22May2024/checkpoint_sevennet_0.pth",
    "7net-l3i5": "SevenNet_l3i5/checkpoint_l3i5.pth",
    "7net-mf-0": "SevenNet_MF_0/checkpoint_sevennet_mf_0.pth",
    "7net-mf-ompa": "SevenNet_MF_ompa/checkpoint_sevennet_mf_ompa.pth",
    "7net-omat": "SevenNet_omat/checkpoint_sevennet_omat.pth",
}
# Multi-fidelity checkpoints need a modal; these are the PBE(-like) heads.
_DEFAULT_MODAL = {"7net-mf-0": "PBE", "7net-mf-ompa": "mpa"}
_RELEASES = "https://github.com/MDIL-SNU/SevenNet/releases"
# sevenn._const.CHECKPOINT_DOWNLOAD_LINKS (sevenn 0.13) for the variants offered here
DOWNLOADS = {
    "7net-mf-ompa": f"{_RELEASES}/download/v0.11.0.cp/checkpoint_sevennet_mf_ompa.pth",
    "7net-omat": f"{_RELEASES}/download/v0.11.0.cp/checkpoint_sevennet_omat.pth",
}


class SevenNetAdapter(Adapter):
    family = "sevennet"
    title = "SevenNet"
    distribution = "sevenn"
    module = "sevenn"
    extra = "sevennet"
    variants = tuple(_CHECKPOINTS)
    dtypes = ("float32",)
    batched = True
    # On CPU a batch of 5 × 48 atoms took 1.3–2× as long as the 5 structures one by one
    # (one torch thread, sevenn 0.13): e3nn's per-edge work gains nothing from batching
    # there and loses cache locality. Accelerators still get the batches.
    batch_on_cpu = False

    def __init__(self, variant: str | None = None, *, modal: str | None = None, **kwargs) -> None:
        super().__init__(variant, **kwargs)
        self.modal = modal or _DEFAULT_MODAL.get(self.variant)

    def _candidates(self) -> list[Path]:
        root = package_dir(self.module) or Path("<sevenn not installed>")
        relative = _CHECKPOINTS[self.variant]
        return [root / "pretrained_potentials" / relative, Path.home() / ".cache/sevennet" / relative]

    def weight_files(self) -> list[Path]:
        found = [p for p in self._candidates() if p.exists()]
        return found[:1] or self._candidates()[:1]

    def weights_url(self) -> str | None:
        return DOWNLOADS.get(self.variant)

    def download_dest(self) -> Path:
        return self._candidates()[1]

    def weights_hint(self) -> str:
        cache = self._candidates()[1]
        where = DOWNLOADS.get(self.variant, _RELEASES)
        return f"download {where} to {cache}, or pass checkpoint=PATH"

    def _load(self, weights: Path) -> Any:
        import sevenn.util

        model, _config = sevenn.util.model_from_checkpoint(str(weights))
        model.set_is_batch_data(True)
        if model.modal_map and self.modal not in model.modal_map:
            raise ValueError(f"{self.variant} needs modal= one of {list(model.modal_map)}")
        model.to(self.device)
        model.eval()
        return model

    def _evaluate(self, atoms: Sequence[Any], compute_stress: bool) -> list[StructureResult]:
        import sevenn._keys as KEY
        from sevenn.atom_graph_data import AtomGraphData
        from sevenn.train.dataload import unlabeled_atoms_to_graph
        from torch_geometric.data import Batch

        graphs = []
        for a in atoms:
            graph = AtomGraphData.from_numpy_dict(unlabeled_atoms_to_graph(a, self.model.cutoff))
            if self.model.modal_map:
                graph[KEY.DATA_MODALITY] = self.modal
            graphs.append(graph)
        output = self.model(Batch.from_data_list(graphs).to(self.device))
        # (xx, yy, zz, xy, yz, zx) of -σ, as SevenNetCalculator reads it
        xx, yy, zz, xy, yz, zx = -output[KEY.PRED_STRESS].detach().cpu().numpy().T
        stress = np.stack([[xx, xy, zx], [xy, yy, yz], [zx, yz, zz]]).transpose(2, 0, 1)
        return split_results(
            atoms,
            output[KEY.PRED_TOTAL_ENERGY].detach().cpu().numpy(),
            output[KEY.PRED_FORCE].detach().cpu().numpy(),
            stress if compute_stress else None,
        )

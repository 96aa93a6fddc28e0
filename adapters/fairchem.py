"""fairchem (fairchem-core 2.x): UMA and eSEN checkpoints through ``MLIPPredictUnit``.

Named variants are the UMA checkpoints of fairchem's registry (gated Hugging
Face repo ``facebook/UMA``), cached by ``hf_hub_download`` under
``$FAIRCHEM_CACHE_DIR`` (default ``~/.cache/fairchem``); any other fairchem-2
inference checkpoint (e.g. an eSEN OMat24 model) loads with ``checkpoint=``.
With a Hugging Face token (after accepting the repository's licence) a missing
checkpoint and its reference energies are fetched into that cache on first
use, as ``pretrained_mlip`` does; without one they are reported missing.
The OMat24 eqV2 checkpoints are fairchem-1 files, which fairchem-core 2.x
cannot read, so they are not offered.

Structures are converted as ``FAIRChemCalculator`` converts them, joined with
``atomicdata_list_to_batch`` and evaluated in one ``predict`` call. MoLE
expert merging is off because a batch may mix compositions; float64 is
fairchem's ``base_precision_dtype``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from phonjax_adapters.base import Adapter, Availability, StructureResult, split_results

_REPO = "facebook/UMA"
_UMA = ("uma-s-1p1", "uma-m-1p1", "uma-s-1p2p1", "uma-s-1p2")
_REFERENCES = ("references/iso_atom_elem_refs.yaml", "references/form_elem_refs.yaml")


def _cache_dir() -> Path:
    default = Path.home() / ".cache" / "fairchem"
    return Path(os.environ.get("FAIRCHEM_CACHE_DIR", default)).expanduser()


def _snapshot_file(relative: str) -> Path:
    """Where hf_hub_download keeps ``relative`` of ``facebook/UMA`` (newest snapshot)."""
    snapshots = _cache_dir() / f"models--{_REPO.replace('/', '--')}" / "snapshots"
    found = sorted(snapshots.glob(f"*/{relative}"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else snapshots / "<revision>" / relative


class FairChemAdapter(Adapter):
    family = "fairchem"
    title = "fairchem (UMA/eSEN)"
    distribution = "fairchem-core"
    module = "fairchem.core"
    extra = "fairchem"
    variants = _UMA
    dtypes = ("float64", "float32")
    batched = True

    def __init__(self, variant: str | None = None, *, task: str = "omat", **kwargs) -> None:
        super().__init__(variant, **kwargs)
        self.task = task  # UMA head: omat = inorganic materials, PBE(+U) of OMat24

    def weight_files(self) -> list[Path]:
        return [_snapshot_file(f"checkpoints/{self.variant}.pt")] + [
            _snapshot_file(r) for r in _REFERENCES
        ]

    def can_download(self) -> bool:
        from phonjax_adapters.weights import hf_token_available

        return hf_token_available()

    def download_dest(self) -> Path:
        return _cache_dir() / f"models--{_REPO.replace('/', '--')}"

    def licence_note(self) -> str | None:
        return (f"{_REPO} is gated: its weights come under the licence you accepted at "
                f"https://huggingface.co/{_REPO}")

    def download_weights(self) -> None:
        from phonjax_adapters.weights import hf_download

        hf_download(_REPO, [f"checkpoints/{self.variant}.pt", *_REFERENCES], _cache_dir(),
                    f"{self.title} {self.variant}")

    def weight_digest_files(self, path: Path) -> list[Path]:
        return [path]  # the checkpoint; the reference energies are data, not weights

    def availability(self) -> Availability:
        found = super().availability()
        if not found and "weights missing" in found.reason and not self.offline:
            return Availability(False, f"{found.reason}; gated: accept the licence and log in to "
                                "Hugging Face", found.hint)
        return found

    def weights_hint(self) -> str:
        return (
            f"accept the licence of https://huggingface.co/{_REPO} and log in (`hf auth login` "
            "or HF_TOKEN): then they download on first use; or on a machine with internet run huggingface-cli download {_REPO} checkpoints/{self.variant}.pt "
            f"{' '.join(_REFERENCES)} --cache-dir {_cache_dir()} and copy that folder here; "
            "or pass checkpoint=PATH to a fairchem-2 inference checkpoint"
        )

    def _load(self, weights: Path) -> Any:
        import torch
        from fairchem.core.calculate import pretrained_mlip
        from fairchem.core.units.mlip_unit import load_predict_unit
        from fairchem.core.units.mlip_unit.api.inference import InferenceSettings

        settings = InferenceSettings(
            tf32=False,
            activation_checkpointing=False,
            merge_mole=False,
            compile=False,
            external_graph_gen=False,
            base_precision_dtype=getattr(torch, self.dtype),
        )
        if self.checkpoint is not None:
            return load_predict_unit(str(weights), settings, device=self.device)
        return pretrained_mlip.get_predict_unit(self.variant, settings, device=self.device)

    def _evaluate(self, atoms: Sequence[Any], compute_stress: bool) -> list[StructureResult]:
        import torch
        from fairchem.core.datasets.atomic_data import AtomicData, atomicdata_list_to_batch

        predictor = self.model
        data = []
        for a in atoms:
            a = a.copy()
            predictor.validate_atoms_data(a, self.task)  # sets the default charge and spin
            data.append(
                AtomicData.from_ase(
                    a,
                    task_name=self.task,
                    r_edges=False,
                    r_data_keys=["spin", "charge"],
                    target_dtype=getattr(torch, self.dtype),
                )
            )
        pred = predictor.predict(atomicdata_list_to_batch(data))
        stresses = pred["stress"].detach().cpu().numpy().reshape(-1, 3, 3)
        return split_results(
            atoms,
            pred["energy"].detach().cpu().numpy(),
            pred["forces"].detach().cpu().numpy(),
            stresses if compute_stress else None,
        )

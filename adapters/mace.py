"""MACE (mace-torch): ``MACECalculator``'s loader + the batched ``AtomicData`` path.

mace-torch pins e3nn 0.4.4 and so lives in its own environment
(``scripts/install-models.sh --mace`` builds ``.venv-mace``). Foundation
models are downloaded by ``mace.calculators.foundations_models`` into
``$XDG_CACHE_HOME/mace`` (default ``~/.cache/mace``) under the URL's basename
stripped to letters, digits and ``_``; MPA-0 may also ship inside the package.
A missing checkpoint is fetched to that same path on first use (MACE-OMAT-0 comes
under the Academic Software License, which is printed before the download).
The model is loaded by ``MACECalculator`` (which also converts its dtype and
picks the head), then evaluated on a ``torch_geometric`` batch built exactly
as the calculator builds one structure. MACE runs in float64 or float32.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from phonjax_adapters.base import Adapter, StructureResult, package_dir, split_results

_RELEASES = "https://github.com/ACEsuit/mace-mp/releases/download"
URLS = {
    "mace-mp-0": f"{_RELEASES}/mace_mp_0/2023-12-03-mace-128-L1_epoch-199.model",
    "mace-mpa-0": f"{_RELEASES}/mace_mpa_0/mace-mpa-0-medium.model",
    "mace-omat-0": f"{_RELEASES}/mace_omat_0/mace-omat-0-medium.model",
}


def _cache_file(url: str) -> Path:
    """Where download_mace_mp_checkpoint stores ``url``."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mace"
    return cache / "".join(c for c in os.path.basename(url) if c.isalnum() or c == "_")


class MACEAdapter(Adapter):
    family = "mace"
    title = "MACE"
    distribution = "mace-torch"
    module = "mace"
    extra = "mace"
    variants = tuple(URLS)
    aliases = {"medium": "mace-mp-0", "medium-mpa-0": "mace-mpa-0", "medium-omat-0": "mace-omat-0"}
    dtypes = ("float64", "float32")
    batched = True

    def weight_files(self) -> list[Path]:
        cached = _cache_file(URLS[self.variant])
        shipped = (package_dir(self.module) or Path("<mace not installed>")) / (
            "calculators/foundations_models/mace-mpa-0-medium.model"
        )
        if self.variant == "mace-mpa-0" and shipped.exists():
            return [shipped]
        return [cached]

    def weights_url(self) -> str:
        return URLS[self.variant]

    def download_dest(self) -> Path:
        return _cache_file(URLS[self.variant])

    def licence_note(self) -> str | None:
        if self.variant == "mace-omat-0":
            return ("MACE-OMAT-0 is under the Academic Software License (ASL), "
                    "https://github.com/gabor1/ASL; downloading it means accepting its terms")
        return None

    def weights_hint(self) -> str:
        url = URLS[self.variant]
        return f"download {url} to {_cache_file(url)}, or pass checkpoint=PATH"

    def install_hint(self) -> str:
        return ("make models, or scripts/install-models.sh .venv-mace --mace "
                "(its own venv: mace-torch pins e3nn 0.4.4)")

    def _load(self, weights: Path) -> Any:
        from mace.calculators import MACECalculator

        return MACECalculator(model_paths=str(weights), device=self.device, default_dtype=self.dtype)

    def _evaluate(self, atoms: Sequence[Any], compute_stress: bool) -> list[StructureResult]:
        from mace import data as mace_data
        from mace.tools import torch_geometric, torch_tools

        calc = self.model
        keyspec = mace_data.KeySpecification(
            info_keys=calc.info_keys, arrays_keys={**calc.arrays_keys, calc.charges_key: "charges"}
        )
        with torch_tools.default_dtype(self.dtype):
            graphs = [
                mace_data.AtomicData.from_config(
                    mace_data.config_from_atoms(a, key_specification=keyspec, head_name=calc.head),
                    z_table=calc.z_table,
                    cutoff=calc.r_max,
                    heads=calc.available_heads,
                )
                for a in atoms
            ]
        batch = torch_geometric.Batch.from_data_list(graphs).to(calc.device)
        model = calc.models[0]
        out = model(batch.to_dict(), compute_stress=compute_stress, training=False)
        return split_results(
            atoms,
            out["energy"].detach().cpu().numpy(),
            out["forces"].detach().cpu().numpy(),
            out["stress"].detach().cpu().numpy() if compute_stress else None,
        )

"""ORB (orb-models package): the package's loaders + a batched ``predict`` on joined graphs.

orb-models fetches weights from S3 through ``cached_path`` into
``~/.cache/cached_path`` (``CACHED_PATH_CACHE_ROOT`` overrides it), naming
each file by the SHA-256 of its URL. This adapter finds that file and passes
its local path to the loader, always with ``compile=False`` (on CPU
``torch.compile`` only makes the first call slow). ORB sets torch's global
default dtype when loading; here that happens inside a context that restores
it. orb-v2 predicts forces and stress directly (not as energy gradients);
orb-v3 conservative models return ``grad_forces``/``grad_stress``.

``architecture=`` builds the model from the package's architecture function
with the given keyword arguments (e.g. a small ``latent_dim``) and loads the
checkpoint into it with the package's ``load_model``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Sequence

from phonjax_adapters.base import Adapter, StructureResult, split_results
from phonjax_adapters.torch_utils import default_dtype

_S3 = "https://orbitalmaterials-public-models.s3.us-west-1.amazonaws.com/forcefields"
# variant -> (weights URL used by orb_models.forcefield.pretrained, architecture function,
#             max neighbours of its SystemConfig)
VARIANTS = {
    "orb-v2": (f"{_S3}/orb-v2-20241011.ckpt", "orb_v2_architecture", 20),
    "orb-v3-conservative-inf-omat": (
        f"{_S3}/orb-v3/orb-v3-conservative-inf-omat-20250404.ckpt",
        "orb_v3_conservative_architecture",
        120,
    ),
    "orb-v3-conservative-20-omat": (
        f"{_S3}/orb-v3/orb-v3-conservative-20-omat-20250404.ckpt",
        "orb_v3_conservative_architecture",
        20,
    ),
    "orb-v3-conservative-inf-mpa": (
        f"{_S3}/orb-v3/orb-v3-conservative-inf-mpa-20250404.ckpt",
        "orb_v3_conservative_architecture",
        120,
    ),
    "orb-v3-conservative-20-mpa": (
        f"{_S3}/orb-v3/orb-v3-conservative-20-mpa-20250404.ckpt",
        "orb_v3_conservative_architecture",
        20,
    ),
}


def _cache_dir() -> Path:
    default = Path.home() / ".cache" / "cached_path"
    return Path(os.environ.get("CACHED_PATH_CACHE_ROOT", default)).expanduser()


def cached_file(url: str) -> Path | None:
    """The newest cached copy of ``url``, found as cached_path.find_latest_cached does."""
    stem = hashlib.sha256(url.encode()).hexdigest()
    candidates = [
        p
        for p in _cache_dir().glob(f"{stem}*")
        if p.suffix not in {".json", ".lock"} and not p.name.endswith("-extracted")
    ]
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


class ORBAdapter(Adapter):
    family = "orb"
    title = "ORB"
    distribution = "orb-models"
    module = "orb_models"
    extra = "orb"
    variants = tuple(VARIANTS)
    aliases = {"orb-v3-conservative": "orb-v3-conservative-inf-omat"}
    dtypes = ("float64", "float32")
    batched = True

    def __init__(self, variant: str | None = None, *, architecture: dict | None = None, **kwargs):
        super().__init__(variant, **kwargs)
        if self.variant not in VARIANTS:  # the variant picks the architecture, even for a checkpoint
            raise ValueError(f"ORB variant must be one of {', '.join(VARIANTS)}, not {self.variant!r}")
        self.architecture = architecture

    @property
    def conservative(self) -> bool:  # type: ignore[override]
        return "conservative" in self.variant

    def weight_files(self) -> list[Path]:
        url = VARIANTS[self.variant][0]
        return [cached_file(url) or _cache_dir() / hashlib.sha256(url.encode()).hexdigest()]

    def weights_label(self, path: Path) -> str:
        return VARIANTS[self.variant][0].rsplit("/", 1)[-1]  # cached_path names files by hash

    def can_download(self) -> bool:
        return True

    def download_dest(self) -> Path:
        return _cache_dir() / hashlib.sha256(VARIANTS[self.variant][0].encode()).hexdigest()

    def download_weights(self) -> None:
        from phonjax_adapters.weights import cached_path_download

        cached_path_download(VARIANTS[self.variant][0], _cache_dir(), f"{self.title} {self.variant}")

    def weights_hint(self) -> str:
        return (
            f"download {VARIANTS[self.variant][0]} and pass checkpoint=PATH, or copy a "
            f"{_cache_dir()} filled on a machine with internet"
        )

    def _load(self, weights: Path) -> Any:
        import torch
        from orb_models.forcefield import pretrained
        from orb_models.forcefield.atomic_system import SystemConfig

        precision = "float64" if self.dtype == "float64" else "float32-highest"
        _, architecture_name, max_neighbors = VARIANTS[self.variant]
        with default_dtype(torch.get_default_dtype()):  # ORB sets it globally
            if self.architecture is None:
                loader = pretrained.ORB_PRETRAINED_MODELS[self.variant]
                return loader(str(weights), device=self.device, precision=precision, compile=False)
            build = getattr(pretrained, architecture_name)
            system_config = SystemConfig(radius=6.0, max_num_neighbors=max_neighbors)
            model = build(device=self.device, system_config=system_config, **self.architecture)
            return pretrained.load_model(
                model, str(weights), self.device, precision=precision, compile=False
            )

    def _evaluate(self, atoms: Sequence[Any], compute_stress: bool) -> list[StructureResult]:
        import torch
        from ase.stress import voigt_6_to_full_3x3_stress
        from orb_models.forcefield.atomic_system import ase_atoms_to_atom_graphs
        from orb_models.forcefield.base import batch_graphs

        model = self.model
        dtype = getattr(torch, self.dtype)
        with default_dtype(dtype):
            graphs = [
                ase_atoms_to_atom_graphs(
                    a,
                    system_config=model.system_config,
                    device=torch.device(self.device),
                    output_dtype=dtype,
                    graph_construction_dtype=dtype,
                )
                for a in atoms
            ]
            out = model.predict(batch_graphs(graphs).to(self.device))
        forces_key = model.grad_forces_name if self.conservative else "forces"
        stress_key = model.grad_stress_name if self.conservative else "stress"
        voigt = out[stress_key].detach().cpu().numpy().reshape(-1, 6)
        return split_results(
            atoms,
            out["energy"].detach().cpu().numpy(),
            out[forces_key].detach().cpu().numpy(),
            voigt_6_to_full_3x3_stress(voigt) if compute_stress else None,
        )

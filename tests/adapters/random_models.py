"""Randomly initialised small models of the real architectures, saved as real checkpoints.

No weights can be downloaded here, so each builder constructs the family's
own model classes with a small configuration and writes it in the format the
package's loader reads; the adapter then loads it through that loader.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

ELEMENTS = ("Na", "Si", "Cl")


def m3gnet_checkpoint(directory: Path) -> Path:
    """matgl ``Potential(M3GNet)`` saved as model.pt/state.pt/model.json."""
    import torch
    from matgl.apps.pes import Potential
    from matgl.models import M3GNet

    torch.manual_seed(0)
    model = M3GNet(
        element_types=ELEMENTS, is_intensive=False, nblocks=2, units=16,
        dim_node_embedding=16, dim_edge_embedding=16, cutoff=4.5, threebody_cutoff=3.5,
    )
    potential = Potential(model=model, element_refs=np.array([-1.3, -5.4, -1.8]), data_std=0.7)
    potential.save(directory)
    return directory


def mattersim_checkpoint(directory: Path) -> Path:
    """MatterSim ``Potential`` checkpoint as ``Potential.save`` writes it."""
    import torch
    from mattersim.forcefield.m3gnet.m3gnet import M3Gnet
    from mattersim.forcefield.potential import Potential

    torch.manual_seed(0)
    model = M3Gnet(num_blocks=2, units=16, max_l=2, max_n=3, cutoff=4.5, threebody_cutoff=3.5, device="cpu")
    path = directory / "mattersim-random.pth"
    Potential(model, device="cpu").save(str(path))
    return path


def orb_checkpoint(directory: Path, conservative: bool) -> tuple[Path, dict]:
    """State dict of an ORB architecture and the small architecture arguments it needs."""
    import torch
    from orb_models.forcefield import pretrained
    from orb_models.forcefield.atomic_system import SystemConfig

    torch.manual_seed(0)
    if conservative:
        arguments = dict(
            latent_dim=32, base_mlp_hidden_dim=64, head_mlp_hidden_dim=32, num_message_passing_steps=2
        )
        build, neighbors = pretrained.orb_v3_conservative_architecture, 120
    else:
        arguments = dict(num_message_passing_steps=2)
        build, neighbors = pretrained.orb_v2_architecture, 20
    model = build(system_config=SystemConfig(radius=6.0, max_num_neighbors=neighbors), **arguments)
    path = directory / ("orb-v3-random.ckpt" if conservative else "orb-v2-random.ckpt")
    torch.save(model.state_dict(), path)
    return path, arguments


def uma_checkpoint(directory: Path) -> Path:
    """A fairchem-2 inference checkpoint of a small UMA-1.1-style MoLE eSCN model (omat task)."""
    import hydra
    import torch
    from fairchem.core.units.mlip_unit.api.inference import MLIPInferenceCheckpoint

    torch.manual_seed(0)
    datasets = ["omat", "omol"]
    backbone = {
        "model": "fairchem.core.models.uma.escn_moe.eSCNMDMoeBackbone",
        "model_version": 1.1, "num_experts": 2, "sphere_channels": 16, "hidden_channels": 16,
        "edge_channels": 16, "num_distance_basis": 16, "lmax": 2, "mmax": 2, "num_layers": 2,
        "cutoff": 5.0, "max_neighbors": 300, "otf_graph": True, "direct_forces": False,
        "regress_forces": True, "regress_stress": True, "dataset_list": datasets,
    }
    heads = {
        "efs": {
            "module": "fairchem.core.models.uma.escn_moe.DatasetSpecificSingleHeadWrapper",
            "head_cls": "fairchem.core.models.uma.escn_md.MLP_EFS_Head",
            "dataset_names": datasets,
            "head_kwargs": {"wrap_property": False},
        }
    }
    config = {
        "_target_": "fairchem.core.models.base.HydraModel",
        "backbone": backbone, "heads": heads, "pass_through_head_outputs": True, "otf_graph": True,
    }

    unit = "fairchem.core.units.mlip_unit.mlip_unit"
    normalization = "fairchem.core.modules.normalization.normalizer"

    def task(prop: str, level: str, dim: list[int]) -> dict:
        return {
            "_target_": f"{unit}.Task",
            "name": f"omat_{prop}", "level": level, "property": prop, "datasets": ["omat"],
            "out_spec": {"_target_": f"{unit}.OutputSpec", "dim": dim, "dtype": "float32"},
            "normalizer": {"_target_": f"{normalization}.Normalizer", "mean": 0.0, "rmsd": 1.5},
        }

    model = hydra.utils.instantiate(config)
    checkpoint = MLIPInferenceCheckpoint(
        model_config=config,
        model_state_dict=model.state_dict(),
        ema_state_dict=torch.optim.swa_utils.AveragedModel(model).state_dict(),
        tasks_config=[
            task("energy", "system", [1]), task("forces", "atom", [3]), task("stress", "system", [1, 9])
        ],
    )
    path = directory / "uma-random.pt"
    torch.save(checkpoint, path)
    return path


def mace_checkpoint(directory: Path) -> Path:
    """A pickled small ``ScaleShiftMACE``, the format of MACE's ``.model`` files."""
    import mace  # noqa: F401  (lets e3nn 0.4.4 load its constants on torch >= 2.6)
    import torch
    from e3nn import o3
    from mace import modules

    torch.manual_seed(0)
    block = modules.interaction_classes["RealAgnosticResidualInteractionBlock"]
    model = modules.ScaleShiftMACE(
        r_max=4.5, num_bessel=4, num_polynomial_cutoff=5, max_ell=2,
        interaction_cls=block, interaction_cls_first=block, num_interactions=2,
        num_elements=3, hidden_irreps=o3.Irreps("8x0e+8x1o"), MLP_irreps=o3.Irreps("8x0e"),
        atomic_energies=np.array([-1.3, -5.4, -1.8]), avg_num_neighbors=8.0,
        atomic_numbers=[11, 14, 17], correlation=2, gate=torch.nn.functional.silu,
        atomic_inter_scale=0.7, atomic_inter_shift=0.0,
    )
    path = directory / "mace-random.model"
    torch.save(model, path)
    return path

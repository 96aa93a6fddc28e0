"""CHGNet (chgnet package): weights ship inside the wheel, batched like ``predict_graph``.

CHGNet's graph converter and batching hard-code float32, so only float32 is
offered. The model predicts energy per atom, converted here to eV per
structure as ``CHGNetCalculator`` does; forces (eV/Å) and stress (eV/Å³) come
from one backward pass through the same network (``energy_forces_stress``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from phonjax_adapters.base import Adapter, StructureResult, package_dir, printed_to_log

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

        with printed_to_log("chgnet"):  # its constructor prints a banner whatever verbose says
            if self.checkpoint is not None:
                model = CHGNet.from_file(str(weights))
            else:
                # The package loader also sets the per-version options (e.g. 0.2.0's output bias).
                model = CHGNet.load(model_name=self.variant, use_device=self.device,
                                    verbose=False)
        model = model.to(self.device)
        model.eval()
        return model

    def _evaluate(self, atoms: Sequence[Any], compute_stress: bool) -> list[StructureResult]:
        from pymatgen.io.ase import AseAtomsAdaptor

        model = self.model
        graphs = [
            model.graph_converter(AseAtomsAdaptor.get_structure(a)).to(self.device) for a in atoms
        ]
        energies, forces, stresses = energy_forces_stress(model, graphs, compute_stress)
        per_structure = np.split(forces, np.cumsum([len(a) for a in atoms])[:-1])
        stress_list = [None] * len(atoms) if stresses is None else list(stresses)
        return [
            StructureResult(energy=float(e), forces=f, stress=s)
            for e, f, s in zip(energies, per_structure, stress_list, strict=True)
        ]


def energy_forces_stress(model, graphs, compute_stress: bool):
    """Total energies (B,) eV, forces (sum of atoms, 3) eV/Å and stresses (B, 3, 3) eV/Å³
    (or None) of CHGNet ``graphs`` in one forward and one backward pass.

    The same network evaluation as ``CHGNet.predict_graph``, minus its inference
    overheads: predict_graph differentiates the energy twice (once for forces, once
    more for the strain derivative) and keeps double-backward graphs
    (``create_graph=True``, needed for training only). Here forces −∂E/∂r and
    stresses (1/V) ∂E/∂ε come from one gradient call.
    """
    import torch
    from chgnet.model.model import BatchedGraph

    batched = BatchedGraph.from_graphs(
        graphs,
        bond_basis_expansion=model.bond_basis_expansion,
        angle_basis_expansion=model.angle_basis_expansion,
        compute_stress=compute_stress,
    )
    out = model._compute(batched, compute_force=False, compute_stress=False)
    atoms_per_graph = out["atoms_per_graph"]
    # _compute returns eV/atom for intensive models (divided in place at its end);
    # multiplying back gives the extensive energy whose gradient predict_graph takes
    # (the division's backward then cancels exactly: n/n = 1).
    network_energy = out["e"] * atoms_per_graph if model.is_intensive else out["e"]
    inputs = list(batched.atom_positions) + (list(batched.strains) if compute_stress else [])
    grads = torch.autograd.grad(network_energy.sum(), inputs)
    n = len(graphs)
    composition = 0 if model.composition_model is None else model.composition_model(graphs)
    energies = (out["e"] + composition).detach().double().cpu().numpy()
    if model.is_intensive:  # eV/atom → eV per structure, in float64 as CHGNetCalculator does
        energies = energies * atoms_per_graph.cpu().numpy()
    forces = -torch.cat(grads[: len(batched.atom_positions)]).double().cpu().numpy()
    if not compute_stress:
        return energies, forces, None
    volumes_A3 = batched.volumes.detach().double().cpu().numpy()
    strain_derivative = torch.stack(grads[len(batched.atom_positions):]).double().cpu().numpy()
    return energies, forces, strain_derivative / volumes_A3.reshape(n, 1, 1)

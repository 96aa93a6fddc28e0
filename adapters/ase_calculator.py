"""ASE calculator view of an adapter, for relaxations and anything else ASE drives."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

if TYPE_CHECKING:
    from phonjax_adapters.base import Adapter


class AdapterCalculator(Calculator):
    """Energy (eV), forces (eV/Å) and stress (eV/Å³, ASE Voigt order) from an adapter."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, adapter: "Adapter", **kwargs) -> None:
        super().__init__(**kwargs)
        self.adapter = adapter

    def calculate(self, atoms=None, properties=None, system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        want_stress = "stress" in (properties or ["stress"])
        (result,) = self.adapter.evaluate_atoms([self.atoms], compute_stress=want_stress)
        self.results = {
            "energy": result.energy,
            "free_energy": result.energy,
            "forces": result.forces.copy(),
        }
        if result.stress is not None:
            self.results["stress"] = full_3x3_to_voigt_6_stress(result.stress)

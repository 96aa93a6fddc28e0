"""phonopy's physical constants, copied on purpose.

phonopy freezes older CODATA values (``phonopy/physical_units.py``); newer
constants shift F, S and Cv by up to 6e-7 relative, which would break the
1e-8 agreement contract. Do not "modernise" these numbers.
"""

KB_J = 1.3806504e-23  # J/K
PLANCK_EV_S = 4.13566733e-15  # eV s
AVOGADRO = 6.02214179e23
AMU_KG = 1.6605402e-27
EV_J = 1.60217733e-19
ANGSTROM_M = 1.0e-10

KB_EV = KB_J / EV_J  # 8.617338256808316e-05 eV/K
THZ_TO_EV = PLANCK_EV_S * 1e12  # 0.00413566733
EV_TO_KJMOL = EV_J * AVOGADRO / 1000.0  # 96.4853905398362
# eV/Å²/AMU -> THz (phonopy's VaspToTHz / DefaultToTHz)
FORCE_CONSTANT_TO_THZ = (EV_J / AMU_KG) ** 0.5 / ANGSTROM_M / (2 * 3.141592653589793) / 1e12
THZ_TO_K = THZ_TO_EV / KB_EV  # 47.992398658977166
THZ_TO_CM = 33.3564095198152
THZ_TO_MEV = THZ_TO_EV * 1000.0

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

# e²/(4πε₀) in eV·Å (Hartree·Bohr), phonopy's default unit factor of the non-analytical
# term for eV/Å inputs, from phonopy's own constants: 14.39965172592227
SPEED_OF_LIGHT_M_S = 299792458.0
ELECTRON_MASS_KG = 9.10938215e-31
_EPSILON0 = 1.0 / (4.0e-7 * 3.141592653589793) / SPEED_OF_LIGHT_M_S ** 2
_HBAR_EV_S = PLANCK_EV_S / (2 * 3.141592653589793)
BOHR_A = 4e10 * 3.141592653589793 * _EPSILON0 * _HBAR_EV_S ** 2 / ELECTRON_MASS_KG
HARTREE_EV = ELECTRON_MASS_KG * EV_J / 16 / 3.141592653589793 ** 2 / _EPSILON0 ** 2 / _HBAR_EV_S ** 2
NAC_FACTOR_EV_ANGSTROM = HARTREE_EV * BOHR_A

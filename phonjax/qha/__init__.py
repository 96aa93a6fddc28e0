"""The quasi-harmonic approximation, phonopy 4.10's ``PhonopyQHA`` / ``phonopy-qha``.

``eos`` (the three equations of state and phonopy's fit), ``core`` (the QHA: G, V, α, B_T,
Cp, γ, S, H against T, bit for bit phonopy's), ``differentiable`` (the same in
``jax.numpy``: differentiable, batchable), ``files`` (phonopy-qha's input readers and its
twelve output files), ``plots`` (the figure), ``cli`` (``phonjax qha``). Importing this
package imports neither JAX nor matplotlib.
"""

from phonjax.qha.core import QHAInputs, QHAResult, quasi_harmonic, static_eos
from phonjax.qha.eos import EOS_NAMES, EOSFitError, EOSParameters, eos_energy, fit_eos
from phonjax.qha.files import (QHA_FILES, QHAFileError, ThermalPropertiesSet, read_e_v,
                               read_thermal_properties, write_qha_files)

__all__ = ["EOS_NAMES", "EOSFitError", "EOSParameters", "QHAFileError", "QHAInputs",
           "QHAResult", "QHA_FILES", "ThermalPropertiesSet", "eos_energy", "fit_eos",
           "quasi_harmonic", "read_e_v", "read_thermal_properties", "static_eos",
           "write_qha_files"]

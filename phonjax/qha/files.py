"""phonopy-qha's files: its inputs (e-v.dat, thermal_properties.yaml per volume, the --efe
table) read, and its outputs written in phonopy 4.10's exact layout.

Inputs (phonopy's ``read_v_e``, ``read_thermal_properties_yaml``, ``read_efe``):

* ``e-v.dat``: rows "V(Å³) U(eV)"; blank lines and lines starting with # skipped, text after
  a # dropped (also ``fe-v.dat`` of ``--efe``: rows "T(K) F_el(V₁) … F_el(Vₙ)" in eV);
* ``thermal_properties.yaml`` (phonopy's ``write_yaml_thermal_properties``): the list
  ``thermal_properties`` of {temperature K, free_energy kJ/mol, entropy J/K/mol,
  heat_capacity J/K/mol}, and ``num_modes`` / ``num_integrated_modes`` where present (more
  than 3 modes not integrated: imaginary modes). Plain, .gz, .xz, .lzma or .bz2, read with
  YAML's *safe* loader (phonopy's full loader would run a ``!!python/…`` tag: such a file is
  refused in one line). Temperatures must agree between files (phonopy's ``np.allclose``).

Outputs, each as phonopy's ``PhonopyQHA.write_*`` writes it (same names, same printf
formats, so that the files are the same byte for byte given the same numbers):
``QHA_FILES``, in phonopy-qha's order. Each file is written whole (``phonjax.atomic_write``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phonjax.atomic_write import write_text
from phonjax.qha.core import QHAResult, dsdv_GPa_per_K
from phonjax.qha.eos import eos_energy

QHA_FILES = ("helmholtz-volume.dat", "helmholtz-volume_fitted.dat", "volume-temperature.dat",
             "thermal_expansion.dat", "gibbs-temperature.dat", "bulk_modulus-temperature.dat",
             "Cp-temperature.dat", "entropy-volume.dat", "Cv-volume.dat",
             "Cp-temperature_polyfit.dat", "dsdv-temperature.dat", "gruneisen-temperature.dat")
THIN_NUMBER = 10  # phonopy-qha's --sparse default: every 10th temperature in the F–V plots
REFERENCE_T_K = 298  # phonopy's F–V plot shifts energies by G at 298 K (linear interpolation)


class QHAFileError(ValueError):
    """An input file phonjax qha cannot use: ``path: reason`` in one line."""


def _fail(path, reason: str) -> QHAFileError:
    return QHAFileError(f"{path}: {reason}")


def _text(path) -> str:
    # phonjax.io (the safe readers) is imported where used: it imports JAX
    from phonjax.io.dataset import DatasetError
    from phonjax.io.readers import read_text

    try:
        return read_text(path)
    except DatasetError as exc:
        raise _fail(path, str(exc)) from None


def read_table(path: str | os.PathLike) -> np.ndarray:
    """(rows, columns) of a phonopy QHA data file (phonopy's ``_parse_QHA_data``)."""
    rows = []
    for k, line in enumerate(_text(path).splitlines(), 1):
        body = line.split("#")[0].strip()
        if not body:
            continue
        try:
            rows.append([float(x) for x in body.split()])
        except ValueError:
            raise _fail(path, f"line {k}: not numbers: {line.strip()[:40]!r}") from None
        if len(rows[-1]) != len(rows[0]):
            raise _fail(path, f"line {k}: {len(rows[-1])} columns, the first row has "
                        f"{len(rows[0])}")
    if not rows:
        raise _fail(path, "no data rows")
    return np.array(rows, dtype="double")


def read_e_v(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(volumes Å³, electronic energies eV) of an e-v.dat (two columns)."""
    data = read_table(path)
    if data.shape[1] != 2:
        raise _fail(path, f"{data.shape[1]} columns; e-v.dat has two: volume (Å³) and "
                    "energy (eV)")
    if not np.all(np.isfinite(data)):
        raise _fail(path, "non-finite values")
    return data[:, 0].copy(), data[:, 1].copy()


def read_efe(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(temperatures K, electronic free energies (n_T, n_V) eV) of phonopy-qha's --efe file."""
    data = read_table(path)
    if data.shape[1] < 2:
        raise _fail(path, "needs a temperature column and one column per volume")
    return data[:, 0].copy(), data[:, 1:].copy()


@dataclass(frozen=True)
class ThermalPropertiesSet:
    """thermal_properties.yaml of each volume: (n_T, n_V) arrays, phonopy's units; the mode
    counts per file (None where the files do not all have them)."""

    paths: tuple[str, ...]
    temperatures_K: np.ndarray
    free_energy_kJmol: np.ndarray
    entropy_JKmol: np.ndarray
    heat_capacity_JKmol: np.ndarray
    num_modes: tuple[int, ...] | None
    num_integrated_modes: tuple[int, ...] | None

    def imaginary_mode_counts(self) -> tuple[int, ...] | None:
        """num_modes − num_integrated_modes per file (phonopy flags a file above 3)."""
        if self.num_modes is None or self.num_integrated_modes is None:
            return None
        return tuple(a - b for a, b in zip(self.num_modes, self.num_integrated_modes))


def _thermal_rows(path) -> tuple[np.ndarray, int | None, int | None]:
    from phonjax.io.dataset import DatasetError
    from phonjax.io.readers import code_tag_in, code_tag_refusal, load_yaml_text

    text = _text(path)
    tag = code_tag_in(text)
    if tag is not None:
        raise _fail(path, code_tag_refusal(tag))
    try:
        data = load_yaml_text(text)
    except DatasetError as exc:
        raise _fail(path, str(exc)) from None
    rows = data.get("thermal_properties") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise _fail(path, "no 'thermal_properties' list (not a phonopy thermal_properties.yaml)")
    keys = ("temperature", "free_energy", "entropy", "heat_capacity")
    try:
        table = np.array([[float(row[k]) for k in keys] for row in rows], dtype="double")
    except (KeyError, TypeError, ValueError):
        raise _fail(path, "each thermal_properties entry needs numbers for "
                    + ", ".join(keys)) from None
    counts = [data.get(k) for k in ("num_modes", "num_integrated_modes")]
    counts = [int(c) if isinstance(c, int) else None for c in counts]
    return table, counts[0], counts[1]


def read_thermal_properties(paths) -> ThermalPropertiesSet:
    """The thermal_properties.yaml files, one per volume, in the order of e-v.dat."""
    paths = tuple(str(p) for p in paths)
    if not paths:
        raise QHAFileError("no thermal_properties.yaml files given")
    tables, modes, integrated = [], [], []
    for path in paths:
        table, n_modes, n_integrated = _thermal_rows(path)
        if tables:
            t0, t = tables[0][:, 0], table[:, 0]
            if len(t) != len(t0) or not np.allclose(t0, t):
                raise _fail(path, f"temperatures [{t[0]:g} … {t[-1]:g} K, {len(t)} points] differ"
                            f" from {paths[0]}'s [{t0[0]:g} … {t0[-1]:g} K, {len(t0)} points]")
        tables.append(table)
        modes.append(n_modes)
        integrated.append(n_integrated)
    stack = np.stack(tables, axis=2)  # (n_T, 4, n_V)
    if not np.all(np.isfinite(stack)):
        raise QHAFileError("thermal_properties.yaml files: non-finite values")
    have_counts = all(m is not None for m in modes + integrated)
    return ThermalPropertiesSet(
        paths=paths, temperatures_K=tables[0][:, 0].copy(),
        free_energy_kJmol=stack[:, 1].copy(), entropy_JKmol=stack[:, 2].copy(),
        heat_capacity_JKmol=stack[:, 3].copy(),
        num_modes=tuple(modes) if have_counts else None,
        num_integrated_modes=tuple(integrated) if have_counts else None)


# --- writers: phonopy's QHA.write_* -------------------------------------------------------

def _columns(path, x, y, fmt: str) -> Path:
    return write_text(path, "".join(fmt % (a, b) for a, b in zip(x, y)))


def _need(value, what: str):
    if value is None:
        raise ValueError(f"{what} is not available (temperature-dependent electronic "
                         "energies, or the jax.numpy path)")
    return value


def write_helmholtz_volume(result: QHAResult, path="helmholtz-volume.dat") -> Path:
    """F(V) at each temperature with the fitted parameters (E₀ eV, B₀ eV/Å³, B₀′, V₀ Å³)."""
    out = []
    for t, p, fe in zip(result.temperatures_K, result.eos_parameters, result.free_energies_eV):
        out.append("# Temperature: %f\n" % t)
        out.append("# Parameters: %f %f %f %f\n" % tuple(p))
        out += ["%20.15f %25.15f\n" % (v, f) for v, f in zip(result.volumes_A3, fe)]
        out.append("\n\n")
    return write_text(path, "".join(out))


def fv_curves(result: QHAResult, thin_number: int = THIN_NUMBER):
    """What phonopy draws on the F–V plot: (selected temperature indices, e0, 201 volumes,
    F(V) at the data points (n_V, k), EOS curves (201, k), minima (V₀, E₀ − e0) (k, 2)), with
    e0 = G at 298 K linearly interpolated (0 if the first temperature is ≥ 298 K or none is)."""
    temps, g = result.temperatures_K, result.gibbs_eV
    selected = [i for i in range(len(temps)) if i % thin_number == 0]
    e0 = 0
    for i, t in enumerate(temps):
        if t >= REFERENCE_T_K:
            if i > 0:
                e0 = (REFERENCE_T_K - temps[i - 1]) / (t - temps[i - 1]) * (g[i] - g[i - 1]) \
                    + g[i - 1]
            break
    v = result.volumes_A3
    grid = np.linspace(min(v), max(v), 201)
    points = np.array([np.array(result.free_energies_eV[i]) - e0 for i in selected]).T
    curves = np.array([eos_energy(result.eos, grid, result.eos_parameters[i]) - e0
                       for i in selected]).T
    minima = np.array([[result.equilibrium_volumes_A3[i], g[i] - e0] for i in selected])
    return selected, e0, grid, points, curves, minima


def write_helmholtz_volume_fitted(result: QHAResult, path="helmholtz-volume_fitted.dat",
                                  thin_number: int = THIN_NUMBER) -> Path:
    """phonopy's F–V plot as numbers (every ``thin_number``-th temperature, energies minus G
    at 298 K): the data points, the fitted curves on 201 volumes, the minima."""
    _, _, grid, points, curves, minima = fv_curves(result, thin_number)
    out = ["# Volume points\n"]
    for v, row in zip(result.volumes_A3, points):
        out.append("%10.5f " % v + "".join("%10.5f" % x for x in row) + "\n")
    out.append("\n# Fitted data\n")
    for v, row in zip(grid, curves):
        out.append("%10.5f " % v + "".join("%10.5f" % x for x in row) + "\n")
    out.append("\n# Minimas\n")
    out += ["%10.5f %10.5f %s" % (a, b, "\n") for a, b in minima]
    out.append("\n")
    return write_text(path, "".join(out))


def write_volume_temperature(result: QHAResult, path="volume-temperature.dat") -> Path:
    return _columns(path, result.temperatures_K, result.equilibrium_volumes_A3,
                    "%25.15f %25.15f\n")


def write_thermal_expansion(result: QHAResult, path="thermal_expansion.dat") -> Path:
    return _columns(path, result.temperatures_K, result.thermal_expansion_per_K,
                    "%25.15f %25.15f\n")


def write_gibbs_temperature(result: QHAResult, path="gibbs-temperature.dat") -> Path:
    return _columns(path, result.temperatures_K, result.gibbs_eV, "%20.15f %25.15f\n")


def write_bulk_modulus_temperature(result: QHAResult, path="bulk_modulus-temperature.dat"
                                   ) -> Path:
    return _columns(path, result.temperatures_K, result.bulk_modulus_GPa, "%20.15f %25.15f\n")


def write_heat_capacity_P_numerical(result: QHAResult, path="Cp-temperature.dat") -> Path:
    return _columns(path, result.temperatures_K, result.heat_capacity_P_numerical_JKmol,
                    "%20.15f %20.15f\n")


def _volume_fits(result: QHAResult, coefficients, grid) -> str:
    out = []
    for i in range(1, len(result.temperatures_K)):
        out.append("# temperature %20.15f\n" % result.temperatures_K[i])
        out.append("# %20.15f %20.15f %20.15f %20.15f %20.15f\n" % tuple(coefficients[i - 1]))
        out += ["%20.15f %20.15f\n" % (v, x) for v, x in zip(result.volumes_A3, grid[i])]
        out.append("\n\n")
    return "".join(out)


def write_heat_capacity_P_polyfit(result: QHAResult, path="Cp-temperature_polyfit.dat",
                                  path_entropy_volume="entropy-volume.dat",
                                  path_cv_volume="Cv-volume.dat",
                                  path_dsdv="dsdv-temperature.dat") -> list[Path]:
    """Cp from the polynomial fits, and phonopy's three companions: the S(V) and Cv(V) data
    with their degree-4 coefficients per temperature, and dS/dV (J/K/mol/Å³ × 1e21/N_A)."""
    s_coef = _need(result.entropy_volume_coefficients, "the S(V) polynomial coefficients")
    cv_coef = _need(result.cv_volume_coefficients, "the Cv(V) polynomial coefficients")
    return [
        write_text(path_entropy_volume, _volume_fits(result, s_coef, result.entropy_JKmol_grid)),
        write_text(path_cv_volume, _volume_fits(result, cv_coef, result.heat_capacity_JKmol_grid)),
        _columns(path, result.temperatures_K, result.heat_capacity_P_polyfit_JKmol,
                 "%20.15f %20.15f\n"),
        _columns(path_dsdv, result.temperatures_K, dsdv_GPa_per_K(result.dsdv_JKmolA3),
                 "%20.15f %20.15f\n")]


def write_gruneisen_temperature(result: QHAResult, path="gruneisen-temperature.dat") -> Path:
    return _columns(path, result.temperatures_K, result.gruneisen, "%20.15f %25.15f\n")


def write_entropy_temperature(result: QHAResult, path="entropy-temperature.dat") -> Path:
    """S(T, p) (J/K/mol); phonopy has the writer, phonopy-qha does not call it."""
    return _columns(path, result.temperatures_K, _need(result.entropy_JKmol, "S(T)"),
                    "%20.15f %25.15f\n")


def write_enthalpy_temperature(result: QHAResult, path="enthalpy-temperature.dat") -> Path:
    """H(T, p) (eV); phonopy has the writer, phonopy-qha does not call it."""
    return _columns(path, result.temperatures_K, _need(result.enthalpy_eV, "H(T)"),
                    "%20.15f %25.15f\n")


def write_qha_files(result: QHAResult, folder: str | os.PathLike = ".",
                    thin_number: int = THIN_NUMBER) -> list[Path]:
    """phonopy-qha's twelve files (``QHA_FILES``) in ``folder`` (created if missing)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [write_helmholtz_volume(result, folder / QHA_FILES[0]),
             write_helmholtz_volume_fitted(result, folder / QHA_FILES[1], thin_number),
             write_volume_temperature(result, folder / QHA_FILES[2]),
             write_thermal_expansion(result, folder / QHA_FILES[3]),
             write_gibbs_temperature(result, folder / QHA_FILES[4]),
             write_bulk_modulus_temperature(result, folder / QHA_FILES[5]),
             write_heat_capacity_P_numerical(result, folder / QHA_FILES[6])]
    paths += write_heat_capacity_P_polyfit(result, folder / QHA_FILES[9], folder / QHA_FILES[7],
                                           folder / QHA_FILES[8], folder / QHA_FILES[10])
    paths.append(write_gruneisen_temperature(result, folder / QHA_FILES[11]))
    return paths

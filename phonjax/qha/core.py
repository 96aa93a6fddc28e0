"""The quasi-harmonic approximation (QHA), as phonopy 4.10's ``PhonopyQHA`` / ``phonopy-qha``.

Inputs: volumes Vⱼ (Å³) with electronic energies U(Vⱼ) (eV; or U(T, Vⱼ), electronic free
energies, phonopy-qha's ``--efe``), and per volume the phonon F (kJ/mol), S and Cv (J/K/mol)
at temperatures Tᵢ (one thermal_properties.yaml per volume). At each temperature

    F(V, T) = U(V) + pV + F_ph(V, T)                         (eV; p in GPa / 160.2177 → eV/Å³)

is fitted to the EOS (``eos.fit_eos``); the minimum gives G(T) = E₀(T) and V(T) = V₀(T),
its curvature the isothermal bulk modulus B_T(T) = B₀(T). From these, on phonopy's
temperature grid (n = the fitted temperatures, see below):

    α(T)        = (V(Tᵢ₊₁) − V(Tᵢ₋₁)) / (Tᵢ₊₁ − Tᵢ₋₁) / V(Tᵢ)                  (1/K, volumetric)
    Cp_num(T)   = −T·d²G/dT², d²G/dT² of the parabola through Tᵢ₋₁, Tᵢ, Tᵢ₊₁  (np.polyfit)
    Cp_fit(T)   = Cv(V(T)) + T·dV/dT·dS/dV, Cv(V) and S(V) degree-4 polynomials in V at each T,
                  dV/dT of the parabola through three V(T)
    γ(T)        = α·B_T·V / Cv(V(T))                 (0 where Cv(V(T))/V < 1e-12 eV/K/Å³)
    S(T), H(T)  = S(V(T)) of the degree-4 S(V), H = G + T·S   (only for a static U(V))

all with a leading 0 at the first temperature (α, Cp, γ). J/K/mol ↔ eV/K by phonopy's
EvTokJmol·1000, GPa ↔ eV/Å³ by phonopy's EVAngstromToGPa.

Temperature rule (phonopy's ``_get_num_elems``): without ``t_max_K`` all temperatures are
fitted; with it, those up to the grid point nearest t_max_K plus one more (if there is one).
The results keep one temperature fewer than were fitted (the last only serves the central
differences): phonopy-qha's default ``--tmax 1000`` on a 0–1000 K grid thus reports 0–990 K.

Refusals (phonopy refuses these too, with an exception): fewer than 5 volumes (the degree-4
S(V) fit); an EOS fit that fails at any temperature or for the static U(V)+pV
(``EOSFitError``: phonopy's "simply omit the point" is not what it does — the error
propagates). Also refused here, one line each: arrays of mismatched shapes, non-finite
values, a single temperature.

``quasi_harmonic`` is the phonopy-exact path (numpy; scipy's leastsq; np.polyfit where
phonopy uses it: the same numbers to the last bit). ``phonjax.qha.differentiable`` is the
``jax.numpy`` variant of the same formulas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phonjax.qha.eos import EV_A3_TO_GPA, EOSParameters, check_eos_name, fit_eos
from phonjax.units import AVOGADRO, EV_TO_KJMOL

EV_TO_JMOL = EV_TO_KJMOL * 1000.0  # eV -> J/mol (phonopy's EvTokJmol * 1000)
MIN_VOLUMES = 5  # the degree-4 polynomial fits of S(V) and Cv(V)
CV_ZERO_EV_K_A3 = 1e-12  # γ = 0 below this Cv/V (eV/K/Å³), phonopy's rule


@dataclass(frozen=True)
class QHAInputs:
    """What phonopy-qha reads, in its units. ``electronic_energies_eV``: (n_V,) U(V), or
    (≥ n_T fitted, n_V) electronic free energies U(T, V); the thermal arrays (n_T, n_V)."""

    volumes_A3: np.ndarray
    electronic_energies_eV: np.ndarray
    temperatures_K: np.ndarray
    free_energy_kJmol: np.ndarray
    entropy_JKmol: np.ndarray
    heat_capacity_JKmol: np.ndarray


@dataclass(frozen=True)
class QHAResult:
    """The QHA on n temperatures (phonopy's reported ones; see the module docstring).

    ``free_energies_eV`` (n, n_V): F(V, T) fitted; ``eos_parameters`` (n, 4): [E₀ eV, B₀ eV/Å³,
    B₀′, V₀ Å³] per T; ``cv_volume_coefficients`` / ``entropy_volume_coefficients`` (n−1, 5):
    the degree-4 polynomials (highest power first, J/K/mol per Å³ᵏ) at temperatures[1:];
    ``entropy_JKmol`` / ``enthalpy_eV``: None with temperature-dependent electronic energies;
    ``heat_capacity_JKmol_grid`` / ``entropy_JKmol_grid`` (n, n_V): the inputs at these
    temperatures; ``static``: the EOS of U(V) + pV alone (phonopy-qha -b);
    ``fitted_temperatures_K`` (n+1,) / ``fitted_eos_parameters`` (n+1, 4): every fit made,
    the extra last one included (phonopy-qha prints them all)."""

    eos: str
    pressure_GPa: float | None
    volumes_A3: np.ndarray
    temperatures_K: np.ndarray
    free_energies_eV: np.ndarray
    eos_parameters: np.ndarray
    equilibrium_volumes_A3: np.ndarray
    gibbs_eV: np.ndarray
    bulk_modulus_GPa: np.ndarray
    thermal_expansion_per_K: np.ndarray
    heat_capacity_P_numerical_JKmol: np.ndarray
    heat_capacity_P_polyfit_JKmol: np.ndarray
    dsdv_JKmolA3: np.ndarray
    gruneisen: np.ndarray
    entropy_JKmol: np.ndarray | None
    enthalpy_eV: np.ndarray | None
    cv_volume_coefficients: np.ndarray | None
    entropy_volume_coefficients: np.ndarray | None
    heat_capacity_JKmol_grid: np.ndarray
    entropy_JKmol_grid: np.ndarray
    static: EOSParameters | None
    fitted_temperatures_K: np.ndarray
    fitted_eos_parameters: np.ndarray


def fitted_count(temperatures_K, t_max_K: float | None) -> int:
    """How many temperatures phonopy fits: all, or up to the one nearest ``t_max_K`` (first
    of equally near ones) plus one more where the grid has it."""
    temperatures_K = np.asarray(temperatures_K, dtype="double")
    n = len(temperatures_K) if t_max_K is None else \
        int(np.argmin(np.abs(temperatures_K - t_max_K))) + 1
    return min(n + 1, len(temperatures_K))


def check_inputs(inputs: QHAInputs, t_max_K: float | None = None) -> int:
    """The number of fitted temperatures; a one-line ``ValueError`` for inputs phonopy
    refuses (or would mis-handle) and for malformed arrays."""
    v = np.asarray(inputs.volumes_A3)
    if v.ndim != 1:
        raise ValueError(f"volumes must be a 1-d array, got shape {v.shape}")
    if len(v) < MIN_VOLUMES:
        raise ValueError(f"{len(v)} volumes: the QHA needs at least {MIN_VOLUMES} (phonopy's "
                         "degree-4 fits of S(V) and Cv(V))")
    t = np.asarray(inputs.temperatures_K)
    if t.ndim != 1 or len(t) == 0:
        raise ValueError(f"temperatures must be a non-empty 1-d array, got shape {t.shape}")
    for name in ("free_energy_kJmol", "entropy_JKmol", "heat_capacity_JKmol"):
        a = np.asarray(getattr(inputs, name))
        if a.shape != (len(t), len(v)):
            raise ValueError(f"{name} has shape {a.shape}, expected (temperatures, volumes) = "
                             f"{(len(t), len(v))}")
    n = fitted_count(t, t_max_K)
    u = np.asarray(inputs.electronic_energies_eV)
    if u.ndim == 1 and u.shape != v.shape:
        raise ValueError(f"{len(u)} electronic energies for {len(v)} volumes")
    if u.ndim == 2 and (u.shape[1] != len(v) or u.shape[0] < n):
        raise ValueError(f"electronic free energies have shape {u.shape}, need ≥ {n} "
                         f"temperatures × {len(v)} volumes")
    if u.ndim not in (1, 2):
        raise ValueError(f"electronic energies must be 1-d or 2-d, got shape {u.shape}")
    for name in ("volumes_A3", "electronic_energies_eV", "temperatures_K"):
        if not np.all(np.isfinite(np.asarray(getattr(inputs, name), dtype="double"))):
            raise ValueError(f"{name} has non-finite values")
    for name in ("free_energy_kJmol", "entropy_JKmol", "heat_capacity_JKmol"):
        if not np.all(np.isfinite(np.asarray(getattr(inputs, name), dtype="double")[:n])):
            raise ValueError(f"{name} has non-finite values")
    if n < 2:
        raise ValueError("1 temperature to fit: the QHA's finite differences need at least 2 "
                         "(give more temperatures)")
    return n


def total_free_energies(volumes_A3, electronic_energies_eV, free_energy_kJmol, n: int,
                        pressure_GPa: float | None = None) -> np.ndarray:
    """(n, n_V) F(V, T) = U + pV + F_ph in eV at the first n temperatures, in phonopy's order
    of operations (U + V·p/160.2177 first, then F_ph/EvTokJmol + that): its bits."""
    v = np.array(volumes_A3, dtype="double")
    u = np.array(electronic_energies_eV, dtype="double")
    if pressure_GPa is not None:
        u = u + v * pressure_GPa / EV_A3_TO_GPA
    f_ph = np.array(free_energy_kJmol, dtype="double")[:n] / EV_TO_KJMOL
    return f_ph + (np.broadcast_to(u, f_ph.shape) if u.ndim == 1 else u[:n])


def _three_point_parabola(x, y) -> np.ndarray:
    return np.polyfit(x, y, 2)


def _powers(x) -> np.ndarray:
    return np.array([x ** 4, x ** 3, x ** 2, x, 1])


def quasi_harmonic(inputs: QHAInputs, eos: str = "vinet", pressure_GPa: float | None = None,
                   t_max_K: float | None = None) -> QHAResult:
    """phonopy's ``PhonopyQHA(volumes, electronic_energies, temperatures, free_energy, cv,
    entropy, pressure=, eos=, t_max=)`` (also its static ``BulkModulus``), bit for bit."""
    check_eos_name(eos)
    n_fit = check_inputs(inputs, t_max_K)
    volumes = np.array(inputs.volumes_A3, dtype="double")
    u = np.array(inputs.electronic_energies_eV, dtype="double")
    # PhonopyQHA fits the static curve first (every row of U(T, V) if 2-d), and fails with it
    static = None
    if u.ndim == 1:
        static = static_eos(volumes, u, eos, pressure_GPa)
    else:
        for row in u:
            static_eos(volumes, row, eos, pressure_GPa)
    temps_all = np.array(inputs.temperatures_K, dtype="double")
    fe = total_free_energies(volumes, u, inputs.free_energy_kJmol, n_fit, pressure_GPa)
    params = []
    for i in range(n_fit):
        try:
            params.append(fit_eos(volumes, fe[i], eos).as_array())
        except ValueError as exc:
            raise type(exc)(f"at T = {temps_all[i]:g} K: {exc}") from None
    params = np.array(params)
    temps = temps_all[:n_fit]
    v_eq, g = params[:, 3].copy(), params[:, 0].copy()
    n = n_fit - 1  # phonopy reports one temperature fewer than it fitted

    beta = np.zeros(n)
    cp_num = np.zeros(n)
    for i in range(1, n):
        beta[i] = (v_eq[i + 1] - v_eq[i - 1]) / (temps[i + 1] - temps[i - 1]) / v_eq[i]
        cp_num[i] = -(2 * _three_point_parabola(temps[i - 1:i + 2], g[i - 1:i + 2])[0]) * temps[i]
    cp_num = cp_num * EV_TO_JMOL

    cv_ev = np.array(inputs.heat_capacity_JKmol, dtype="double") / EV_TO_JMOL
    s_ev = np.array(inputs.entropy_JKmol, dtype="double") / EV_TO_JMOL
    cp_fit, dsdv = np.zeros(n), np.zeros(n)
    cv_coef, s_coef = [], []
    for j in range(1, n):
        t, x = temps[j], v_eq[j]
        pc = np.polyfit(volumes, cv_ev[j], 4)
        ps = np.polyfit(volumes, s_ev[j], 4)
        pv = _three_point_parabola(temps[j - 1:j + 2], v_eq[j - 1:j + 2])
        dsdv[j] = np.dot(ps[:4], np.array([4 * x ** 3, 3 * x ** 2, 2 * x, 1]))
        cp_fit[j] = np.dot(pc, _powers(x)) + t * (pv[0] * 2 * t + pv[1]) * dsdv[j]
        cv_coef.append(pc * EV_TO_JMOL)
        s_coef.append(ps * EV_TO_JMOL)

    gamma = np.zeros(n)
    b_ev = params[:, 1] * EV_A3_TO_GPA / EV_A3_TO_GPA  # phonopy converts to GPa and back
    for i in range(1, n):
        cv_v = np.dot(np.polyfit(volumes, cv_ev[i], 4), [v_eq[i] ** 4, v_eq[i] ** 3,
                                                          v_eq[i] ** 2, v_eq[i], 1]) / v_eq[i]
        gamma[i] = 0.0 if cv_v < CV_ZERO_EV_K_A3 else beta[i] * b_ev[i] / cv_v

    entropy = enthalpy = None
    if u.ndim == 1:
        s_t = np.array([np.polyval(np.polyfit(volumes, s_ev[i], 4), v_eq[i])
                        for i in range(n_fit)])
        entropy = (s_t * EV_TO_JMOL)[:n]
        enthalpy = (g + temps * s_t)[:n]

    return QHAResult(
        eos=eos, pressure_GPa=pressure_GPa, volumes_A3=volumes, temperatures_K=temps[:n],
        free_energies_eV=fe[:n], eos_parameters=params[:n], equilibrium_volumes_A3=v_eq[:n],
        gibbs_eV=g[:n], bulk_modulus_GPa=(params[:, 1] * EV_A3_TO_GPA)[:n],
        thermal_expansion_per_K=beta, heat_capacity_P_numerical_JKmol=cp_num,
        heat_capacity_P_polyfit_JKmol=cp_fit * EV_TO_JMOL, dsdv_JKmolA3=dsdv * EV_TO_JMOL,
        gruneisen=gamma, entropy_JKmol=entropy, enthalpy_eV=enthalpy,
        cv_volume_coefficients=np.array(cv_coef).reshape(-1, 5),
        entropy_volume_coefficients=np.array(s_coef).reshape(-1, 5),
        heat_capacity_JKmol_grid=np.array(inputs.heat_capacity_JKmol, dtype="double")[:n],
        entropy_JKmol_grid=np.array(inputs.entropy_JKmol, dtype="double")[:n],
        static=static, fitted_temperatures_K=temps, fitted_eos_parameters=params)


def static_eos(volumes_A3, energies_eV, eos: str = "vinet",
               pressure_GPa: float | None = None) -> EOSParameters:
    """phonopy's ``BulkModulus`` (phonopy-qha -b): the EOS of U(V) + pV."""
    v = np.array(volumes_A3, dtype="double")
    e = np.array(energies_eV, dtype="double")
    if pressure_GPa is not None:
        e = e + v * pressure_GPa / EV_A3_TO_GPA
    return fit_eos(v, e, eos)


def dsdv_GPa_per_K(dsdv_JKmolA3) -> np.ndarray:
    """dS/dV in J/K/mol/Å³ → the unit phonopy writes in dsdv-temperature.dat (×1e21/N_A)."""
    return np.asarray(dsdv_JKmolA3) * 1e21 / AVOGADRO


def trusted_until_K(result: QHAResult) -> tuple[float | None, float | None]:
    """(the highest temperature up to which V(T) stays inside the fitted volumes, the highest
    up to which B_T(T) > 0), each None when it fails at the first temperature: beyond the
    first the equilibrium volume is an extrapolation of the EOS fits, beyond the second F(V)
    has no minimum worth the name. Not phonopy's (it reports neither); phonjax says both."""
    t = np.asarray(result.temperatures_K)
    v = np.asarray(result.equilibrium_volumes_A3)
    volumes = np.asarray(result.volumes_A3)

    def until(ok: np.ndarray) -> float | None:
        last = len(ok) if ok.all() else int(np.argmin(ok))
        return float(t[last - 1]) if last else None

    return (until((v >= volumes.min()) & (v <= volumes.max())),
            until(np.asarray(result.bulk_modulus_GPa) > 0))


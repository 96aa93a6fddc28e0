"""The quasi-harmonic approximation in ``jax.numpy``: ``core.quasi_harmonic``'s formulas,
differentiable in every input array and ``jax.vmap``-able over batches of materials.

Same inputs, units, temperature rule and outputs as ``phonjax.qha.core`` (its docstring has
the formulas); what differs is how each step is computed:

* the EOS fit per temperature (``fit_free_energies``), differentiated implicitly (∂p from
  ∇ₚΣr² = 0 at the fitted point), valued by one of two methods. ``"minpack"`` (default):
  F(V, T) and its MINPACK fits computed on the host exactly as ``core`` does, through a
  callback (phonopy's bits: the only way to phonopy's numbers to 1e-8, see ``eos``); a
  host round trip per call, not on the device. ``"lm"``: Levenberg–Marquardt with the exact
  Jacobian in ``jax.numpy``, on the device: the true least-squares minimum, which differs
  from MINPACK's stopping point by up to ~3e-7 relative in V(T), ~1e-5 in B_T(T) and ~1e-3
  in Cp_num (second differences of G) on the tests' data;
* the parabola through three temperatures (Cp numerical, dV/dT): closed-form divided
  differences instead of ``np.polyfit`` (the same parabola);
* the degree-4 polynomials Cv(V), S(V): least squares by QR in the centred, scaled variable
  (V − V̄)/σ_V instead of ``np.polyfit``'s scaled Vandermonde (the same polynomial; its
  coefficients in powers of V are not formed: ``cv_volume_coefficients`` and
  ``entropy_volume_coefficients`` are None, as is ``static``).

Nothing here raises on data (a traced computation cannot): "minpack" gives NaN rows where
phonopy refuses a fit, "lm" refuses nothing; run ``core.quasi_harmonic`` once for phonopy's
decision. Run it in float64 (inside ``phonjax.float64()``). Measured in tests/qha with
"minpack": every column ≤ 3.1e-10 relative to phonopy (Cp numerical; the rest ≤ 1e-13), and
∂V(300 K)/∂E(Vⱼ) within 6e-5 of phonopy's finite differences.
"""

from __future__ import annotations

import numpy as np

from phonjax.qha.core import (CV_ZERO_EV_K_A3, EV_TO_JMOL, QHAInputs, QHAResult,
                              check_inputs, total_free_energies)
from phonjax.qha.eos import (EV_A3_TO_GPA, FIT_METHODS, LM_STEPS, check_eos_name, eos_energy,
                             fit_eos_jax, fit_eos_rows, float64_callback)
from phonjax.units import EV_TO_KJMOL

_DATA_FIELDS = [f for f in QHAResult.__dataclass_fields__ if f not in ("eos", "pressure_GPa")]


def _register_result_pytree() -> None:
    """QHAResult as a JAX pytree (its arrays; eos and pressure as static metadata), so that
    ``jax.jit`` can return it."""
    import jax

    try:
        jax.tree_util.register_dataclass(QHAResult, data_fields=_DATA_FIELDS,
                                         meta_fields=["eos", "pressure_GPa"])
    except ValueError:  # registered already
        pass


def polynomial_fit_at(volumes, values, at_volumes, degree: int = 4):
    """The least-squares polynomial of ``degree`` through (volumes, values[k]) for each row k
    of ``values`` (n, n_V), and its value and d/dV at ``at_volumes[k]``: two (n,) arrays."""
    import jax.numpy as jnp

    centre = jnp.mean(volumes)
    scale = jnp.std(volumes)
    x = (volumes - centre) / scale
    powers = jnp.arange(degree + 1)
    design = x[:, None] ** powers[None, :]  # (n_V, degree+1), lowest power first
    q, r = jnp.linalg.qr(design)
    coef = jnp.linalg.solve(r, q.T @ values.T)  # (degree+1, n)
    xa = (at_volumes - centre) / scale
    value = jnp.sum(coef * xa[None, :] ** powers[:, None], axis=0)
    slope = jnp.sum(coef[1:] * powers[1:, None] * xa[None, :] ** (powers[1:, None] - 1),
                    axis=0) / scale
    return value, slope


def free_energy_surface(volumes, electronic_eV, free_energy_kJmol, n: int,
                        pressure_GPa: float | None = None):
    """(n, n_V) F(V, T) = U + pV + F_ph (eV) in ``jax.numpy`` (``core.total_free_energies``;
    XLA may round the last bit differently)."""
    import jax.numpy as jnp

    u = electronic_eV
    if pressure_GPa is not None:
        u = u + volumes * pressure_GPa / EV_A3_TO_GPA
    f = free_energy_kJmol[:n] / EV_TO_KJMOL
    return f + (jnp.broadcast_to(u, f.shape) if u.ndim == 1 else u[:n])


def fit_free_energies(volumes, electronic_eV, free_energy_kJmol, n: int, eos: str = "vinet",
                      pressure_GPa: float | None = None, method: str = "minpack",
                      steps: int = LM_STEPS):
    """(n, 4) EOS parameters [E₀, B₀, B₀′, V₀] of F(V, T) at the first n temperatures,
    differentiable in the three arrays (implicit function theorem at each minimum).

    ``"minpack"``: F and its fits are computed on the host exactly as phonopy does
    (``core.total_free_energies`` + ``eos.fit_eos``, via ``jax.pure_callback``): phonopy's
    bits, NaN rows where its fit fails. (Forming F in ``jax.numpy`` first would not do: one
    last-bit change of F moves MINPACK's stopping point by up to ~1e-7 relative in V₀ on
    noisy E(V).) ``"lm"``: ``eos.fit_eos_jax``'s Levenberg–Marquardt on the device."""
    import jax
    import jax.numpy as jnp

    check_eos_name(eos)
    if method not in FIT_METHODS:
        raise ValueError(f"unknown fit method {method!r}: one of {', '.join(FIT_METHODS)}")

    def surface(v, u, f):
        return free_energy_surface(v, u, f, n, pressure_GPa)

    if method == "lm":
        fe = surface(volumes, electronic_eV, free_energy_kJmol)
        return jax.vmap(lambda e: fit_eos_jax(volumes, e, eos, "lm", steps))(fe)

    def host(v, u, f):
        fe = total_free_energies(v, u, f, n, pressure_GPa)
        return fit_eos_rows(v, fe, eos)

    def loss(p, v, e):
        r = eos_energy(eos, v, p) - e
        return 0.5 * jnp.sum(r * r)

    @jax.custom_jvp
    def solve(v, u, f):
        return float64_callback(host, (n, 4), v, u, f)

    @solve.defjvp
    def solve_jvp(primals, tangents):
        v, u, f = primals
        p = solve(v, u, f)
        fe, dfe = jax.jvp(surface, primals, tangents)
        dv = tangents[0]
        grad_p = jax.grad(loss, argnums=0)

        def row(p_t, e_t, de_t):
            _, mixed = jax.jvp(lambda vv, ee: grad_p(p_t, vv, ee), (v, e_t), (dv, de_t))
            return -jnp.linalg.solve(jax.hessian(loss, argnums=0)(p_t, v, e_t), mixed)

        return p, jax.vmap(row)(p, fe, dfe)

    return solve(volumes, electronic_eV, free_energy_kJmol)


def quasi_harmonic_jax(inputs: QHAInputs, eos: str = "vinet", pressure_GPa: float | None = None,
                       t_max_K: float | None = None, method: str = "minpack",
                       steps: int = LM_STEPS) -> QHAResult:
    """``core.quasi_harmonic`` in ``jax.numpy`` (arrays of ``inputs`` may be traced; the
    temperatures and shapes must be concrete: they fix the temperature rule). ``method``:
    the EOS fit's (``fit_free_energies``: "minpack", phonopy's fit values through a host
    callback; "lm", Levenberg–Marquardt on the device, the true least-squares minimum).
    One ``jax.jit``-compiled program per shape and settings."""
    import jax.numpy as jnp

    _register_result_pytree()
    check_eos_name(eos)
    if method not in FIT_METHODS:
        raise ValueError(f"unknown fit method {method!r}: one of {', '.join(FIT_METHODS)}")
    temperatures = np.asarray(inputs.temperatures_K, dtype="double")
    shapes = QHAInputs(*(np.zeros(np.shape(a)) for a in
                         (inputs.volumes_A3, inputs.electronic_energies_eV)), temperatures,
                       *(np.zeros(np.shape(a)) for a in (inputs.free_energy_kJmol,
                                                         inputs.entropy_JKmol,
                                                         inputs.heat_capacity_JKmol)))
    n_fit = check_inputs(shapes, t_max_K)
    arrays = (jnp.asarray(a, dtype=jnp.float64) for a in (
        inputs.volumes_A3, inputs.electronic_energies_eV, inputs.free_energy_kJmol,
        inputs.entropy_JKmol, inputs.heat_capacity_JKmol, temperatures[:n_fit]))
    fields = _compiled()(*arrays, n_fit=n_fit, eos=eos, pressure_GPa=pressure_GPa,
                         method=method, steps=steps)
    return QHAResult(eos=eos, pressure_GPa=pressure_GPa, cv_volume_coefficients=None,
                     entropy_volume_coefficients=None, static=None, **fields)


_COMPILED = []


def _compiled():
    """``_qha_fields`` under ``jax.jit`` (made once, on first use: importing this module does
    not import JAX)."""
    if not _COMPILED:
        import jax

        _COMPILED.append(jax.jit(_qha_fields, static_argnames=("n_fit", "eos", "pressure_GPa",
                                                                "method", "steps")))
    return _COMPILED[0]


def _qha_fields(volumes, u, f_ph, entropy_JKmol, cv_JKmol, temps, *, n_fit, eos, pressure_GPa,
                method, steps) -> dict:
    import jax.numpy as jnp

    n = n_fit - 1
    fe = free_energy_surface(volumes, u, f_ph, n_fit, pressure_GPa)
    params = fit_free_energies(volumes, u, f_ph, n_fit, eos, pressure_GPa, method, steps)
    g, v_eq = params[:, 0], params[:, 3]
    t0, t1, t2 = temps[:-2], temps[1:-1], temps[2:]
    zero = jnp.zeros(1, dtype=volumes.dtype)

    beta = jnp.concatenate([zero, (v_eq[2:] - v_eq[:-2]) / (t2 - t0) / v_eq[1:-1]])
    slope01, slope12 = (g[1:-1] - g[:-2]) / (t1 - t0), (g[2:] - g[1:-1]) / (t2 - t1)
    cp_num = jnp.concatenate([zero, -2 * (slope12 - slope01) / (t2 - t0) * t1]) * EV_TO_JMOL
    v01, v12 = (v_eq[1:-1] - v_eq[:-2]) / (t1 - t0), (v_eq[2:] - v_eq[1:-1]) / (t2 - t1)
    dvdt = v01 + (v12 - v01) / (t2 - t0) * (t1 - t0)

    cv = cv_JKmol[:n_fit] / EV_TO_JMOL
    s = entropy_JKmol[:n_fit] / EV_TO_JMOL
    cv_at, _ = polynomial_fit_at(volumes, cv[1:n], v_eq[1:n])
    s_at, dsdv = polynomial_fit_at(volumes, s, v_eq)
    cp_fit = jnp.concatenate([zero, cv_at + t1 * dvdt * dsdv[1:n]]) * EV_TO_JMOL
    cv_v = cv_at / v_eq[1:n]
    small = cv_v < CV_ZERO_EV_K_A3
    gamma = jnp.concatenate([zero, jnp.where(small, 0.0, beta[1:] * params[1:n, 1]
                                             / jnp.where(small, 1.0, cv_v))])
    entropy = enthalpy = None
    if u.ndim == 1:
        entropy = (s_at * EV_TO_JMOL)[:n]
        enthalpy = (g + temps * s_at)[:n]
    return dict(
        volumes_A3=volumes, temperatures_K=temps[:n], free_energies_eV=fe[:n],
        eos_parameters=params[:n], equilibrium_volumes_A3=v_eq[:n], gibbs_eV=g[:n],
        bulk_modulus_GPa=params[:n, 1] * EV_A3_TO_GPA, thermal_expansion_per_K=beta,
        heat_capacity_P_numerical_JKmol=cp_num, heat_capacity_P_polyfit_JKmol=cp_fit,
        dsdv_JKmolA3=jnp.concatenate([zero, dsdv[1:n]]) * EV_TO_JMOL, gruneisen=gamma,
        entropy_JKmol=entropy, enthalpy_eV=enthalpy, heat_capacity_JKmol_grid=cv_JKmol[:n],
        entropy_JKmol_grid=entropy_JKmol[:n], fitted_temperatures_K=temps,
        fitted_eos_parameters=params)

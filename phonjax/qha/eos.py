"""Equations of state E(V) and their least-squares fit, as phonopy 4.10's ``phonopy.qha.eos``.

An *equation of state* (EOS) is an energy–volume curve with four parameters
p = (E₀ eV, B₀ eV/Å³, B₀′, V₀ Å³): the energy, bulk modulus, its pressure derivative and
the volume at the minimum. phonopy's three, with x = (V/V₀)^{1/3}:

    vinet            E = E₀ + 9B₀V₀/η² · [1 + (η(1−x) − 1)·e^{η(1−x)}],  η = 3(B₀′−1)/2
    birch_murnaghan  E = E₀ + 9/16·V₀B₀ · [f³B₀′ + f²(6 − 4s)],  s = (V₀/V)^{2/3}, f = s − 1
    murnaghan        E = E₀ + B₀V/B₀′ · [(V₀/V)^{B₀′}/(B₀′−1) + 1] − B₀V₀/(B₀′−1)

(each written with phonopy's order of floating-point operations, so that the residuals, and
hence the fit, are the same to the last bit).

The *fit* (``fit_eos``, phonopy's ``fit_to_eos``) minimises Σ(E(Vᵢ; p) − Eᵢ)² with MINPACK's
Levenberg–Marquardt (``scipy.optimize.leastsq``, forward-difference Jacobian, its default
tolerances) from phonopy's initial guess p = (E[n//2], 1 eV/Å³, 4, V[n//2]) — the middle
point of the data as given, not the lowest. phonopy's rule for a *failed* fit: any warning
raised while leastsq runs (an exponential that overflows, a fractional power of a negative
V₀/V, …) aborts the fit; so it does here (``EOSFitError``), under numpy's default
floating-point error policy whatever the caller's. MINPACK's own "not converged" flags
(maximum number of evaluations reached, …) are accepted silently, as phonopy does.

The fitted parameters are *not* the exact least-squares minimum: MINPACK's forward-difference
Jacobian and stopping rule leave ∇ₚΣr² ≈ 1e-10, and on noisy E(V) (1e-4 eV) its stopping
point moves by up to ~1e-7 relative in V₀ and ~1e-5 in B₀ when the data change in their
last bit, or when the start or the Jacobian differ. phonopy's numbers to 1e-8 therefore
need MINPACK itself, on F(V) formed with phonopy's floating-point operations.

``fit_eos_jax`` is the differentiable variant, a ``jax.numpy`` function differentiated
implicitly (∂p/∂data from the stationarity condition ∇ₚΣr² = 0 at the fitted point, not
through the iterations): ``method="minpack"`` takes its value from ``fit_eos`` on the host
(``float64_callback``: phonopy's bits; NaN where phonopy refuses), ``"lm"`` from a fixed
number of Levenberg–Marquardt steps with the exact Jacobian in ``jax.numpy`` (on the
device; the true minimum, so not phonopy's numbers to 1e-8; it refuses nothing).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from phonjax.units import EV_J

EOS_NAMES = ("vinet", "birch_murnaghan", "murnaghan")
EOS_TITLES = {"vinet": "Vinet EOS", "birch_murnaghan": "Third-order Birch-Murnaghan EOS",
              "murnaghan": "Murnaghan EOS"}  # the line phonopy-qha prints first
EV_A3_TO_GPA = EV_J * 1e21  # eV/Å³ -> GPa, phonopy's EVAngstromToGPa (160.21773299999998)


class EOSFitError(ValueError):
    """A fit that phonopy refuses too (a warning raised while it ran)."""


@dataclass(frozen=True)
class EOSParameters:
    """One fitted EOS: E₀ (eV), B₀ (eV/Å³), B₀′, V₀ (Å³); ``bulk_modulus_GPa`` = B₀ in GPa."""

    energy_eV: float
    bulk_modulus_eV_A3: float
    bulk_modulus_derivative: float
    volume_A3: float

    @property
    def bulk_modulus_GPa(self) -> float:
        return self.bulk_modulus_eV_A3 * EV_A3_TO_GPA

    def as_array(self) -> np.ndarray:
        """(4,) [E₀, B₀, B₀′, V₀], phonopy's parameter order."""
        return np.array([self.energy_eV, self.bulk_modulus_eV_A3, self.bulk_modulus_derivative,
                         self.volume_A3])


def check_eos_name(eos: str) -> str:
    """``eos`` if it is one of ``EOS_NAMES``; else a one-line ``ValueError`` (phonopy would
    silently use Vinet for an unknown name)."""
    if eos not in EOS_NAMES:
        raise ValueError(f"unknown equation of state {eos!r}: one of {', '.join(EOS_NAMES)}")
    return eos


def _module_of(*arrays):
    if any(type(a).__module__.startswith("jax") for a in arrays):
        import jax.numpy as jnp

        return jnp
    return np


def eos_energy(eos: str, volumes_A3, parameters):
    """E(V) in eV of the EOS ``eos`` at ``volumes_A3`` (any shape) for ``parameters``
    (4,) = [E₀, B₀, B₀′, V₀]; numpy or jax.numpy, whichever the inputs are."""
    xp = _module_of(volumes_A3, parameters)
    v = volumes_A3
    e0, b0, bp, v0 = parameters[0], parameters[1], parameters[2], parameters[3]
    if eos == "vinet":
        x = xp.cbrt(v / v0)
        eta = 3.0 / 2 * (bp - 1)
        return e0 + (9 * b0 * v0 / (eta ** 2) * (1 + (eta * (1 - x) - 1) * xp.exp(eta * (1 - x))))
    if eos == "birch_murnaghan":
        s = (v0 / v) ** (2.0 / 3)
        return e0 + 9.0 / 16 * v0 * b0 * ((s - 1) ** 3 * bp + (s - 1) ** 2 * (6 - 4 * s))
    if eos == "murnaghan":
        return e0 + b0 * v / bp * ((v0 / v) ** bp / (bp - 1) + 1) - b0 * v0 / (bp - 1)
    check_eos_name(eos)


def initial_parameters(volumes_A3, energies_eV) -> list:
    """phonopy's starting point: [E[n//2], 1.0 eV/Å³, 4.0, V[n//2]] (the middle data point)."""
    return [energies_eV[len(energies_eV) // 2], 1.0, 4.0, volumes_A3[len(volumes_A3) // 2]]


def fit_eos(volumes_A3, energies_eV, eos: str = "vinet") -> EOSParameters:
    """phonopy's ``fit_to_eos``: MINPACK Levenberg–Marquardt from ``initial_parameters``;
    ``EOSFitError`` (one line) where phonopy's fit raises."""
    from scipy.optimize import leastsq

    check_eos_name(eos)
    v = np.array(volumes_A3, dtype="double")
    e = np.array(energies_eV, dtype="double")
    if v.ndim != 1 or v.shape != e.shape:
        raise ValueError(f"volumes {v.shape} and energies {e.shape} must be two 1-d arrays of "
                         "one length")
    if len(v) < 4:
        raise EOSFitError(f"{len(v)} volume points: an EOS fit needs at least 4")

    def residuals(p):
        return eos_energy(eos, v, p) - e

    with warnings.catch_warnings(), np.errstate(all="warn", under="ignore"):
        warnings.simplefilter("error")
        try:
            p = leastsq(residuals, initial_parameters(v, e), full_output=True)[0]
        except (Warning, RuntimeError, FloatingPointError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise EOSFitError(f"the {eos} EOS fit failed ({reason})") from None
    return EOSParameters(*(float(x) for x in p))


# ---------------------------------------------------------------------------------------------
# the differentiable fit (jax.numpy)

LM_STEPS = 60  # Levenberg–Marquardt steps of the "lm" method (converged well before on QHA data)
FIT_METHODS = ("minpack", "lm")


def fit_eos_rows(volumes_A3, energies_eV, eos: str = "vinet") -> np.ndarray:
    """(..., 4) ``fit_eos`` of each row of ``energies_eV`` (..., n_V) against
    ``volumes_A3`` (..., n_V) (broadcast); NaN where phonopy's fit fails."""
    e = np.asarray(energies_eV, dtype="double")
    v = np.broadcast_to(np.asarray(volumes_A3, dtype="double"), e.shape)
    out = np.full(e.shape[:-1] + (4,), np.nan)
    for k in np.ndindex(*e.shape[:-1]):
        try:
            out[k] = fit_eos(v[k], e[k], eos).as_array()
        except EOSFitError:
            pass
    return out


def float64_callback(host, shape: tuple, *arrays):
    """``jax.pure_callback(host, float64 array of shape, *arrays)`` whose float64 arrays reach
    ``host`` (as numpy arrays) and come back with every bit, whether or not JAX's x64 mode is
    on in the thread that runs the callback (``jax.enable_x64`` is thread-local and the
    callback's own ``device_put`` would round them to float32): each crosses as uint32 pairs
    (``bitcast_convert_type``). ``jax.vmap``: one host call per batch element."""
    import jax
    import jax.numpy as jnp

    def to_words(a):
        return jax.lax.bitcast_convert_type(jnp.asarray(a, jnp.float64), jnp.uint32)

    def run(*words):
        values = [np.ascontiguousarray(w, dtype=np.uint32).view(np.float64)[..., 0]
                  for w in words]
        out = np.ascontiguousarray(host(*values), dtype=np.float64)
        return out[..., None].view(np.uint32)

    words = jax.pure_callback(run, jax.ShapeDtypeStruct(tuple(shape) + (2,), jnp.uint32),
                              *(to_words(a) for a in arrays), vmap_method="sequential")
    return jax.lax.bitcast_convert_type(words, jnp.float64)


def _lm_minimum(eos, volumes, energies, steps):
    """The least-squares minimum by ``steps`` Levenberg–Marquardt steps (Marquardt's diagonal
    scaling, λ ×/÷ 10 on a rejected/accepted step), exact Jacobian; no derivative."""
    import jax
    import jax.numpy as jnp

    def residual(p):
        return eos_energy(eos, volumes, p) - energies

    def cost(r):
        return jnp.where(jnp.all(jnp.isfinite(r)), jnp.sum(r * r), jnp.inf)

    p0 = jnp.stack([jnp.asarray(x, volumes.dtype) for x in initial_parameters(volumes, energies)])

    def step(carry, _):
        p, lam, c = carry
        r = residual(p)
        jac = jax.jacfwd(residual)(p)
        a = jac.T @ jac
        d = jnp.diag(a)
        trial = p - jnp.linalg.solve(a + lam * jnp.diag(jnp.where(d > 0, d, 1.0)), jac.T @ r)
        ct = cost(residual(trial))
        better = ct <= c
        return (jnp.where(better, trial, p), jnp.where(better, lam / 10, lam * 10),
                jnp.where(better, ct, c)), None

    (p, _, _), _ = jax.lax.scan(step, (p0, jnp.asarray(1e-3, volumes.dtype),
                                       cost(residual(p0))), None, length=steps)
    return p


def fit_eos_jax(volumes_A3, energies_eV, eos: str = "vinet", method: str = "minpack",
                steps: int = LM_STEPS):
    """(4,) [E₀, B₀, B₀′, V₀] of the EOS fit, as a ``jax.numpy`` function: differentiable in
    volumes and energies (implicit function theorem at the minimum: ∂p = −H⁻¹·∂(∇ₚL) with
    L = ½Σr², not through the iterations), ``jax.vmap``/``jit``-able. Float64 (call it inside
    ``phonjax.float64()``).

    ``method="minpack"``: the value is ``fit_eos``'s (scipy's leastsq on the host through
    ``jax.pure_callback``): phonopy's numbers bit for bit, NaN where phonopy's fit fails.
    ``"lm"``: ``steps`` Levenberg–Marquardt steps in ``jax.numpy`` with the exact Jacobian
    (runs on the device): the true least-squares minimum, which MINPACK's forward-difference
    Jacobian and stopping rule miss by up to ~1e-6 relative in V₀ and ~1e-5 in B₀ on noisy
    data (its ∇ₚL is ~1e-10, the "lm" one ~1e-16): not phonopy's numbers to 1e-8."""
    import jax
    import jax.numpy as jnp

    check_eos_name(eos)
    if method not in FIT_METHODS:
        raise ValueError(f"unknown fit method {method!r}: one of {', '.join(FIT_METHODS)}")

    def loss(p, v, e):
        r = eos_energy(eos, v, p) - e
        return 0.5 * jnp.sum(r * r)

    def minimum(v, e):
        if method == "lm":
            return _lm_minimum(eos, v, e, steps)
        return float64_callback(lambda vv, ee: fit_eos_rows(vv, ee, eos),
                                e.shape[:-1] + (4,), v, e)

    @jax.custom_jvp
    def solve(v, e):
        return minimum(v, e)

    @solve.defjvp
    def solve_jvp(primals, tangents):
        v, e = primals
        dv, de = tangents
        p = solve(v, e)
        grad_p = jax.grad(loss, argnums=0)
        _, mixed = jax.jvp(lambda vv, ee: grad_p(p, vv, ee), (v, e), (dv, de))
        hess = jax.hessian(loss, argnums=0)(p, v, e)
        return p, -jnp.linalg.solve(hess, mixed)

    return solve(jnp.asarray(volumes_A3), jnp.asarray(energies_eV))

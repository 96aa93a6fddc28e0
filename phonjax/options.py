"""Checked settings: a number that makes nonsense is refused where it is given.

Each check takes the setting's name and a value (a string from the command line
or a number) and returns the value, or raises ``SettingError`` (a ``ValueError``)
whose one-line message names the setting. Written as ``not x >= 0`` so that NaN
fails every test. ``argparse_type`` turns a check into an argparse ``type=``,
so that the command line refuses the value with exit status 2.

Rules: a temperature is finite and ≥ 0 K (0 K is the zero-point limit); a tolerance
is finite and ≥ 0; a unit factor, length, distance or force is finite and > 0;
mesh numbers are integers ≥ 1 (a boolean or a non-integral number is refused, never
truncated); a finite-displacement length obeys ``DISPLACEMENT_RULE``. A boolean is
never a number here (``True`` is not 1 Å).
"""

from __future__ import annotations

import argparse
import math

# Finite displacements measure the harmonic force constants only while the forces stay
# linear in the displacement. phonopy's default is 0.01 Å, phono3py's 0.03 Å. Above
# DISPLACEMENT_WARN_A the anharmonic part of the forces biases the force constants
# (NaCl with CHGNet: ω_max +4 % at 0.05 Å, +10 % at 0.1 Å, +15 % at 0.2 Å, +48 % at 0.5 Å,
# ×3 at 1 Å, all modes imaginary at 10 Å); above DISPLACEMENT_MAX_A (7 % of a 3 Å bond,
# 20× phonopy's default) the result is no longer a harmonic quantity, so it is refused.
DISPLACEMENT_WARN_A = 0.05
DISPLACEMENT_MAX_A = 0.2
DISPLACEMENT_RULE = (f"a finite displacement must be > 0 and ≤ {DISPLACEMENT_MAX_A:g} Å to measure "
                     f"harmonic force constants (phonopy uses 0.01 Å, phono3py 0.03 Å; above "
                     f"{DISPLACEMENT_WARN_A:g} Å: a warning)")


class SettingError(ValueError):
    """A setting with a value that makes no sense; the message names it."""


def _number(name: str, value) -> float:
    if isinstance(value, bool):
        raise SettingError(f"{name} must be a number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise SettingError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise SettingError(f"{name} must be a finite number, got {value!r}")
    return x


def non_negative(name: str, value) -> float:
    """Finite and ≥ 0 (temperatures in K, tolerances)."""
    x = _number(name, value)
    if not x >= 0:
        raise SettingError(f"{name} must be ≥ 0, got {value!r}")
    return x


def positive(name: str, value) -> float:
    """Finite and > 0 (unit factors, lengths, distances, forces)."""
    x = _number(name, value)
    if not x > 0:
        raise SettingError(f"{name} must be > 0, got {value!r}")
    return x


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def boolean(name: str, value) -> bool:
    """True or False (also numpy's, or the command line's words); a number is not a boolean."""
    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    raise SettingError(f"{name} must be true or false, got {value!r}")


def positive_int(name: str, value) -> int:
    """An integer ≥ 1 (mesh numbers, step counts): an integral number or its text; a
    boolean or a non-integral number (2.5) is refused, never truncated."""
    if isinstance(value, bool):
        raise SettingError(f"{name} must be an integer, got {value!r}")
    try:
        x = float(value)
        if not x.is_integer():
            raise ValueError
        n = int(x)
    except (TypeError, ValueError, OverflowError):
        raise SettingError(f"{name} must be an integer, got {value!r}") from None
    if n < 1:
        raise SettingError(f"{name} must be ≥ 1, got {value!r}")
    return n


def mesh_numbers(name: str, value) -> tuple[int, int, int]:
    """A q-mesh: one or three integers ≥ 1 (one: the same on each axis), as a tuple of three.
    Booleans and non-integral numbers ((2.5, 2, 2), (True, True, True)) are refused with one
    line, never truncated."""
    parts = list(value) if isinstance(value, (list, tuple)) else (
        value.tolist() if hasattr(value, "tolist") else value)
    parts = parts if isinstance(parts, list) else [parts]
    if len(parts) == 1:
        parts = parts * 3
    if len(parts) != 3:
        raise SettingError(f"{name} must be one or three positive integers, got {value!r}")
    try:
        return tuple(positive_int(name, p) for p in parts)
    except SettingError:
        raise SettingError(f"{name} must be one or three positive integers, got {value!r}"
                           ) from None


def displacement_distance(name: str, value) -> float:
    """A finite-displacement length in Å: finite, > 0 and ≤ ``DISPLACEMENT_MAX_A``
    (``DISPLACEMENT_RULE``)."""
    x = positive(name, value)
    if x > DISPLACEMENT_MAX_A:
        raise SettingError(f"{name} {x:g} Å is too large: {DISPLACEMENT_RULE}")
    return x


def displacement_warning(distance_A: float) -> str | None:
    """One line when a (valid) displacement length is above ``DISPLACEMENT_WARN_A``, else None."""
    if distance_A > DISPLACEMENT_WARN_A:
        return (f"displacement distance {distance_A:g} Å is above {DISPLACEMENT_WARN_A:g} Å: "
                f"anharmonic forces bias the force constants (NaCl with CHGNet: ω_max +10 % at "
                f"0.1 Å); phonopy uses 0.01 Å")
    return None


class DisplacementWarning(UserWarning):
    """A displacement length in the warned range of ``DISPLACEMENT_RULE``."""


def argparse_type(check, name: str):
    """``check(name, text)`` as an argparse ``type``: a refusal becomes a usage error."""

    def parse(text: str):
        try:
            return check(name, text)
        except SettingError as exc:
            # argparse itself says "argument NAME:" first
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{name} ")) from None

    parse.__name__ = name  # argparse names the type in some messages
    return parse


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (exit status 2), not the usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def json_safe(value):
    """``value`` with every NaN/±inf float (also inside lists and dicts) replaced by None,
    so that ``json.dumps(..., allow_nan=False)`` writes strict JSON."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy
        return json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


PLAN_OPTION_HELP = ("how the kernels run, FIELD=VALUE[,…] of phonjax.Plan over the machine's "
                    "default: runner=graph (eigensolver=xla), eigensolver=lapack|phonors|xla, "
                    "real_form_tolerance=0, q_chunk_bytes=…; results agree to phonopy's "
                    "contract under every plan")


def add_plan_options(parser, memory_help: str) -> None:
    """``--plan`` and ``--memory-gb`` (the plan's memory bound), the same on every command."""
    parser.add_argument("--plan", default=None, metavar="FIELD=VALUE,…", help=PLAN_OPTION_HELP)
    parser.add_argument("--memory-gb", type=argparse_type(positive, "--memory-gb"), default=None,
                        metavar="GB", help=memory_help)


def plan_of(args):
    """The ``phonjax.Plan`` of ``--plan`` and ``--memory-gb`` (GB → bytes here, once);
    ``ValueError`` in one line for a field or value the plan refuses."""
    from phonjax.execution.plan import plan_from_text

    gb = getattr(args, "memory_gb", None)
    return plan_from_text(getattr(args, "plan", None), None if gb is None else gb * 1e9)


def add_model_options(parser) -> None:
    """``--device`` and ``--max-atoms`` (where and in what sizes a model runs), the same on
    every command that calls a model."""
    parser.add_argument("--device", default="cpu", help="model device (cpu, cuda, …)")
    parser.add_argument("--max-atoms", type=int, default=None,
                        help="atoms per model call (default 256 on CPU, 2048 elsewhere)")

"""Checked settings: a number that makes nonsense is refused where it is given.

Each check takes the setting's name and a value (a string from the command line
or a number) and returns the value, or raises ``SettingError`` (a ``ValueError``)
whose one-line message names the setting. Written as ``not x >= 0`` so that NaN
fails every test. ``argparse_type`` turns a check into an argparse ``type=``,
so that the command line refuses the value with exit status 2.

Rules: a temperature is finite and ≥ 0 K (0 K is the zero-point limit); a tolerance
is finite and ≥ 0; a unit factor, length, distance or force is finite and > 0;
mesh numbers are integers ≥ 1.
"""

from __future__ import annotations

import argparse
import math


class SettingError(ValueError):
    """A setting with a value that makes no sense; the message names it."""


def _number(name: str, value) -> float:
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


def positive_int(name: str, value) -> int:
    """An integer ≥ 1 (mesh numbers, step counts)."""
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

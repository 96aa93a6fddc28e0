"""Other packages' warnings (CHGNet's and torch's UserWarnings, deprecations) stay out of the
command lines' output unless -v; phonjax's own warnings always show."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

from phonjax.terminal import quiet_third_party_warnings
from tests.single.test_run_cli import EXAMPLES, needs_chgnet

ROOT = Path(__file__).resolve().parents[2]
# NaCl Born charges with a non-cubic (but neutral) Na and Cl: phonopy symmetrizes them and
# finds the symmetry "largely broken" (by 0.15 e > 0.1 e), which phonjax reports.
BROKEN_BORN = """14.4
2.43 0 0 0 2.43 0 0 0 2.43
1.25 0 0 0 1.1 0 0 0 0.95
-1.25 0 0 0 -1.1 0 0 0 -0.95
"""


def _shown(verbose: bool, monkeypatch) -> list[tuple[str, str]]:
    """(module, category) of the warnings that get through, out of one per kind of origin."""
    monkeypatch.setattr(sys, "warnoptions", [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_third_party_warnings(verbose)
        for module, category in (("chgnet.model.model", UserWarning),
                                 ("torch._tensor", UserWarning),
                                 ("pymatgen.core.structure", FutureWarning),
                                 ("phonjax_fake_plugin", UserWarning),
                                 ("phonjax.harmonic.nac", RuntimeWarning),
                                 ("phonjax_adapters.registry", UserWarning)):
            warnings.warn_explicit("w", category, f"{module}.py", 1, module=module)
    return [(w.filename.removesuffix(".py"), w.category.__name__) for w in caught]


def test_only_phonjax_warnings_unless_verbose(monkeypatch):
    assert _shown(False, monkeypatch) == [("phonjax.harmonic.nac", "RuntimeWarning"),
                                          ("phonjax_adapters.registry", "UserWarning")]
    assert len(_shown(True, monkeypatch)) == 6


def _run(args, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONWARNINGS", None)
    return subprocess.run([sys.executable, "-m", "phonjax", "run", *map(str, args),
                           "--model", "chgnet", "--supercell", "1", "1", "1", "--no-relax",
                           "--no-plots", "--mesh", "4", "--band-points", "5", "--temperatures",
                           "0", "300", "100", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)


@needs_chgnet
def test_run_with_chgnet_shows_phonjax_warnings_not_chgnet_s(tmp_path):
    """CHGNet's forces raise torch's "Converting a tensor with requires_grad=True to a
    scalar" UserWarning (attributed to chgnet/model/model.py)."""
    born = tmp_path / "BORN"
    born.write_text(BROKEN_BORN)
    quiet = _run([EXAMPLES / "NaCl.cif", "--born", born], tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert "UserWarning" not in quiet.stderr and "requires_grad" not in quiet.stderr
    assert "RuntimeWarning: the Born charges break the crystal's symmetry" in quiet.stderr
    assert "initialized with" not in quiet.stdout + quiet.stderr  # CHGNet's load banner
    verbose = _run([EXAMPLES / "Si.cif", "-v"], tmp_path)
    assert verbose.returncode == 0, verbose.stderr
    assert "chgnet/model/model.py" in verbose.stderr and "UserWarning" in verbose.stderr
    assert "initialized with" in verbose.stderr

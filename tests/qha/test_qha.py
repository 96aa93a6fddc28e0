"""phonjax.qha against phonopy 4.10's PhonopyQHA and phonopy-qha, run here on the same inputs.

Inputs made in the test, in phonopy-qha's own formats: 11 volumes around NaCl's primitive
cell (phonopy's NaCl example, 0.94–1.08 V₀); per volume the thermal_properties.yaml that
phonopy itself writes (``write_yaml_thermal_properties``, 0–1000 K every 10 K, 5³ mesh, Γ
acoustic modes excluded) for the example's force constants scaled by (V/V₀)^(−2γ), γ = 1.6
(a Grüneisen law: frequencies ∝ (V/V₀)^(−γ)); e-v.dat from a Vinet curve (B₀ ≈ 26 GPa)
plus 1e-4 eV of fixed noise, so that the fits are not exact.

Measured (this machine, phonopy 4.10, numpy 2.4, scipy 1.17): ``quasi_harmonic`` and the
files equal phonopy's bit for bit (max difference 0 in every column, every EOS, with and
without pressure / t_max; the twelve files byte-identical); ``quasi_harmonic_jax``
("minpack") ≤ 3.1e-10 relative (Cp numerical: divided differences, not np.polyfit;
the rest ≤ 1e-13); the device-only "lm" fit reaches the true least-squares minimum, which
MINPACK misses by up to 2.7e-7 relative in V(T) and 8.4e-6 in B(T).
"""

from __future__ import annotations

import gzip
import lzma
import warnings

import numpy as np
import pytest

from phonjax.qha.cli import main
from phonjax.qha.core import QHAInputs, quasi_harmonic
from phonjax.qha.eos import EOS_NAMES, EOSFitError, eos_energy, fit_eos
from phonjax.qha.files import QHA_FILES, read_e_v, read_thermal_properties, write_qha_files
from tests.conftest import EXAMPLES

N_VOLUMES = 11
GAMMA = 1.6
# every number phonopy gives is reproduced exactly (measured max difference 0); the contract
TOL = 1e-8

# (PhonopyQHA property, QHAResult field)
PROPERTIES = [
    ("helmholtz_volume", "free_energies_eV"),
    ("volume_temperature", "equilibrium_volumes_A3"),
    ("gibbs_temperature", "gibbs_eV"),
    ("bulk_modulus_temperature", "bulk_modulus_GPa"),
    ("thermal_expansion", "thermal_expansion_per_K"),
    ("heat_capacity_P_numerical", "heat_capacity_P_numerical_JKmol"),
    ("heat_capacity_P_polyfit", "heat_capacity_P_polyfit_JKmol"),
    ("gruneisen_temperature", "gruneisen"),
    ("entropy_temperature", "entropy_JKmol"),
    ("enthalpy_temperature", "enthalpy_eV"),
]


@pytest.fixture(scope="module")
def qha_case(tmp_path_factory):
    """(folder with e-v.dat and thermal_properties.yaml-00…10, volumes, energies, the yaml
    paths, phonopy's arrays (T, Cv, S, F))."""
    if not (EXAMPLES / "NaCl").is_dir():
        pytest.skip("phonopy example folders not found")
    import phonopy
    from phonopy.file_IO import read_thermal_properties_yaml

    folder = tmp_path_factory.mktemp("qha")
    nacl = EXAMPLES / "NaCl"
    ph = phonopy.load(nacl / "phonopy_disp.yaml", force_sets_filename=nacl / "FORCE_SETS",
                      is_nac=False, log_level=0)
    fc0 = ph.force_constants.copy()
    v0 = ph.primitive.volume
    volumes = v0 * np.linspace(0.94, 1.08, N_VOLUMES)
    paths = []
    for i, v in enumerate(volumes):
        ph.force_constants = fc0 * (v / v0) ** (-2 * GAMMA)
        ph.run_mesh([5, 5, 5])
        ph.run_thermal_properties(t_min=0, t_max=1000, t_step=10,
                                  exclude_gamma_acoustic=True)
        paths.append(folder / f"thermal_properties.yaml-{i:02d}")
        ph.write_yaml_thermal_properties(paths[-1])
    noise = 1e-4 * np.random.default_rng(0).standard_normal(N_VOLUMES)
    energies = eos_energy("vinet", volumes, np.array([-27.0, 0.16, 4.6, 0.966 * v0])) + noise
    (folder / "e-v.dat").write_text("#   cell volume        energy of cell other than phonon\n"
                                    + "".join(f"{v:20.10f} {e:20.10f}\n"
                                              for v, e in zip(volumes, energies)))
    volumes, energies = read_e_v(folder / "e-v.dat")
    return folder, volumes, energies, paths, read_thermal_properties_yaml(paths)


def phonopy_qha(volumes, energies, t, cv, s, f, **kw):
    from phonopy import PhonopyQHA

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PhonopyQHA's deprecation, polyfit's rank warnings
        return PhonopyQHA(volumes, energies, temperatures=t, free_energy=f, cv=cv, entropy=s,
                          **kw)


def max_relative(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    scale = np.maximum(np.abs(a), 1e-300)
    return float(np.max(np.abs(a - b) / scale)) if a.size else 0.0


def assert_same_numbers(path_a, path_b) -> None:
    """Two text files with the same lines, words and numbers (≤ TOL relative)."""
    lines_a = path_a.read_text().splitlines()
    lines_b = path_b.read_text().splitlines()
    assert len(lines_a) == len(lines_b), path_a.name
    for la, lb in zip(lines_a, lines_b):
        wa, wb = la.split(), lb.split()
        assert len(wa) == len(wb), (path_a.name, la, lb)
        for x, y in zip(wa, wb):
            try:
                fx, fy = float(x), float(y)
            except ValueError:
                assert x == y, (path_a.name, la, lb)
                continue
            assert abs(fx - fy) <= TOL * max(abs(fx), 1e-12) + 1e-15, (path_a.name, la, lb)


def test_readers_match_phonopy(qha_case, tmp_path):
    from phonopy.file_IO import read_v_e

    folder, volumes, energies, paths, (t, cv, s, f, modes, integrated) = qha_case
    v_ph, e_ph = read_v_e(folder / "e-v.dat")
    assert np.array_equal(volumes, v_ph) and np.array_equal(energies, e_ph)
    packed = []
    for i, path in enumerate(paths):  # compressed copies read the same
        if i % 3 == 0:
            packed.append(tmp_path / f"{path.name}.gz")
            packed[-1].write_bytes(gzip.compress(path.read_bytes()))
        elif i % 3 == 1:
            packed.append(tmp_path / f"{path.name}.xz")
            packed[-1].write_bytes(lzma.compress(path.read_bytes()))
        else:
            packed.append(path)
    for files in (paths, packed):
        tp = read_thermal_properties(files)
        for mine, theirs in ((tp.temperatures_K, t), (tp.heat_capacity_JKmol, cv),
                             (tp.entropy_JKmol, s), (tp.free_energy_kJmol, f)):
            assert np.array_equal(mine, theirs)
        assert tp.num_modes == tuple(modes) and tp.num_integrated_modes == tuple(integrated)


@pytest.mark.parametrize("eos", EOS_NAMES)
@pytest.mark.parametrize("pressure, t_max", [(None, None), (2.0, 700.0)])
def test_quasi_harmonic_matches_phonopy(qha_case, tmp_path, eos, pressure, t_max):
    import os

    folder, volumes, energies, paths, (t, cv, s, f, *_) = qha_case
    ref = phonopy_qha(volumes, energies, t, cv, s, f, eos=eos, pressure=pressure, t_max=t_max)
    result = quasi_harmonic(QHAInputs(volumes, energies, t, f, s, cv), eos=eos,
                            pressure_GPa=pressure, t_max_K=t_max)
    n = 100 if t_max is None else 71  # phonopy's rule: t_max's grid point + 1 fitted, 1 fewer
    assert len(result.temperatures_K) == n
    for prop, field in PROPERTIES:
        assert max_relative(getattr(ref, prop), getattr(result, field)) <= TOL, prop
    static = ref.get_bulk_modulus_parameters()
    assert max_relative(static, result.static.as_array()) <= TOL

    theirs = tmp_path / "phonopy"
    theirs.mkdir()
    cwd = os.getcwd()
    os.chdir(theirs)
    try:
        ref.write_helmholtz_volume()
        ref.write_helmholtz_volume_fitted(thin_number=10)
        ref.write_volume_temperature()
        ref.write_thermal_expansion()
        ref.write_gibbs_temperature()
        ref.write_bulk_modulus_temperature()
        ref.write_heat_capacity_P_numerical()
        ref.write_heat_capacity_P_polyfit()
        ref.write_gruneisen_temperature()
    finally:
        os.chdir(cwd)
    mine = write_qha_files(result, tmp_path / "phonjax")
    assert sorted(p.name for p in theirs.iterdir()) == sorted(QHA_FILES)
    for path in mine:
        assert_same_numbers(theirs / path.name, path)


CLI_CASES = {
    "bm-tmax-pressure": (dict(eos="birch_murnaghan", tmax=600.0, pressure=1.5),
                         ["--eos", "birch_murnaghan", "--tmax", "600", "--pressure", "1.5"]),
    "imaginary-excluded": (dict(exclude_imaginary=True, thin_number=5),
                           ["--exclude-imaginary", "--sparse", "5"]),
}


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_matches_phonopy_qha(qha_case, tmp_path, monkeypatch, capsys, case):
    from phonopy.cui.phonopy_qha_script import PhonopyQHAMockArgs
    from phonopy.cui.phonopy_qha_script import main as phonopy_qha_main

    folder, _, _, paths, _ = qha_case
    options, flags = CLI_CASES[case]
    if options.get("exclude_imaginary"):  # the 4th volume reports 4 imaginary modes
        paths = list(paths)
        flagged = tmp_path / "thermal_properties.yaml-03"
        text = paths[3].read_text()
        n = int(text.split("num_integrated_modes:")[1].split()[0])
        flagged.write_text(text.replace(f"num_integrated_modes: {n}",
                                        f"num_integrated_modes: {n - 4}"))
        paths[3] = flagged
    monkeypatch.chdir(tmp_path)
    args = PhonopyQHAMockArgs(filenames=[str(folder / "e-v.dat")] + [str(p) for p in paths],
                              **options)
    with warnings.catch_warnings(), pytest.raises(SystemExit) as done:
        warnings.simplefilter("ignore")
        phonopy_qha_main(args=args)
    assert done.value.code == 0
    theirs = capsys.readouterr().out
    argv = [str(folder / "e-v.dat"), *map(str, paths), *flags, "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert [ln for ln in theirs.splitlines()
            if ln.strip() and "excluded" not in ln] == captured.out.splitlines()
    if options.get("exclude_imaginary"):
        assert "thermal_properties.yaml-03 has been excluded" in captured.err
        assert len((tmp_path / "helmholtz-volume.dat").read_text().split("\n\n\n")[0]
                   .splitlines()) == 2 + N_VOLUMES - 1
    for name in QHA_FILES:
        assert_same_numbers(tmp_path / name, tmp_path / "out" / name)
    png = tmp_path / "out" / "qha.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_electronic_free_energies_match_phonopy(qha_case):
    """U(T, V) (phonopy-qha --efe) instead of U(V): every column phonopy's (measured 0)."""
    folder, volumes, energies, paths, (t, cv, s, f, *_) = qha_case
    electronic = energies[None, :] - 1e-8 * t[:, None] ** 2 * volumes[None, :] / volumes.mean()
    ref = phonopy_qha(volumes, electronic, t, cv, s, f, t_max=800.0)
    result = quasi_harmonic(QHAInputs(volumes, electronic, t, f, s, cv), t_max_K=800.0)
    for prop, field in PROPERTIES:  # phonopy offers no S, H, Cp-polyfit here
        if prop not in ("heat_capacity_P_polyfit", "entropy_temperature", "enthalpy_temperature"):
            assert max_relative(getattr(ref, prop), getattr(result, field)) <= TOL, prop
    assert result.entropy_JKmol is None and result.enthalpy_eV is None


def test_same_refusals_as_phonopy(qha_case):
    """Fewer than 5 volumes, and E(V) so steep that MINPACK overflows: phonopy raises, so
    does phonjax (one line); the accept/refuse decision of each EOS fit is phonopy's."""
    from phonopy.qha.eos import fit_to_eos, get_eos

    folder, volumes, energies, paths, (t, cv, s, f, *_) = qha_case
    four = (volumes[:4], energies[:4], t, cv[:, :4], s[:, :4], f[:, :4])
    with pytest.raises(RuntimeError):
        phonopy_qha(*four)
    with pytest.raises(ValueError, match="at least 5") as info:
        quasi_harmonic(QHAInputs(four[0], four[1], t, four[5], four[4], four[3]))
    assert "\n" not in str(info.value)

    steep = energies + 40.0 * (volumes - volumes.mean()) ** 2
    with pytest.raises(RuntimeError):
        phonopy_qha(volumes, steep, t, cv, s, f, eos="vinet")
    with pytest.raises(EOSFitError) as info:
        quasi_harmonic(QHAInputs(volumes, steep, t, f, s, cv), eos="vinet")
    assert "\n" not in str(info.value)

    v = np.linspace(40.0, 50.0, 7)
    for eos in EOS_NAMES:
        for curvature in (0.0, 0.01, 1.0, 20.0, 50.0, 200.0):
            for skew in (0.0, -0.01):
                e = -27 + curvature * (v - 45) ** 2 + skew * (v - 45) ** 3 + 0.1 * (v - 45)
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        expected = fit_to_eos(v, e, get_eos(eos))
                except RuntimeError:
                    expected = None
                try:
                    got = fit_eos(v, e, eos).as_array()
                except EOSFitError:
                    got = None
                assert (expected is None) == (got is None), (eos, curvature, skew)
                if got is not None:
                    assert max_relative(expected, got) <= TOL


def test_cli_refuses_bad_input_in_one_line(qha_case, tmp_path, capsys):
    folder, volumes, energies, paths, _ = qha_case
    ev = str(folder / "e-v.dat")
    yamls = [str(p) for p in paths]
    bad_t = tmp_path / "thermal_properties.yaml-bad"
    bad_t.write_text(paths[0].read_text().replace("temperature:        10.0000000",
                                                  "temperature:        15.0000000"))
    evil = tmp_path / "thermal_properties.yaml-evil"
    evil.write_text('pwn: !!python/object/apply:os.system ["touch PWNED"]\n'
                    + paths[0].read_text())
    unsorted = tmp_path / "e-v-unsorted.dat"
    lines = (folder / "e-v.dat").read_text().splitlines()
    unsorted.write_text("\n".join([lines[0], lines[2], lines[1]] + lines[3:]) + "\n")
    cases = [
        ([ev, *yamls[:-1]], "10 thermal_properties.yaml files for the 11 volumes"),
        ([ev, *yamls[:-1], str(tmp_path / "missing.yaml")], "missing.yaml: file not found"),
        ([ev, *yamls[:-1], str(bad_t)], "temperatures"),
        ([ev, *yamls[:-1], str(evil)], "would run code"),
        ([str(unsorted), *yamls], "not strictly monotonic"),
        ([str(tmp_path / "none.dat"), *yamls], "none.dat: file not found"),
    ]
    for argv, expected in cases:
        assert main([*argv, "--out", str(tmp_path / "out"), "--no-plot"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0], (expected, err)
    assert not (tmp_path / "PWNED").exists()
    with pytest.raises(SystemExit) as bad:
        main([ev, *yamls, "--eos", "bm3"])
    assert bad.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_differentiable_path(qha_case):
    """``quasi_harmonic_jax``, batched over two materials (jax.vmap), against two PhonopyQHA
    runs; its gradient against phonopy's results under finite changes of the energies."""
    import jax
    import jax.numpy as jnp

    import phonjax
    from phonjax.qha.differentiable import quasi_harmonic_jax

    folder, volumes, energies, paths, (t, cv, s, f, *_) = qha_case
    t, cv, s, f = t[:41], cv[:41], s[:41], f[:41]  # 0–400 K
    batch = np.stack([energies, energies + 0.004 * (volumes - volumes.mean()) ** 2])
    refs = [phonopy_qha(volumes, e, t, cv, s, f, pressure=1.0) for e in batch]
    fields = [field for _, field in PROPERTIES]

    def run(e, method="minpack"):
        r = quasi_harmonic_jax(QHAInputs(volumes, e, t, f, s, cv), pressure_GPa=1.0,
                               method=method)
        return {k: getattr(r, k) for k in fields}

    with phonjax.float64():
        got = jax.vmap(run)(jnp.asarray(batch))
        # measured ≤ 3.1e-10 (Cp numerical), ≤ 1e-13 elsewhere; the contract bounds it
        for k, ref in enumerate(refs):
            for prop, field in PROPERTIES:
                assert max_relative(getattr(ref, prop), got[field][k]) <= TOL, prop

        # d V(300 K) / d E(V_j): the implicit derivative against phonopy's own V(300 K)
        # under changes of E(V_j), by the 4-point stencil (h = 2e-4 eV; phonopy's values move
        # by ~2e-8 relative with the last bits of its input, which limits the comparison)
        grad = np.asarray(jax.grad(lambda e: run(e)["equilibrium_volumes_A3"][30])(
            jnp.asarray(energies)))

    def v300(j, step):
        e = energies.copy()
        e[j] += step
        return phonopy_qha(volumes, e, t, cv, s, f, pressure=1.0).volume_temperature[30]

    h = 2e-4
    fd = np.array([(8 * (v300(j, h) - v300(j, -h)) - (v300(j, 2 * h) - v300(j, -2 * h)))
                   / (12 * h) for j in range(N_VOLUMES)])
    # measured 6e-5 relative to the largest component
    assert np.max(np.abs(grad - fd)) <= 1e-3 * np.max(np.abs(fd))


@pytest.mark.slow  # 9 s: the on-device fit is the secondary method
def test_device_fit_reaches_the_least_squares_minimum(qha_case):
    """The "lm" fit (jax.numpy on the device) against phonopy: the same minimum up to
    MINPACK's stopping point (measured 2.7e-7 relative in V(T), 8.4e-6 in B(T), 1.1e-9 in
    G(T); Cp from second differences of G: 1.2e-3, not compared)."""
    import phonjax
    from phonjax.qha.differentiable import quasi_harmonic_jax

    folder, volumes, energies, paths, (t, cv, s, f, *_) = qha_case
    ref = phonopy_qha(volumes, energies, t, cv, s, f)
    with phonjax.float64():
        got = quasi_harmonic_jax(QHAInputs(volumes, energies, t, f, s, cv), method="lm")
    assert max_relative(ref.volume_temperature, got.equilibrium_volumes_A3) <= 3e-5
    assert max_relative(ref.gibbs_temperature, got.gibbs_eV) <= 1e-7
    assert max_relative(ref.bulk_modulus_temperature, got.bulk_modulus_GPa) <= 1e-3

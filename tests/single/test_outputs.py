"""``phonjax run``'s results folder: a re-run replaces each crystal's folder whole (nothing
stale left from an earlier run), names stay inside --out, an unusable --out stops the run
before any work, and a write that fails half-way leaves the previous complete folder and no
0-byte files. Toy numpy models (tests/bench/fakes.py) and a sample force-set file keep it fast.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from phonjax.atomic_write import LEFTOVER, replace_file
from phonjax.single.cli import main
from phonjax.single.inputs import safe_name
from tests.conftest import sample_path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SI_TOY = [EXAMPLES / "Si.cif", "--supercell", "1", "1", "1", "--band-points", "11",
          "--temperatures", "0", "300", "100"]


@pytest.fixture(autouse=True)
def _toy_models():
    import tests.bench.fakes  # noqa: F401  registers the "toy" family


def run(args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def files(folder: Path) -> dict[str, bytes]:
    """Every file under folder: relative path -> content."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def no_debris(folder: Path) -> None:
    """No 0-byte file and no temporary name anywhere under folder."""
    for p in folder.rglob("*"):
        assert not LEFTOVER.match(p.name), p
        assert not p.is_file() or p.stat().st_size > 0, p


def test_rerun_leaves_exactly_the_new_runs_files(tmp_path, capsys):
    """Two models with plots and relaxation, then one model, no plots, no relaxation, another
    mesh: the crystal folder then holds what the second run alone writes (no stale PNGs,
    relaxed.cif, comparison files, other model folder or modulated structures)."""
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    code, _, err = run([*SI_TOY, "--model", "toy:morse", "--model", "toy:nan", "--mesh", "6",
                        "--out", out], capsys)
    assert code == 1, err  # toy:nan fails by design
    first = files(out)
    assert {"Si/comparison.csv", "Si/comparison.png", "Si/toy_nan/summary.json",
            "Si/toy_morse/relaxed.cif", "Si/toy_morse/thermal.png"} <= set(first)
    (out / "other").mkdir()  # another crystal's folder is not touched
    (out / "other" / "keep.txt").write_text("mine")
    second = [*SI_TOY, "--model", "toy:morse", "--no-plots", "--no-relax", "--mesh", "4"]
    assert run([*second, "--out", out], capsys)[0] == 0
    assert run([*second, "--out", fresh], capsys)[0] == 0
    now = files(out / "Si")
    assert set(now) == set(files(fresh / "Si"))  # what a run into an empty folder writes
    assert not any(f.endswith(".png") or f.startswith("toy_nan") or f.startswith("comparison")
                   or f.endswith("relaxed.cif") for f in now)
    modes = json.loads(now["toy_morse/imaginary_modes.json"])
    listed = {"toy_morse/" + m["file"] for m in modes["modulated_structures"]}
    assert {f for f in now if "/modulated/" in f} == listed
    assert json.loads(now["toy_morse/summary.json"])["mesh"]["mesh"] == [4, 4, 4]
    assert (out / "other" / "keep.txt").read_text() == "mine"
    no_debris(out)


def test_interrupted_write_keeps_the_previous_folder(tmp_path, capsys, monkeypatch):
    """A PNG write that dies half-way (the file opened, nothing written, then an error, as a
    full disk or a kill would leave it): the crystal's previous complete folder stays as it
    was, byte for byte, and no 0-byte or temporary file is left."""
    import matplotlib.figure

    out = tmp_path / "out"
    assert run([*SI_TOY, "--model", "toy:morse", "--mesh", "4", "--out", out], capsys)[0] == 0
    before = files(out)
    real = matplotlib.figure.Figure.savefig

    def dies(self, fname, *args, **kwargs):
        if str(fname).endswith("thermal.png"):
            open(fname, "wb").close()
            raise OSError(28, "No space left on device")
        return real(self, fname, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", dies)
    code, out_text, err = run([*SI_TOY, "--model", "toy:morse", "--mesh", "6", "--no-relax",
                               "--out", out], capsys)
    assert files(out) == before
    no_debris(out)
    assert code == 1 and "output failed" in out_text and "previous files are kept" in out_text


def test_file_named_dots_writes_only_inside_out(tmp_path, capsys):
    """``...yaml.xz`` once named the crystal ``..`` and wrote to OUT/../dft."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(sample_path("mp-1000"), src / "...yaml.xz")
    out = tmp_path / "a" / "inner"
    code, _, err = run([src / "...yaml.xz", "--no-plots", "--mesh", "4", "--band-points", "11",
                        "--out", out], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["inner"]
    assert [p.name for p in out.iterdir()] == ["___yaml.xz"]
    assert (out / "___yaml.xz" / "dft" / "summary.json").is_file()


@pytest.mark.parametrize("name, expected", [("..", "___yaml.xz"), (".", "___yaml.xz"),
                                            ("", "___yaml.xz"), ("a/b", "a_b"),
                                            ("../../etc", ".._.._etc"), ("Si", "Si")])
def test_safe_name(name, expected):
    assert safe_name(name, "x/...yaml.xz") == expected


def one_line(err: str) -> str:
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_unusable_out_fails_before_any_work(tmp_path, capsys, monkeypatch):
    """--out a file, under a file, or a folder OUT/NAME that phonjax did not write: one line,
    status 2, before any model or relaxation work (and the user's folder untouched)."""
    from phonjax.single.phonons import Phonons

    def no_work(*args, **kwargs):
        raise AssertionError("model work started")

    monkeypatch.setattr(Phonons, "run_all", staticmethod(no_work))
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out, message in ((afile, "is a file, not a folder"),
                         (afile / "sub", "cannot write to --out")):
        code, _, err = run([EXAMPLES / "Si.cif", "--model", "chgnet", "--out", out], capsys)
        assert code == 2 and message in one_line(err), err
    mine = tmp_path / "out" / "Si"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("mine")
    code, _, err = run([EXAMPLES / "Si.cif", "--model", "toy:morse", "--out", tmp_path / "out"],
                       capsys)
    assert code == 2 and "was not written by phonjax run" in one_line(err), err
    assert (mine / "notes.txt").read_text() == "mine"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_out_fails_fast(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code, _, err = run([EXAMPLES / "Si.cif", "--model", "toy:morse", "--out", ro], capsys)
    finally:
        ro.chmod(0o755)
    assert code == 2 and "cannot write to --out" in one_line(err), err


def test_replace_file_keeps_old_content_when_the_writer_fails(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("old\n")

    def half(tmp):
        tmp.write_text("ne")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        replace_file(path, half)
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["table.csv"]
    replace_file(path, lambda tmp: tmp.write_text("new\n"))
    assert path.read_text() == "new\n" and [p.name for p in tmp_path.iterdir()] == ["table.csv"]


def test_bench_figure_that_fails_keeps_the_previous_png(tmp_path, monkeypatch):
    """``bench report``'s figures: a PNG write that dies half-way leaves the previous PNG."""
    import matplotlib.figure
    import pandas as pd

    from phonjax.bench.figures import dataset_figures

    ref = pd.DataFrame({"material_id": ["mp-1", "mp-2"], "crystal_system": ["cubic", "cubic"],
                        "elements": ["Na Cl", "Mg O"], "n_atoms_unitcell": [2, 2]})
    written = dataset_figures(ref, tmp_path, "s")
    assert len(written) == 3
    before = files(tmp_path)
    real = matplotlib.figure.Figure.savefig

    def dies(self, fname, *args, **kwargs):
        if "periodic_table" in str(fname):
            open(fname, "wb").close()
            raise OSError(28, "No space left on device")
        return real(self, fname, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", dies)
    with pytest.raises(OSError):
        dataset_figures(ref.assign(elements=["K Br", "Li F"]), tmp_path, "s")
    assert files(tmp_path)["s.dataset.periodic_table.png"] == before["s.dataset.periodic_table.png"]
    no_debris(tmp_path)

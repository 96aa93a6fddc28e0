"""Tables and figures rebuilt from a store without recomputing; CLI error handling."""

from __future__ import annotations

import lzma

import pandas as pd
import pytest

from phonjax.bench.cli import main
from phonjax.bench.figures import table_position
from tests.bench.conftest import FAST_ARGS


def test_periodic_table_positions():
    assert table_position(1) == (0, 0) and table_position(2) == (0, 17)
    assert table_position(8) == (1, 15) and table_position(26) == (3, 7)
    assert table_position(57) == (7, 2) and table_position(72) == (5, 3)
    assert table_position(92) == (8, 5) and table_position(118) == (6, 17)


def test_report_from_store_and_bad_inputs(small_files, tmp_path, capsys):
    corrupt = tmp_path / "mp-999.yaml.xz"
    corrupt.write_bytes(lzma.compress(b"this: [is not, a phonon file"))
    args = ["--plugin", "tests.bench.fakes", "--model", "toy:morse", "--dataset",
            small_files[0], str(corrupt), "--dataset-label", "small", "--out", str(tmp_path / "r"),
            "--no-progress", *FAST_ARGS]
    assert main(args) == 1  # an unreadable input is reported, skipped, and not success
    err = capsys.readouterr().err
    assert "mp-999" in err
    out = tmp_path / "r"
    tables = sorted(p.name for p in (out / "tables").glob("*.csv"))
    assert len(tables) == 4  # Tables I-III and the reference under both Γ rules
    t2 = pd.read_csv(next((out / "tables").glob("*.table2.csv")))
    assert list(t2["model"]) == ["toy:morse"]
    figures = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert any("errors_violin" in f for f in figures) and any("periodic_table" in f for f in figures)
    for f in (out / "figures").glob("*.png"):
        f.unlink()
    (out / "tables" / t2.columns[0]).unlink(missing_ok=True)
    assert main(["report", "--out", str(out)]) == 0  # rebuilt from the store alone
    assert len(list((out / "figures").glob("*.png"))) == len(figures)
    pm = pd.read_csv(next(out.glob("*.per_material.csv")))
    assert set(pm["material_id"]) == {"mp-1000"}


@pytest.mark.parametrize("bad", [["--set", "nope=1"], ["--model", "no-such-model"],
                                 ["--dataset", "/nonexistent/folder"], ["--limit", "0"],
                                 ["--shard", "3/2"], ["--executor", "dask"]])
def test_bad_options_exit_2(bad, tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--plugin", "tests.bench.fakes", *bad]) == 2
    assert "error" in capsys.readouterr().err


def test_reference_against_another_reference(small_files, tmp_path, capsys):
    """The paper's PBEsol-vs-PBE row: phonondb (PBEsol) Cv scored against the PBE binaries'
    Cv for the materials both have (--reference-only, then --compare-to)."""
    import gzip
    import json

    from tests.bench.conftest import ROOT, SMALL

    path = ROOT.parent / "shared" / "data" / "alexandria-pbe" / "binaries-cv300.json.gz"
    if not path.is_file():
        pytest.skip("shared alexandria-pbe binaries not found")
    binaries = json.load(gzip.open(path))
    few = [e for e in binaries if e["mp_id"] in SMALL[:2]]
    assert len(few) == 2
    pbe = tmp_path / "pbe-few.json"
    pbe.write_text(json.dumps(few))
    out = str(tmp_path / "r")
    common = ["--reference-only", "--out", out, "--no-progress", "--no-figures", *FAST_ARGS]
    assert main(["--dataset", *small_files, "--dataset-label", "pbesol", *common]) == 0
    assert main(["--dataset", str(pbe), "--dataset-label", "pbe", *common]) == 0
    assert main(["report", "--out", out, "--dataset-label", "pbesol", "--compare-to", "pbe",
                 "--no-figures"]) == 0
    t2 = pd.read_csv(next((tmp_path / "r" / "tables").glob("pbesol.*.table2.csv")))
    row = t2[t2["model"] == "pbesol vs pbe"].iloc[0]
    cv = row[[c for c in t2.columns if c.startswith("MAE C_V")][0]]
    # two DFT functionals near Dulong-Petit at 300 K: close, not equal; a per-cell vs
    # per-primitive-cell mix-up would be off by tens of J/K/mol
    assert 0 < cv < 2.0 and row["n"] == 2
    assert main(["--reference-only", "--model", "toy:morse", "--out", out]) == 2

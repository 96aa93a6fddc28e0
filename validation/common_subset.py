"""Models scored on the materials that all of them finished, from a bench results folder.

`bench report` scores each model on its own rows; while a run is still going (or was
stopped), models have finished different numbers of materials. This prints Tables I–III
columns on the common subset (through the report's own ``scoring.summary``), the median,
mean signed and median relative errors, and each model's wall time per material over the
rows that store ``wall_seconds`` (rows from before phonjax 44159ae have none; 1d76d0a's
version of this script timed those by the store's row timestamps, right only for one
uninterrupted run).

    .venv/bin/python validation/common_subset.py runs/phonondb phonondb-pbesol
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from phonjax.bench.scoring import PROPERTIES, STRUCTURE, summary

PROPS = tuple(name for name, _, _ in STRUCTURE[1:]) + tuple(name for name, *_ in PROPERTIES)
COLUMNS = (["n", "failed_pct"] + [title for _, title, _ in STRUCTURE[1:]]
           + [f"MAE {title}" for _, title, _, _ in PROPERTIES]
           + ["TS (%)", "FU (%)", "TU (%)", "FS (%)"])


def main(folder: str, dataset: str, protocol: str = "loew2024@v1") -> None:
    d = pd.read_csv(Path(folder) / f"{dataset}.{protocol}.per_material.csv")
    models = sorted(set(d.model))
    common = set.intersection(*(set(d[d.model == m].material_id) for m in models))
    print(f"{len(common)} materials finished by all of {', '.join(models)}")
    print("| model | " + " | ".join(COLUMNS) + " |")
    for m in models:
        x = d[(d.model == m) & d.material_id.isin(common)]
        row = summary(x, m)  # the report's own Tables I-III, on the common subset
        print(f"| {m} | " + " | ".join(str(row[c]) if isinstance(row[c], int) else f"{row[c]:.3f}"
                                       for c in COLUMNS) + " |")
        err = {p: x[p + "_err"] for p in PROPS}
        print("  median |err| " + ", ".join(f"{p} {e.abs().median():.2f}" for p, e in err.items()))
        print("  mean signed  " + ", ".join(f"{p} {e.mean():.2f}" for p, e in err.items()))
        print("  median |err|/|ref| % " + ", ".join(
            f"{p} {100 * (e / x[p + '_ref']).abs().median():.1f}" for p, e in err.items()))
        print(f"  omega_max too low in {100 * (x.omega_max_K_err < 0).mean():.0f} % of them")
    for m in models:
        w = pd.to_numeric(d[d.model == m].get("wall_seconds"), errors="coerce").dropna()
        if len(w):
            print(f"{m}: {w.mean():.1f} s wall per material over the {len(w)} rows that store "
                  f"their chunk's wall time")


if __name__ == "__main__":
    main(*sys.argv[1:])

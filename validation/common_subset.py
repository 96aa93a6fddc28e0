"""Models scored on the materials that all of them finished, from a bench results folder.

`bench report` scores each model on its own rows; while a run is still going (or was
stopped), models have finished different numbers of materials. This prints Tables I–III
columns on the common subset, the median and mean signed errors, and each model's wall
time per material (from the rows' ``wall_seconds``, and from the store's row timestamps:
a model's span from the end of the model before it).

    .venv/bin/python validation/common_subset.py runs/phonondb phonondb-pbesol
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pandas as pd

PROPS = ("volume_A3_per_atom", "omega_max_K", "entropy_JKmol", "free_energy_kJmol",
         "heat_capacity_JKmol")


def main(folder: str, dataset: str, protocol: str = "loew2024@v1") -> None:
    d = pd.read_csv(Path(folder) / f"{dataset}.{protocol}.per_material.csv")
    models = sorted(set(d.model))
    common = set.intersection(*(set(d[d.model == m].material_id) for m in models))
    print(f"{len(common)} materials finished by all of {', '.join(models)}")
    print("| model | n | failed | " + " | ".join(f"MAE {p}" for p in PROPS)
          + " | TS | FU | TU | FS (%) |")
    for m in models:
        x = d[(d.model == m) & d.material_id.isin(common)]
        sp, sr = x.stable_pred.astype(str) == "True", x.stable_ref.astype(str) == "True"
        conf = [(sp & sr), (~sp & sr), (~sp & ~sr), (sp & ~sr)]
        print(f"| {m} | {len(x)} | {(x.status == 'failed').sum()} | "
              + " | ".join(f"{x[f'{p}_err'].abs().mean():.3f}" for p in PROPS) + " | "
              + " | ".join(f"{100 * c.sum() / len(x):.1f}" for c in conf) + " |")
        err = {p: x[p + "_err"] for p in PROPS}
        print("  median |err| " + ", ".join(f"{p} {e.abs().median():.2f}" for p, e in err.items()))
        print("  mean signed  " + ", ".join(f"{p} {e.mean():.2f}" for p, e in err.items()))
    for m in models:
        x = d[d.model == m]
        print(f"{m}: omega_max too low in {100 * (x.omega_max_K_err < 0).mean():.0f} % "
              f"of its {len(x)} materials")
    timed = set()
    for m in models:
        w = pd.to_numeric(d[d.model == m].get("wall_seconds"), errors="coerce").dropna()
        if len(w):
            timed.add(m)
            print(f"{m}: {w.mean():.1f} s wall per material over the {len(w)} rows that store "
                  f"their chunk's wall time")
    # models whose rows all predate wall_seconds: a model's span from the end of the model
    # before it (right only for one uninterrupted run)
    with sqlite3.connect(Path(folder) / "bench.sqlite") as db:
        spans = db.execute("select model, count(*), min(created_unix), max(created_unix) from "
                           "results where dataset = ? and protocol = ? group by model "
                           "order by max(created_unix)", (dataset, protocol)).fetchall()
    for (model, n, _, end), (_, _, _, before) in zip(spans[1:], spans[:-1]):
        if model not in timed:
            print(f"{model}: {n} materials, {end - before:.0f} s wall, "
                  f"{(end - before) / n:.1f} s each")


if __name__ == "__main__":
    main(*sys.argv[1:])

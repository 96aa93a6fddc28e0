"""Tables (rich, CSV, Markdown), per-material results (CSV, Parquet) and figures, from the store.

Nothing is recomputed: ``build`` reads the rows of one dataset and protocol,
scores every model against the dataset's reference (``dft``), optionally a
reference against another dataset's reference (the paper's PBEsol-vs-PBE
row), and writes everything under ``out``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from phonjax.atomic_write import remove_leftovers, replace_file, write_text
from phonjax.bench import REFERENCE_MODEL
from phonjax.bench.scoring import compare, reference_rules, summary, tables
from phonjax.bench.store import Store

TITLES = {"table1": "Table I — failures and structure (vs reference)",
          "table2": "Table II — MAE of phonon properties at 300 K (per mole of primitive cells)",
          "table3": "Table III — dynamical stability confusion matrix (%), under both Γ "
                    "acoustic rules (changed: materials whose verdict the rule changes)",
          "rules": "Reference stability under both Γ acoustic rules (smallest: the three Γ "
                   "modes of smallest magnitude are acoustic; lowest: the three lowest)"}


def _fmt(value) -> str:
    if isinstance(value, (float, np.floating)):
        return "—" if not np.isfinite(value) else f"{value:.3f}"
    return str(value)


def markdown(df: pd.DataFrame) -> str:
    def cell(text) -> str:  # a "|" inside a cell would end it
        return str(text).replace("|", "\\|")

    cols = list(df.columns)
    lines = ["| " + " | ".join(cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(_fmt(v)) for v in row) + " |"
              for row in df.itertuples(index=False)]
    return "\n".join(lines)


def rich_table(df: pd.DataFrame, title: str):
    """Fits 80 columns on a terminal (long titles wrap, values fold, never '…')."""
    from rich.table import Table

    from phonjax.terminal import fit_table

    t = Table(title=title)
    for c in df.columns:
        if c == "model":  # names are the rows' identity: never cut them, wrap the numbers' titles
            t.add_column(str(c), justify="left", no_wrap=True, min_width=len(str(c)))
        else:
            t.add_column(str(c), justify="right")
    for row in df.itertuples(index=False):
        t.add_row(*(_fmt(v) for v in row))
    return fit_table(t)


def build(store: Store, dataset: str, protocol: str, out: Path, *,
          cross: list[tuple[str, str]] = (), figures: bool = True, console=None) -> dict:
    """Score, write and (with ``console``) print. Returns the tables and the comparisons."""
    out = Path(out)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    for folder in (out, out / "tables", out / "figures"):  # temporary files of a killed report
        remove_leftovers(folder)
    rows = store.frame(dataset, protocol)
    if rows.empty:
        raise ValueError(f"no results in {store.path} for dataset {dataset!r}, protocol {protocol!r}")
    ref = rows[rows["model"] == REFERENCE_MODEL]
    comparisons: dict[str, pd.DataFrame] = {}
    for model in sorted(set(rows["model"]) - {REFERENCE_MODEL}):
        comparisons[model] = compare(rows[rows["model"] == model], ref)
    everything = store.frame()
    for pred_ds, ref_ds in cross:  # a reference scored against another one
        p = everything[(everything["dataset"] == pred_ds) & (everything["model"] == REFERENCE_MODEL)]
        r = everything[(everything["dataset"] == ref_ds) & (everything["model"] == REFERENCE_MODEL)]
        if p.empty or r.empty:
            raise ValueError(f"no reference rows for {pred_ds if p.empty else ref_ds} in the store")
        p = p.drop_duplicates("material_id")
        r = r.drop_duplicates("material_id")
        p = p[p["material_id"].isin(r["material_id"])]
        comparisons[f"{pred_ds} vs {ref_ds}"] = compare(p, r)
    result = tables([summary(c, label) for label, c in comparisons.items()])
    if not ref.empty:
        result["rules"] = pd.DataFrame([reference_rules(ref, dataset)])
    stem = f"{dataset}.{protocol}".replace("/", "_")
    md = [f"# phonjax bench — dataset `{dataset}`, protocol `{protocol}`\n"]
    for key, df in result.items():
        if df.empty:  # e.g. Tables I-III of a reference-only run
            continue
        replace_file(out / "tables" / f"{stem}.{key}.csv",
                     lambda tmp, df=df: df.to_csv(tmp, index=False))
        md += [f"## {TITLES[key]}\n", markdown(df), ""]
        if console is not None:
            console.print(rich_table(df, TITLES[key]))
    write_text(out / "tables" / f"{stem}.md", "\n".join(md))
    per_material = pd.concat([c.assign(model=label) for label, c in comparisons.items()],
                             ignore_index=True) if comparisons else pd.DataFrame()
    replace_file(out / f"{stem}.per_material.csv",
                 lambda tmp: per_material.to_csv(tmp, index=False))
    replace_file(out / f"{stem}.rows.csv",
                 lambda tmp: rows.drop(columns=["meta"]).to_csv(tmp, index=False))
    try:
        typed = per_material.astype({c: str for c in ("stable_pred", "stable_ref")
                                     if c in per_material})
        replace_file(out / f"{stem}.per_material.parquet",
                     lambda tmp: typed.to_parquet(tmp, index=False))
    except Exception:  # pyarrow missing: CSV is enough
        pass
    written = []
    if figures:
        from phonjax.bench import figures as figs

        written = figs.all_figures(comparisons, ref, out / "figures", stem)
    return {"tables": result, "comparisons": comparisons, "figures": written,
            "markdown": out / "tables" / f"{stem}.md"}

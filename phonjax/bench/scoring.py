"""Scores of predictions against a reference: the paper's Tables I, II and III.

Pure pandas on store rows. Table III is given under both Γ acoustic rules (the three
modes of smallest |ν|, the paper's text; the three lowest, the published code's), with
the number of materials whose verdict the rule changes; rows stored before both
verdicts were kept have the "smallest" verdict only. ``compare`` pairs a model's rows with reference
rows by material id; extensive phonon quantities (F, S, Cv) are per mole of
the row's ``n_primitive`` atoms-cell, so the reference is rescaled by
n_primitive(pred)/n_primitive(ref) when the two cells differ (e.g. the PBE
binaries JSON is per mole of its own structure). Table I counts failures over
all attempted materials and gives the wall time per material; Tables II/III use
materials where both succeeded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# (column, label in tables, scale to display unit, is extensive per primitive cell)
PROPERTIES = (
    ("omega_max_K", "ω_max (K)", 1.0, False),
    ("entropy_JKmol", "S (J/K/mol)", 1.0, True),
    ("free_energy_kJmol", "F (kJ/mol)", 1.0, True),
    ("heat_capacity_JKmol", "C_V (J/K/mol)", 1.0, True),
)
STRUCTURE = (("energy_eV_per_atom", "MAE E (meV/atom)", 1000.0),
             ("volume_A3_per_atom", "MAE V (Å³/atom)", 1.0))


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(df[name], errors="coerce") if name in df else pd.Series(np.nan, df.index)


def compare(pred: pd.DataFrame, ref: pd.DataFrame) -> pd.DataFrame:
    """One row per material of ``pred`` with pred/ref values and errors (pred − ref)."""
    p = pred.set_index("material_id")
    r = ref[ref["status"] == "ok"].set_index("material_id").reindex(p.index)
    out = pd.DataFrame(index=p.index)
    out["status"] = p["status"]
    # the material's share of its chunk's wall time (rows stored before 44159ae lack it)
    # and its own seconds, which overlap between lanes and lock-steps (an upper bound)
    out["wall_seconds"] = _col(p, "wall_seconds")
    out["seconds"] = _col(p, "seconds")
    out["has_ref"] = r["status"].eq("ok")
    for extra in ("formula", "crystal_system", "elements", "n_atoms_unitcell"):
        out[extra] = p[extra] if extra in p else (r[extra] if extra in r else None)
    n_pred, n_ref = _col(p, "n_primitive"), _col(r, "n_primitive")
    ratio = (n_pred / n_ref).where(n_ref > 0)
    for name, _, _, extensive in PROPERTIES:
        ref_value = _col(r, name) * (ratio if extensive else 1.0)
        out[f"{name}_pred"] = _col(p, name).where(out["status"] == "ok")
        out[f"{name}_ref"] = ref_value
        out[f"{name}_err"] = out[f"{name}_pred"] - ref_value
    for name, _, _ in STRUCTURE:
        out[f"{name}_pred"] = _col(p, name).where(out["status"] == "ok")
        out[f"{name}_ref"] = _col(r, name)
        out[f"{name}_err"] = out[f"{name}_pred"] - out[f"{name}_ref"]
    stable_p = p["stable"] if "stable" in p else pd.Series(None, p.index)
    stable_r = r["stable"] if "stable" in r else pd.Series(None, p.index)
    out["stable_pred"] = stable_p.where(out["status"] == "ok")
    out["stable_ref"] = stable_r
    for rule in RULES:
        out[f"stable_{rule}_pred"] = _verdicts(p, rule).where(out["status"] == "ok")
        out[f"stable_{rule}_ref"] = _verdicts(r, rule)
    return out.reset_index()


RULES = ("smallest", "lowest")  # the Γ acoustic rules, phonjax.harmonic.stability's acoustic_modes


def _verdicts(rows: pd.DataFrame, rule: str) -> pd.Series:
    """Stability of ``rows`` under ``rule``: its stored verdict; for rows stored before
    both were kept, ``stable`` for "smallest" (every such row used it) and None else."""
    col = f"stable_{rule}"
    have = rows[col] if col in rows else pd.Series(None, rows.index, dtype=object)
    if rule == "smallest" and "stable" in rows:
        have = have.where(have.notna(), rows["stable"])
    return have.astype(object).where(have.notna(), None)


def confusion(pred: pd.Series, ref: pd.Series) -> dict:
    """TS/FU/TU/FS (%) and n over the materials with both verdicts."""
    both = pred.notna() & ref.notna()
    sp, sr = pred[both].astype(bool), ref[both].astype(bool)
    m = int(both.sum())
    row = {f"{key} (%)": 100.0 * int(mask.sum()) / m if m else float("nan")
           for key, mask in (("TS", sp & sr), ("FU", ~sp & sr), ("TU", ~sp & ~sr),
                             ("FS", sp & ~sr))}
    row["n"] = m
    return row


def rule_changes(a: pd.Series, b: pd.Series) -> int:
    """Materials whose verdict differs between two rules (where both are known)."""
    both = a.notna() & b.notna()
    return int((a[both].astype(bool) != b[both].astype(bool)).sum())


def _mae(series: pd.Series) -> float:
    s = series.dropna()
    return float(s.abs().mean()) if len(s) else float("nan")


def summary(cmp: pd.DataFrame, label: str) -> dict:
    """Tables I, II and III of one prediction set as one flat dict."""
    n = len(cmp)
    failed = int((cmp["status"] == "failed").sum())
    row = {"model": label, "n": n, "failed_pct": 100.0 * failed / n if n else float("nan")}
    # wall seconds per attempted material (a run of n materials took about n times this),
    # over the rows that carry it; a store with none of them falls back to the rows' own
    # seconds, since mixing the two would let the overlapping ones inflate the mean
    wall = cmp["wall_seconds"] if "wall_seconds" in cmp else pd.Series(dtype=float)
    row["time (s/material)"] = float(wall.mean() if wall.notna().any() else cmp["seconds"].mean())
    for name, title, scale in STRUCTURE:
        row[title] = _mae(cmp[f"{name}_err"]) * scale
    for name, title, scale, _ in PROPERTIES:
        row[f"MAE {title}"] = _mae(cmp[f"{name}_err"]) * scale
        row[f"n {name}"] = int(cmp[f"{name}_err"].notna().sum())
    # Table II's n: materials with any property compared (a Cv-only reference has no ω_max)
    row["n properties"] = int(cmp[[f"{name}_err" for name, _, _, _ in PROPERTIES]].notna()
                              .any(axis=1).sum())
    own = confusion(cmp["stable_pred"], cmp["stable_ref"])
    row.update({k: v for k, v in own.items() if k != "n"})
    row["n stability"] = own["n"]
    def verdicts(name):  # per-material files written before both rules were kept lack them
        return cmp[name] if name in cmp else pd.Series(None, cmp.index, dtype=object)

    for rule in RULES:
        row[f"rule {rule}"] = confusion(verdicts(f"stable_{rule}_pred"),
                                        verdicts(f"stable_{rule}_ref"))
    for side in ("pred", "ref"):
        row[f"rule changes {side}"] = rule_changes(verdicts(f"stable_smallest_{side}"),
                                                   verdicts(f"stable_lowest_{side}"))
    return row


def tables(summaries: list[dict]) -> dict[str, pd.DataFrame]:
    df = pd.DataFrame(summaries)
    if df.empty:
        return {"table1": df, "table2": df, "table3": df}
    t1 = df[["model", "n", "failed_pct"] + [t for _, t, _ in STRUCTURE]
            + ["time (s/material)"]].rename(
        columns={"failed_pct": "Failed (%)"})
    t2 = df[["model"] + [f"MAE {t}" for _, t, _, _ in PROPERTIES] + ["n properties"]].rename(
        columns={"n properties": "n"})
    t3 = pd.DataFrame([{"model": s["model"], "Γ rule": rule, **s[f"rule {rule}"],
                        "changed (model)": s["rule changes pred"],
                        "changed (ref)": s["rule changes ref"]}
                       for s in summaries for rule in RULES])
    return {"table1": t1, "table2": t2, "table3": t3}


def reference_rules(ref: pd.DataFrame, label: str) -> dict:
    """A reference's stability under both Γ rules: counts and the materials that differ."""
    ok = ref[ref["status"] == "ok"].set_index("material_id")
    a, b = _verdicts(ok, "smallest"), _verdicts(ok, "lowest")
    both = a.notna() & b.notna()
    differ = sorted(ok.index[both][a[both].astype(bool) != b[both].astype(bool)])
    return {"reference": label, "n": int(both.sum()),
            "stable (smallest)": int(a[both].astype(bool).sum()),
            "stable (lowest)": int(b[both].astype(bool).sum()),
            "differ": len(differ), "materials that differ": " ".join(differ)}

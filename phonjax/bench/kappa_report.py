"""Tables and figures of the κ benchmark from the store: each model's rows scored against the
DFT reference (``bench.kappa_metrics``) at the reference's temperature (300 K).

``build(store, dataset, protocol_key, out, ...)`` writes into ``out/kappa-<protocol>/``:

* ``summary.md`` and ``summary.csv``: per model κ_SRME, κ_SRE, κ_SRD, failures (censored:
  imaginary modes, broken symmetry, no κ) and their rate, the imaginary-mode rate, the mean
  spectrum distance W1, the materials scored and the wall time per material;
* ``per_material.csv``: per model and material κ̄ predicted and DFT, SRD, SRE, SRME, W1,
  status and reason, the relaxation's space groups, the wall time;
* ``figures/kappa_parity.png`` (predicted vs DFT κ̄ on log axes, by structure type, censored
  materials marked on the axis) and ``figures/kappa_srme_by_structure.png``.

Scores are for the materials in the store: the benchmark's number is over all 103, which
the summary states with the count. Rows whose q-points differ from the reference's (another
mesh or cell) are scored without SRME (censored, with that reason).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from phonjax.bench import REFERENCE_MODEL


def _same_qpoints(row: dict, ref) -> bool:
    q = np.asarray(row.get("qpoints") or [], float)
    if q.shape != ref.qpoints.shape:
        return False
    d = q - ref.qpoints
    return bool(np.abs(d - np.rint(d)).max() < 1e-6)


def score_row(row: dict, ref, t_index: int = 0):
    """``kappa_metrics.KappaScore`` of one stored row against its ``KappaReference``."""
    from phonjax.bench.kappa_metrics import score_material

    gate, relax = row.get("gate") or {}, row.get("relax") or {}
    ok = row.get("status") == "ok"
    same = ok and _same_qpoints(row, ref)
    pred_avg = row["kappa_avg_WmK"][t_index] if ok else None
    modes = np.asarray(row["mode_kappa_tot_avg"][t_index]) if same else None
    score = score_material(
        pred_avg, modes, np.asarray(row["weights"]) if same else None,
        float(ref.kappa_tot_avg_WmK[t_index]), ref.mode_kappa_tot_avg[t_index],
        material_id=row["material_id"], has_imaginary_modes=gate.get("imaginary"),
        relaxed_spacegroup=relax.get("final_space_group"),
        expected_spacegroup=relax.get("initial_space_group"),
        pred_frequencies=row.get("frequencies_THz") if same else None,
        ref_frequencies=ref.frequencies_THz, ref_weights=ref.weights)
    if ok and not same:
        from dataclasses import replace

        score = replace(score, reason="q-points differ from the reference's (another mesh "
                                      "or cell): no mode-resolved score")
    return score


def _by_model(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        if r["model"] != REFERENCE_MODEL:
            out.setdefault(r["model"], []).append(r)
    return out


def build(store, dataset: str, protocol: str, out: Path, figures: bool = True, console=None,
          folder=None) -> dict:
    """Write the κ tables (and figures) of ``dataset`` × ``protocol``; returns their paths
    ({"markdown": Path, "figures": [Path]}). ``folder``: the κ data (default
    ``kappa_reference.default_folder()``)."""
    from phonjax.bench.kappa_metrics import summarize
    from phonjax.bench.kappa_reference import load_reference

    refs = load_reference(folder)
    rows = store.rows(dataset, protocol)
    target = Path(out) / f"kappa-{protocol.replace('@', '_').replace('+', '_')}"
    target.mkdir(parents=True, exist_ok=True)
    per_material, summary = [], []
    scored: dict[str, list] = {}
    for model, mrows in sorted(_by_model(rows).items()):
        pairs = [(r, score_row(r, refs[r["material_id"]])) for r in mrows
                 if r["material_id"] in refs]
        scored[model] = pairs
        if not pairs:
            continue
        s = summarize([p[1] for p in pairs])
        walls = [r.get("wall_seconds") for r, _ in pairs if r.get("wall_seconds") is not None]
        summary.append({"model": model, "materials": s.n_materials, "kappa_SRME": s.srme,
                        "kappa_SRE": s.sre, "kappa_SRD": s.srd, "censored": s.n_censored,
                        "failure_rate": s.failure_rate,
                        "imaginary_mode_rate": s.imaginary_mode_rate,
                        "spectrum_W1_THz": s.spectrum_w1_THz,
                        "SRME_of_uncensored": s.srme_success,
                        "wall_s_per_material": float(np.mean(walls)) if walls else None})
        for r, sc in pairs:
            relax = r.get("relax") or {}
            per_material.append({
                "model": model, "material_id": r["material_id"], "name": r.get("name"),
                "structure": r.get("structure"), "status": r["status"],
                "reason": sc.reason or r.get("error", ""),
                "kappa_pred_WmK": sc.pred_kappa_avg_WmK, "kappa_dft_WmK": sc.ref_kappa_avg_WmK,
                "SRD": sc.srd, "SRE": sc.sre, "SRME": sc.srme, "W1_THz": sc.spectrum_w1_THz,
                "initial_space_group": relax.get("initial_space_group"),
                "final_space_group": relax.get("final_space_group"),
                "wall_s": r.get("wall_seconds")})
    _write_csv(target / "summary.csv", summary)
    _write_csv(target / "per_material.csv", per_material)
    md = _markdown(dataset, protocol, summary, per_material)
    (target / "summary.md").write_text(md)
    if console is not None:
        console.print(md, markup=False, highlight=False)
    made = _figures(scored, target / "figures") if figures and per_material else []
    return {"markdown": target / "summary.md", "figures": made}


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        if not rows:
            return
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _fmt(v, spec=".3f") -> str:
    return "—" if v is None or (isinstance(v, float) and not np.isfinite(v)) else format(v, spec)


def _markdown(dataset: str, protocol: str, summary: list[dict], per_material: list[dict]) -> str:
    lines = [f"# κ benchmark · dataset {dataset} · protocol {protocol}", "",
             "Scores at 300 K over the materials in the store (the benchmark's figure is over "
             "all 103; censored = SRME 2).", "",
             "| model | materials | κ_SRME | κ_SRE | κ_SRD | censored | imaginary rate | "
             "W1 (THz) | s / material |", "|---|---|---|---|---|---|---|---|---|"]
    for s in summary:
        lines.append(f"| {s['model']} | {s['materials']} | {_fmt(s['kappa_SRME'])} | "
                     f"{_fmt(s['kappa_SRE'])} | {_fmt(s['kappa_SRD'])} | {s['censored']} | "
                     f"{_fmt(s['imaginary_mode_rate'], '.2f')} | {_fmt(s['spectrum_W1_THz'])} | "
                     f"{_fmt(s['wall_s_per_material'], '.1f')} |")
    lines += ["", "| model | material | κ̄ pred | κ̄ DFT | SRE | SRME | status |",
              "|---|---|---|---|---|---|---|"]
    for p in per_material:
        lines.append(f"| {p['model']} | {p['name']} {p['structure']} ({p['material_id']}) | "
                     f"{_fmt(p['kappa_pred_WmK'])} | {_fmt(p['kappa_dft_WmK'])} | "
                     f"{_fmt(p['SRE'])} | {_fmt(p['SRME'])} | {p['status']}"
                     f"{': ' + p['reason'] if p['reason'] else ''} |")
    return "\n".join(lines) + "\n"


def _figures(scored: dict, folder: Path) -> list[Path]:
    from phonjax.figure_files import pyplot, save_png

    plt = pyplot()
    folder.mkdir(parents=True, exist_ok=True)
    colors = {"rocksalt": "tab:blue", "zincblende": "tab:orange", "wurtzite": "tab:green"}
    made = []
    fig, axes = plt.subplots(1, len(scored), figsize=(5 * len(scored), 4.6), squeeze=False)
    for ax, (model, pairs) in zip(axes[0], scored.items()):
        refs = [sc.ref_kappa_avg_WmK for _, sc in pairs]
        lo, hi = min(refs) / 3, max(refs) * 3
        for kind, c in colors.items():
            pts = [(sc.ref_kappa_avg_WmK, sc.pred_kappa_avg_WmK) for r, sc in pairs
                   if r.get("structure") == kind and sc.pred_kappa_avg_WmK
                   and not sc.censored]
            if pts:
                x, y = zip(*pts)
                ax.scatter(x, y, s=22, color=c, label=kind)
                lo, hi = min(lo, min(y) / 3), max(hi, max(y) * 3)
        cens = [sc.ref_kappa_avg_WmK for _, sc in pairs if sc.censored]
        if cens:
            ax.scatter(cens, [lo * 1.3] * len(cens), marker="x", color="tab:red",
                       label=f"censored ({len(cens)})")
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        for f in (0.5, 2):
            ax.plot([lo, hi], [lo * f, hi * f], "k:", lw=0.6)
        ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi),
               xlabel="κ̄ DFT (W/m·K)", ylabel=f"κ̄ {model} (W/m·K)",
               title=f"{model}: {len(pairs)} materials")
        ax.legend(fontsize=8)
    fig.tight_layout()
    made.append(save_png(fig, folder / "kappa_parity.png", dpi=130))

    fig, ax = plt.subplots(figsize=(6, 4))
    models = list(scored)
    ticks, labels = [], []
    for k, (kind, c) in enumerate(colors.items()):
        for m, model in enumerate(models):
            vals = [sc.srme for r, sc in scored[model] if r.get("structure") == kind]
            if vals:
                centre = m * (len(colors) + 1) + k
                x = centre + np.linspace(-0.25, 0.25, len(vals))
                ax.scatter(x, vals, s=14, color=c)
                ax.plot([x.min() - 0.1, x.max() + 0.1], [np.mean(vals)] * 2, color=c)
                ticks.append(centre)
                labels.append(f"{kind}\n{model}\n({len(vals)}, mean {np.mean(vals):.2f})")
    ax.set_xticks(ticks, labels, fontsize=8)
    ax.set(ylabel="κ_SRME (0 best, 2 worst)", ylim=(-0.05, 2.1),
           title="κ_SRME by structure type (lines: means)")
    fig.tight_layout()
    made.append(save_png(fig, folder / "kappa_srme_by_structure.png", dpi=130))
    return made

"""Files of one (crystal, model) pair, in the formats phonopy and its users read.

* ``phonopy_params.yaml``: phonopy's own writer (``Phonopy.save``) with the unit cell, S, P,
  displacements and forces, so ``phonopy.load`` reproduces the force constants, and with NAC
  its ``nac`` section (the Born charges and ε∞ applied, per primitive atom), so that phonopy
  applies the same correction;
* ``band.yaml``: phonopy's band-structure format (header, labels, reciprocal lattice,
  primitive cell, per q-point ``q-position``/``distance``/``band``), as ``phonopy-bandplot``
  reads it;
* ``total_dos.dat``, ``projected_dos.dat`` (per atom, phonopy's writers),
  ``projected_dos_elements.dat`` (per element, named in the header);
* ``thermal_properties.yaml`` (phonopy's format, per mole of primitive cells) and
  ``thermal_properties.csv`` (every normalisation, named columns);
* ``imaginary_modes.json``, ``modulated/*.cif``, ``relaxed.cif``, ``primitive.cif``,
  ``summary.json``.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

from phonjax.atomic_write import open_replacing, replace_file, write_text
from phonjax.structure.crystal import Crystal


def _phonopy_atoms(crystal: Crystal):
    from phonopy.structure.atoms import PhonopyAtoms

    return PhonopyAtoms(cell=crystal.lattice, scaled_positions=crystal.frac_positions,
                        numbers=crystal.numbers, masses=crystal.masses)


def phonopy_object(p):
    """A ``phonopy.Phonopy`` with p's cells, displacements, forces and NAC parameters (no
    force constants)."""
    import phonopy

    ph = phonopy.Phonopy(_phonopy_atoms(p.unitcell), supercell_matrix=p.cells.supercell_matrix,
                         primitive_matrix=p.cells.primitive_matrix)
    s = p.system
    if p.displacement_fields is not None:  # random displacements: phonopy's type-2 dataset
        ph.dataset = {"displacements": np.asarray(p.displacement_fields, float),
                      "forces": np.asarray(p.forces, float)}
    else:
        ph.dataset = {"natom": s.n_supercell, "first_atoms": [
            {"number": int(a), "displacement": np.asarray(u, float),
             "forces": np.asarray(f, float)}
            for a, u, f in zip(s.displaced_atoms, s.displacements, p.forces)]}
    if s.nac is not None:  # the charges applied (symmetrized: phonopy's symmetrization keeps them)
        table = s.tables.nac
        ph.nac_params = {"born": np.asarray(table.born), "dielectric": np.asarray(table.dielectric),
                         "factor": s.nac.factor, "method": s.nac.method}
        if s.nac.g_cutoff is not None:
            ph.nac_params["G_cutoff"] = s.nac.g_cutoff
        if s.nac.lambda_ is not None:
            ph.nac_params["Lambda"] = s.nac.lambda_
    return ph


def write_phonopy_params(p, path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph = phonopy_object(p)
        replace_file(path, lambda tmp: ph.save(str(tmp)))


def write_band_yaml(p, path, comment: dict | None = None) -> None:
    """phonopy's band.yaml (labels as phonopy writes them, frequencies to 1e-10 THz)."""
    import yaml

    from phonjax.single.bandpath import phonopy_label

    band = p.band
    path_obj = band.path
    primitive = p.system.primitive.crystal
    lines = []
    if comment:
        lines.append(yaml.dump(comment, default_flow_style=False).rstrip())
    sizes = [len(q) for q in band.sampling.qpoints]
    lines += [f"nqpoint: {sum(sizes):<7d}", f"npath: {len(sizes):<7d}", "segment_nqpoint:"]
    lines += [f"- {n}" for n in sizes]
    lines.append("labels:")
    lines += [f"- [ '{phonopy_label(s.start)}', '{phonopy_label(s.end)}' ]"
              for s in path_obj.segments]
    lines.append("reciprocal_lattice:")
    rec = np.linalg.inv(primitive.lattice)  # columns
    for vec, axis in zip(rec.T, ("a*", "b*", "c*")):
        lines.append("- [ %12.8f, %12.8f, %12.8f ] # %2s" % (tuple(vec) + (axis,)))
    lines.append(f"natom: {primitive.n_atoms:<7d}")
    lines.append(str(_phonopy_atoms(primitive)))
    lines += ["", "phonon:", ""]
    with open_replacing(path, "w") as w:
        w.write("\n".join(lines))
        velocities = ([v.velocities_THz_A for v in p.band_group_velocities]
                      if p.band_group_velocities is not None else [None] * len(sizes))
        for q_seg, d_seg, f_seg, v_seg in zip(band.sampling.qpoints, band.sampling.distances,
                                              band.frequencies_THz, velocities):
            text = []
            for i, (q, d, freqs) in enumerate(zip(q_seg, d_seg, f_seg)):
                text.append("- q-position: [ %12.7f, %12.7f, %12.7f ]" % tuple(q))
                text.append("  distance: %12.7f" % d)
                text.append("  band:")
                for k, f in enumerate(freqs):
                    text += [f"  - # {k + 1}", "    frequency: %15.10f" % f]
                    if v_seg is not None:
                        text.append("    group_velocity: [ %13.7f, %13.7f, %13.7f ]"
                                    % tuple(v_seg[i, k]))
                text.append("")
            text.append("")
            w.write("\n".join(text))


def write_mesh_yaml(p, path) -> None:
    """phonopy's mesh.yaml of the mesh spectrum (irreducible q-points, weights, frequencies;
    with group velocities when they were computed on it), as ``Mesh.write_yaml`` lays it out."""
    primitive = p.system.primitive.crystal
    grid, freqs = p.mesh.grid, p.mesh.frequencies_THz
    rec = np.linalg.inv(primitive.lattice)  # columns
    distances = np.linalg.norm(grid.qpoints @ rec.T, axis=1)
    gv = None if p.group_velocities is None else p.group_velocities.velocities_THz_A
    if gv is not None and gv.shape[:2] != freqs.shape:
        gv = None  # velocities of other q-points than the mesh's
    lines = ["mesh: [ %5d, %5d, %5d ]" % tuple(grid.mesh), f"nqpoint: {len(grid.qpoints):<7d}",
             "reciprocal_lattice:"]
    for vec, axis in zip(rec.T, ("a*", "b*", "c*")):
        lines.append("- [ %12.8f, %12.8f, %12.8f ] # %2s" % (tuple(vec) + (axis,)))
    lines += [f"natom:   {primitive.n_atoms:<7d}", str(_phonopy_atoms(primitive)), "", "phonon:"]
    with open_replacing(path, "w") as w:
        w.write("\n".join(lines) + "\n")
        for i, (q, d, w_q) in enumerate(zip(grid.qpoints, distances, grid.weights)):
            text = ["- q-position: [ %12.7f, %12.7f, %12.7f ]" % tuple(q),
                    "  distance_from_gamma: %12.9f" % d, "  weight: %-5d" % w_q, "  band:"]
            for j, f in enumerate(freqs[i]):
                text += ["  - # %d" % (j + 1), "    frequency:  %15.10f" % f]
                if gv is not None:
                    text.append("    group_velocity: [ %13.7f, %13.7f, %13.7f ]" % tuple(gv[i, j]))
            text.append("")
            w.write("\n".join(text) + "\n")


def write_phonon_extras(p, folder: Path) -> list[str]:
    """phonopy's files of the other outputs a pair holds (``phonjax.phonon``): mesh.yaml with
    group velocities, thermal_displacements.yaml, thermal_displacement_matrices.yaml and
    tdispmat.cif, irreps.yaml, modulation/ (MPOSCAR…, modulation.yaml)."""
    out = []
    if p.group_velocities is not None and p.mesh is not None:
        write_mesh_yaml(p, folder / "mesh.yaml")
        out.append(str(folder / "mesh.yaml"))
    if p.thermal_displacements is not None or p.thermal_displacement_matrices is not None:
        from phonjax.phonon import thermal_displacements as td

        if p.thermal_displacements is not None:
            path = folder / "thermal_displacements.yaml"
            td.write_thermal_displacements_yaml(p.thermal_displacements, path)
            out.append(str(path))
        if p.thermal_displacement_matrices is not None:
            path = folder / "thermal_displacement_matrices.yaml"
            td.write_thermal_displacement_matrices_yaml(p.thermal_displacement_matrices, path)
            out.append(str(path))
            t = p.settings.tdispmat_cif_K
            if t is not None:
                out.append(str(td.write_adp_cif(p.thermal_displacement_matrices,
                                                folder / "tdispmat.cif", t)))
    if p.irreps_result is not None:
        from phonjax.phonon.irreps import write_irreps_yaml

        out.append(str(write_irreps_yaml(p.irreps_result, folder / "irreps.yaml",
                                         show_irreps=True)))
    if p.modulations is not None:
        from phonjax.phonon.modulation import write_modulations

        out += [str(f) for f in write_modulations(p.modulations, folder / "modulation")]
    return out


def write_dos(p, folder: Path) -> list[str]:
    from phonopy.phonon.dos import write_projected_dos, write_total_dos

    d = p.dos
    comment = "Tetrahedron method" if d.method == "tetrahedron" else f"Sigma = {d.sigma_THz:f}"
    out = [folder / "total_dos.dat"]
    replace_file(out[0], lambda tmp: write_total_dos(d.frequency_points_THz, d.total,
                                                     comment=comment, filename=tmp))
    if d.atoms is not None:
        out.append(folder / "projected_dos.dat")
        atoms = ", ".join(f"{s}{i + 1}" for i, s in enumerate(d.atom_symbols))
        replace_file(out[-1], lambda tmp: write_projected_dos(
            d.frequency_points_THz, d.atoms, filename=tmp,
            comment=f"{comment}; per atom ({atoms}), symmetry-equivalent atoms averaged"))
        out.append(folder / "projected_dos_elements.dat")
        replace_file(out[-1], lambda tmp: write_projected_dos(
            d.frequency_points_THz, np.array(list(d.elements.values())), filename=tmp,
            comment=f"{comment}; per element: " + " ".join(d.elements)))
    return [str(f) for f in out]


def thermal_yaml(th, volume_A3: float | None = None) -> str:
    """phonopy's thermal_properties.yaml of a ``ThermalTable`` (per mole of primitive cells;
    ``volume_A3``: the ``volume`` line phonopy writes for a QHA volume)."""
    lines = ["# Thermal properties / unit cell (natom)", "", "unit:",
             "  temperature:   K", "  free_energy:   kJ/mol", "  entropy:       J/K/mol",
             "  heat_capacity: J/K/mol", "", f"natom: {th.n_atoms:<5d}"]
    if volume_A3 is not None:
        lines.append(f"volume: {volume_A3:<20.10f}")
    lines += [f"cutoff_frequency: {th.cutoff_frequency_THz:.5f}", "exclude_gamma_acoustic: true",
              f"num_modes: {th.num_modes}", f"num_integrated_modes: {th.num_integrated_modes}",
              "", f"zero_point_energy: {th.zero_point_energy_kJmol:15.7f}", "",
              "thermal_properties:"]
    for t, f, s, c, e in zip(th.temperatures_K, th.free_energy_kJmol, th.entropy_JKmol,
                             th.heat_capacity_JKmol, th.energy_kJmol):
        lines += [f"- temperature:   {t:15.7f}", f"  free_energy:   {f:15.7f}",
                  f"  entropy:       {s:15.7f}", f"  heat_capacity: {c:15.7f}",
                  f"  energy:        {e:15.7f}", ""]
    return "\n".join(lines)


def write_thermal(p, folder: Path) -> list[str]:
    th = p.thermal
    yml = folder / "thermal_properties.yaml"
    write_text(yml, thermal_yaml(th))
    out = folder / "thermal_properties.csv"
    cols = th.all_columns()
    with open_replacing(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([f"# {th.formula}: {th.z} formula unit(s), {th.n_atoms} atoms per primitive "
                    "cell; *_per_mol_cells is phonopy's normalisation"])
        w.writerow(list(cols))
        for row in zip(*cols.values()):
            w.writerow([f"{v:.10g}" for v in row])
    return [str(yml), str(out)]


def write_cif(crystal: Crystal, path) -> None:
    import ase.io

    replace_file(path, lambda tmp: ase.io.write(str(tmp), crystal.to_ase(), format="cif"))


def write_modes(p, folder: Path) -> list[str]:
    from phonjax.single.report import clean

    rep = p.instability
    out = []
    mod_dir = folder / "modulated"
    entries = []
    for m in rep.modulations:
        mod_dir.mkdir(exist_ok=True)
        q = "_".join(f"{x:.4g}" for x in m.q)
        name = mod_dir / f"band{m.band + 1}_q{q}.cif"
        write_cif(m.crystal, name)
        out.append(str(name))
        entries.append({"band": m.band + 1, "q": m.q, "frequency_THz": m.frequency_THz,
                        "supercell_matrix_of_primitive": m.supercell, "largest_displacement_A":
                        m.amplitude_A, "file": str(name.relative_to(folder))})
    data = {"verdict": vars(rep.verdict),
            "unstable_branches": [dict(vars(b), band=b.band + 1) for b in rep.branches],
            "modulated_structures": entries, "not_modulated": rep.skipped}
    path = folder / "imaginary_modes.json"
    write_text(path, json.dumps(clean(data), indent=1, ensure_ascii=False))
    return [str(path)] + out


def write_summary(p, folder: Path) -> str:
    path = folder / "summary.json"
    write_text(path, json.dumps(p.summary(), indent=1, ensure_ascii=False))
    return str(path)


def write_all(p, folder: str | os.PathLike) -> list[str]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    if p.relaxation is not None:
        write_cif(p.unitcell, folder / "relaxed.cif")
        out.append(str(folder / "relaxed.cif"))
    write_cif(p.system.primitive.crystal, folder / "primitive.cif")
    out.append(str(folder / "primitive.cif"))
    write_phonopy_params(p, folder / "phonopy_params.yaml")
    out.append(str(folder / "phonopy_params.yaml"))
    if p.band is not None:
        write_band_yaml(p, folder / "band.yaml")
        out.append(str(folder / "band.yaml"))
    if p.dos is not None:
        out += write_dos(p, folder)
    if p.thermal is not None:
        out += write_thermal(p, folder)
    if p.instability is not None:
        out += write_modes(p, folder)
    out += write_phonon_extras(p, folder)
    out.append(write_summary(p, folder))
    return out

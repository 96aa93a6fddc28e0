"""The phonopy reference: phonopy 4.10 on one dataset, the one set-up of tests/ and validation/.

The contract compares phonjax with exactly this pipeline (no other phonopy set-up exists in
tests/ or validation/):

1. ``phonopy.load(path, produce_fc=False, is_nac=False, primitive_matrix=P)`` where ``P`` is the
   primitive matrix as ``phonjax.read_dataset`` reads it: the file's own, or, when the file has
   none, ``phonopy.load``'s default ``"auto"`` (resolved to a matrix by phonjax). A yaml with a tag
   that would run code under phonopy's full YAML loader is refused before ``phonopy.load`` sees
   it. A ``phonopy.Phonopy`` that already holds a displacement dataset and forces (e.g. from a
   uMLIP) skips this step and keeps its own cells. With
   ``force_sets`` the forces come from that FORCE_SETS (``force_sets_filename``); with ``born``
   the non-analytical correction is on (``born_filename=born``, ``is_nac=True``; phonopy's
   Gonze–Lee unless ``nac_method="wang"``, set through ``nac_params``); with ``file_nac`` it is
   on with the file's own ``nac`` section (``is_nac=True``); otherwise it is off.
2. ``produce_force_constants()`` (full N×N, traditional finite differences) and
   ``symmetrize_force_constants()``.
3. ``run_mesh(mesh)`` with phonopy's defaults (half-shifted even meshes, symmetry reduction, its
   BZ-relocated irreducible points) and ``run_thermal_properties(temperatures,
   exclude_gamma_acoustic=True)`` (phonjax's Γ rule; nothing changes on a mesh without Γ).
4. ``run_qpoints(get_commensurate_points(inv(P)·S))``: the q-points commensurate with the supercell.
5. Only when asked (``band_npoints``): ``auto_band_structure(npoints)``, phonopy's seekpath band
   path (with NAC, each segment through Γ uses its own direction for q → 0), or
   (``band_paths``) ``run_band_structure(segments)`` along given segments, the same rule; and
   (``gamma_directions``) ``run_qpoints([Γ], nac_q_direction=d)`` for each direction d;
   ``run_qpoints(q)`` at given q-points (e.g. a band path), and after step 3
   ``run_total_dos()`` (phonopy's tetrahedron method and frequency points, or ``sigma=`` smearing).

Untimed and only when asked, the displacement sets phonopy generates for the same cells:
``Phonopy(unitcell, S, P).generate_displacements(distance=0.01, is_plusminus="auto",
is_diagonal=...)``. phonopy's warnings are silenced. Units are phonopy's: eV/Å², THz, kJ/mol and
J/K/mol per mole of primitive cells. phonopy and phonjax are imported on first use, so that
processes that only run phonopy (validation's workers) never import JAX.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    from phonjax.io import PhononDataset

DISPLACEMENT_DISTANCE_A = 0.01  # phonopy's default, the one every phonondb file was made with


@dataclass(frozen=True, eq=False)
class PhonopyReference:
    """phonopy's results for one dataset (fields are None for stages that did not run).

    ``n_T`` temperatures, ``N`` supercell atoms, ``n_modes = 3 × primitive atoms``.
    """

    phonopy: Any  # the phonopy.Phonopy after the run: cells, dataset, dynamical matrix, mesh
    dataset: PhononDataset | None  # phonjax's read of the file, when this function read it
    primitive_matrix: np.ndarray  # (3, 3) P relative to the unit cell, as given to phonopy
    force_constants: np.ndarray | None = None  # (N, N, 3, 3) eV/Å², symmetrized
    mesh: tuple[int, int, int] | None = None
    mesh_qpoints: np.ndarray | None = None  # (n_irq, 3) reduced, phonopy's BZ-relocated points
    mesh_weights: np.ndarray | None = None  # (n_irq,) int
    mesh_frequencies_THz: np.ndarray | None = None  # (n_irq, n_modes)
    temperatures_K: np.ndarray | None = None  # (n_T,)
    free_energy_kJmol: np.ndarray | None = None  # (n_T,)
    entropy_JKmol: np.ndarray | None = None  # (n_T,)
    heat_capacity_JKmol: np.ndarray | None = None  # (n_T,)
    commensurate_qpoints: np.ndarray | None = None  # (n_c, 3) reduced
    commensurate_frequencies_THz: np.ndarray | None = None  # (n_c, n_modes), phonopy's order
    band_qpoints: list[np.ndarray] | None = None  # per segment (n_i, 3) reduced
    band_frequencies_THz: list[np.ndarray] | None = None  # per segment (n_i, n_modes)
    gamma_frequencies_THz: np.ndarray | None = None  # (n_directions, n_modes) at Γ along each
    qpoints: np.ndarray | None = None  # (n_q, 3) the q-points asked for (step 5)
    qpoint_frequencies_THz: np.ndarray | None = None  # (n_q, n_modes) at those
    dos_frequency_points_THz: np.ndarray | None = None  # (n_f,) phonopy's total_dos points
    total_dos: np.ndarray | None = None  # (n_f,) states/THz per primitive cell
    # is_diagonal -> (displaced atoms (n,) 0-based, displacements (n, 3) Å), phonopy-generated
    generated_displacements: dict[bool, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    # wall seconds of load, force_constants, mesh, thermal, commensurate and their total;
    # cpu: process CPU seconds (all threads) of the same span
    times_s: dict[str, float] = field(default_factory=dict)


def phonopy_reference(source, *, mesh: Sequence[int] | None = (20, 20, 20),
                      temperatures_K: Sequence[float] = (300.0,), primitive_matrix=None,
                      load_only: bool = False,
                      generate_displacements: Sequence[bool] = (), force_sets=None, born=None,
                      file_nac: bool = False,
                      nac_method: str | None = None, band_npoints: int | None = None,
                      band_paths: Sequence[np.ndarray] | None = None,
                      gamma_directions: Sequence[Sequence[float]] = (),
                      qpoints=None, total_dos: bool = False,
                      dos_sigma_THz: float | None = None) -> PhonopyReference:
    """Run the reference pipeline (module docstring) on one dataset.

    Args:
        source: a phonopy_params / phonopy.yaml path, a ``PhononDataset`` read from such a file,
            or a ``phonopy.Phonopy`` with its displacement dataset and forces already set.
        mesh: the sampling mesh of step 3; None skips the mesh and thermal properties.
        temperatures_K: (n_T,) temperatures of the thermal properties.
        primitive_matrix: (3, 3) P for a path; default: ``read_dataset(path).primitive_matrix``.
            Passing it avoids reading the file with phonjax (and importing JAX).
        load_only: stop after step 1 (cells and displacement datasets only).
        generate_displacements: the ``is_diagonal`` values whose generated sets to add (untimed).
        force_sets: a type-1 FORCE_SETS with the forces (for a phonopy_disp.yaml path).
        born: a BORN file: the non-analytical correction on (default: off).
        file_nac: the correction on with the file's own ``nac`` section (a phonopy_params.yaml
            that holds one), as ``phonopy.load(path)`` does by default.
        nac_method: "gonze" (phonopy's default) or "wang", with ``born``.
        band_npoints: points per segment of phonopy's automatic band path (step 5).
        band_paths: instead, segments (n_i, 3) of q-points (primitive reciprocal basis) for
            ``run_band_structure`` (step 5; phonopy's q → 0 rule with NAC).
        gamma_directions: (3,) reduced directions of q → 0 at Γ (step 5, with NAC).
        qpoints: (n_q, 3) q-points (primitive reciprocal basis) whose frequencies to add (untimed).
        total_dos: add phonopy's total DOS on the mesh (tetrahedron, or Gaussian with
            ``dos_sigma_THz``), untimed.
    Raises:
        ValueError: a dataset without a source file, or inv(P)·S not integer.
    """
    import phonopy

    given = isinstance(source, phonopy.Phonopy)
    path, dataset, primitive_matrix = (None, None, None) if given else _resolve_path(
        source, primitive_matrix)
    if not given:
        refuse_code_tags(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c0, t0 = time.process_time(), time.perf_counter()
        files = {} if force_sets is None else {"force_sets_filename": str(force_sets)}
        if born is not None:
            files["born_filename"] = str(born)
        ph = source if given else phonopy.load(
            path, produce_fc=False, is_nac=born is not None or file_nac,
            primitive_matrix=np.asarray(primitive_matrix).tolist(), **files)
        if nac_method is not None:
            ph.nac_params = {**ph.nac_params, "method": nac_method}
        times = {"load": time.perf_counter() - t0}
        out: dict[str, Any] = {}
        if not load_only:
            _run_spectra(ph, mesh, temperatures_K, out, times)
            _run_paths(ph, band_npoints, gamma_directions, out, times, band_paths)
        times["total"] = sum(times.values())  # the stages only, not the copies between them
        times["cpu"] = time.process_time() - c0
        if not load_only:
            _run_extras(ph, mesh, qpoints, total_dos, dos_sigma_THz, out)
        out["generated_displacements"] = _generated(ph, generate_displacements)
    pmat = np.eye(3) if ph.primitive_matrix is None else np.array(ph.primitive_matrix, float)
    return PhonopyReference(phonopy=ph, dataset=dataset, primitive_matrix=pmat,
                            times_s=times, **out)


_TAG_CANDIDATE = re.compile(r"(?:^|[\s\[{,])!|^%TAG", re.M)  # where a YAML tag may start


def refuse_code_tags(path) -> None:
    """Raise ``ValueError`` for a yaml that ``phonopy.load`` (PyYAML's full loader) would run
    code from (a ``!!python/...`` tag). Text with no ``!`` where a tag can start is cleared
    here without importing phonjax (JAX); other text goes to ``phonjax.io.readers.code_tag_in``."""
    from phonopy.file_IO import get_io_module_to_decompress

    with get_io_module_to_decompress(path).open(path, "rb") as f:
        text = f.read().decode("utf-8", errors="replace")
    if "!" not in text or not _TAG_CANDIDATE.search(text):
        return
    from phonjax.io.readers import code_tag_in, code_tag_refusal

    tag = code_tag_in(text)
    if tag is not None:
        raise ValueError(f"{path}: {code_tag_refusal(tag)}")


def phonopy_of_dataset(ds):
    """A ``phonopy.Phonopy`` on a ``PhononDataset``'s cells (its S and P) with its
    displacements and forces, force constants produced and symmetrized (steps 1-2 from the
    dataset in memory, for scripts that then run phonopy's own mesh options)."""
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    u = ds.unitcell
    ph = Phonopy(PhonopyAtoms(cell=u.lattice, scaled_positions=u.frac_positions,
                              numbers=u.numbers, masses=u.masses),
                 supercell_matrix=ds.supercell_matrix, primitive_matrix=ds.primitive_matrix)
    ph.dataset = {"natom": ds.n_supercell, "first_atoms": [
        {"number": int(a), "displacement": d, "forces": f}
        for a, d, f in zip(ds.displaced_atoms, ds.displacements, ds.forces)]}
    ph.produce_force_constants()
    ph.symmetrize_force_constants()
    return ph


def _resolve_path(source, primitive_matrix):
    """(path, the dataset phonjax read or None, P) for a path or a PhononDataset."""
    if isinstance(source, (str, os.PathLike)):
        if primitive_matrix is not None:
            return str(source), None, primitive_matrix
        from phonjax.io import read_dataset

        dataset = read_dataset(source)
    else:
        dataset = source
        if getattr(dataset, "source", None) is None:
            raise ValueError(f"dataset {getattr(dataset, 'id', '?')!r} has no source file: "
                             "phonopy_reference needs the file (or a phonopy.Phonopy)")
    pmat = dataset.primitive_matrix if primitive_matrix is None else primitive_matrix
    return str(dataset.source), dataset, pmat


def _run_spectra(ph, mesh, temperatures_K, out: dict, times: dict) -> None:
    """Steps 2-4 on a loaded phonopy object; results into ``out``, wall seconds into ``times``."""
    from phonopy.harmonic.dynmat_to_fc import get_commensurate_points

    t = time.perf_counter()
    ph.produce_force_constants()
    ph.symmetrize_force_constants()
    times["force_constants"], t = time.perf_counter() - t, time.perf_counter()
    out["force_constants"] = np.asarray(ph.force_constants)
    if mesh is not None:
        ph.run_mesh(list(mesh))
        times["mesh"], t = time.perf_counter() - t, time.perf_counter()
        # phonjax's Γ rule (phonjax.harmonic.thermal.GAMMA_ACOUSTIC_RULE); no effect on a mesh without Γ
        ph.run_thermal_properties(temperatures=list(temperatures_K), exclude_gamma_acoustic=True)
        times["thermal"] = time.perf_counter() - t
        tp, m = ph.get_thermal_properties_dict(), ph.get_mesh_dict()
        out.update(mesh=tuple(int(n) for n in mesh), mesh_qpoints=np.asarray(m["qpoints"]),
                   mesh_weights=np.asarray(m["weights"]),
                   mesh_frequencies_THz=np.asarray(m["frequencies"]),
                   temperatures_K=np.asarray(tp["temperatures"], float),
                   free_energy_kJmol=np.asarray(tp["free_energy"], float),
                   entropy_JKmol=np.asarray(tp["entropy"], float),
                   heat_capacity_JKmol=np.asarray(tp["heat_capacity"], float))
    t = time.perf_counter()
    smat_p = np.linalg.inv(ph.primitive_matrix) @ ph.supercell_matrix
    smat_p_int = np.rint(smat_p).astype(int)
    if np.abs(smat_p - smat_p_int).max() > 1e-6:
        raise ValueError(f"inv(P)·S is not integer: {smat_p.tolist()}")
    q = get_commensurate_points(smat_p_int)
    ph.run_qpoints(q)
    out["commensurate_frequencies_THz"] = np.asarray(ph.get_qpoints_dict()["frequencies"])
    out["commensurate_qpoints"] = np.asarray(q)
    times["commensurate"] = time.perf_counter() - t


def _run_paths(ph, band_npoints, gamma_directions, out: dict, times: dict,
               band_paths=None) -> None:
    """Step 5: phonopy's band path (or ``band_paths``) and Γ along directions, into ``out``."""
    t = time.perf_counter()
    if band_paths is not None:
        ph.run_band_structure([np.asarray(q, float) for q in band_paths])
    elif band_npoints:
        ph.auto_band_structure(npoints=band_npoints)
    if band_paths is not None or band_npoints:
        bands = ph.get_band_structure_dict()
        out["band_qpoints"] = [np.asarray(q) for q in bands["qpoints"]]
        out["band_frequencies_THz"] = [np.asarray(f) for f in bands["frequencies"]]
    if len(gamma_directions):
        freqs = []
        for d in gamma_directions:
            ph.run_qpoints([[0.0, 0.0, 0.0]], nac_q_direction=list(d))
            freqs.append(np.asarray(ph.get_qpoints_dict()["frequencies"])[0])
        out["gamma_frequencies_THz"] = np.array(freqs)
    if band_npoints or band_paths is not None or len(gamma_directions):
        times["paths"] = time.perf_counter() - t


def _run_extras(ph, mesh, qpoints, total_dos: bool, sigma, out: dict) -> None:
    """Step 5 (untimed): frequencies at given q-points, the total DOS on the mesh."""
    if qpoints is not None:
        q = np.asarray(qpoints, float).reshape(-1, 3)
        ph.run_qpoints(q)
        out.update(qpoints=q, qpoint_frequencies_THz=np.asarray(ph.get_qpoints_dict()["frequencies"]))
    if total_dos:
        if mesh is None:
            raise ValueError("total_dos needs a mesh")
        ph.run_total_dos(sigma=sigma, use_tetrahedron_method=sigma is None)
        d = ph.get_total_dos_dict()
        out.update(dos_frequency_points_THz=np.asarray(d["frequency_points"]),
                   total_dos=np.asarray(d["total_dos"]))


def _generated(ph, diagonals: Sequence[bool]) -> dict[bool, tuple[np.ndarray, np.ndarray]]:
    """phonopy's own displacement sets for ph's cells, one per ``is_diagonal`` value."""
    if not diagonals:
        return {}
    import phonopy

    gen = phonopy.Phonopy(ph.unitcell, supercell_matrix=ph.supercell_matrix,
                          primitive_matrix=ph.primitive_matrix)
    sets = {}
    for diag in diagonals:
        gen.generate_displacements(distance=DISPLACEMENT_DISTANCE_A, is_plusminus="auto",
                                   is_diagonal=diag)
        first = gen.dataset["first_atoms"]
        sets[bool(diag)] = (np.array([d["number"] for d in first]),
                            np.array([d["displacement"] for d in first], float).reshape(-1, 3))
    return sets

"""Born charges and ε∞ of one (crystal, model) pair: which non-analytical correction (NAC)
applies, and whether it fits the crystal.

The workflow's ``nac`` setting (``WorkflowSettings.nac``) is resolved here, once the pair's
cells are chosen: ``None`` takes a force-set input's own NAC parameters (the BORN next to a
phonopy_disp.yaml, a phonopy_params ``nac`` section), False none, a BORN file is read by
phonopy's parser for the (relaxed) unit cell and the primitive matrix the workflow chose
(``phonjax.io.read_born``: one row per symmetry-independent atom, or one line naming the
atoms it expected), and ``NACParams`` are taken as given. A force-set input's charges,
stored per atom of *its* primitive cell, are spread over the unit-cell atoms, so that another
primitive matrix (``--primitive``) still finds them.

``check_fits`` refuses charges that cannot belong to the crystal: a count that matches no
cell of it, or a charge sum far from zero (|Σ_i Z*_i| > 0.1 e per primitive atom; DFT gives
~1e-3), the mark of rows in another order over atoms of different multiplicity. A BORN file
names no elements, so two atoms of equal multiplicity given in swapped order cannot be told
apart (for a binary with Z*₂ = −Z*₁ the swap changes no frequency); the JSON summary lists
the charges per atom so that a reader can see them. Born tensors are Cartesian: the crystal
must have the orientation of the cell the charges were computed for.
"""

from __future__ import annotations

import numpy as np

from phonjax.structure.crystal import Crystal
from phonjax.harmonic.nac import NACError, NACParams

SUM_RULE_TOLERANCE_E = 0.1  # largest |Σ_i Z*_i| component per primitive atom, e


def _cells(unitcell: Crystal, primitive_matrix, symprec: float):
    """(s2u, primitive) of the unit cell as its own 1×1×1 supercell."""
    from phonjax.structure.supercell import build_primitive, build_supercell

    supercell, s2u = build_supercell(unitcell, np.eye(3, dtype=np.int64), symprec)
    return s2u, build_primitive(supercell, np.eye(3), np.asarray(primitive_matrix, float),
                                symprec)


def source_name(params: NACParams) -> str:
    """The file the charges came from (its name), for messages."""
    from pathlib import Path

    return Path(params.source).name if params.source else "the Born charges"


def on_unitcell_atoms(params: NACParams, unitcell: Crystal, primitive_matrix,
                      symprec: float) -> NACParams:
    """``params`` with one charge per unit-cell atom (from one per atom of the primitive
    cell ``primitive_matrix`` makes), valid for any primitive matrix of that unit cell."""
    if len(params.born) == unitcell.n_atoms:
        return params
    s2u, primitive = _cells(unitcell, primitive_matrix, symprec)
    if len(params.born) != len(primitive.p2s):
        raise NACError(f"{source_name(params)}: {len(params.born)} Born charges, but the primitive "
                       f"cell has {len(primitive.p2s)} atoms (and the unit cell "
                       f"{unitcell.n_atoms})")
    born = np.empty((unitcell.n_atoms, 3, 3))
    born[s2u] = params.born[primitive.s2pp]
    return params.replace(born=born)


def check_fits(params: NACParams, unitcell: Crystal, primitive_matrix, symprec: float) -> None:
    """NACError (one line) when the charges cannot be this crystal's (module docstring)."""
    s2u, primitive = _cells(unitcell, primitive_matrix, symprec)
    try:
        born = params.primitive_born(primitive, s2u, unitcell.n_atoms)
    except NACError as exc:
        raise NACError(f"{source_name(params)}: {exc}") from None
    n_p = len(born)
    worst = float(np.abs(born.sum(axis=0)).max())
    if worst > SUM_RULE_TOLERANCE_E * n_p:
        atoms = ", ".join(f"{primitive.crystal.symbols[i]}{i + 1} {np.trace(z) / 3:+.2f}"
                          for i, z in enumerate(born))
        raise NACError(f"{source_name(params)}: the Born charges do not sum to zero on this crystal's "
                       f"{n_p} primitive atoms (largest component of Σ Z* = {worst:.2f} e; "
                       f"mean charges {atoms}): the rows are in another order or belong to "
                       "another crystal")


def nac_for(setting, dataset, unitcell: Crystal, primitive_matrix, symprec: float
            ) -> NACParams | None:
    """The NAC parameters of a pair (``setting``: ``WorkflowSettings.nac``; ``dataset``: a
    force-set input's ``PhononDataset`` or None), checked against its cells."""
    from phonjax.io import read_born

    if setting is False:
        return None
    if setting is None:
        if dataset is None or dataset.nac is None:
            return None
        params = on_unitcell_atoms(dataset.nac, dataset.unitcell, dataset.primitive_matrix,
                                   symprec)
    elif isinstance(setting, str):
        params = read_born(setting, unitcell, primitive_matrix, symprec)
    else:
        params = setting
    check_fits(params, unitcell, primitive_matrix, symprec)
    return params


def check_input(item, settings) -> None:
    """Before any model work: the NAC of ``settings`` against an input crystal (symmetrized
    as the workflow will, with the primitive matrix it will choose); NACError or
    DatasetError with one line. Cells that cannot be built are left to the workflow."""
    from phonjax.structure.crystal import CrystalError
    from phonjax.pipeline.cells import choose_cells
    from phonjax.structure.symmetry import symmetrized

    if settings.nac is False or (settings.nac is None and (
            item.dataset is None or item.dataset.nac is None)):
        return
    crystal = item.crystal
    try:
        if item.dataset is None and settings.symmetrize_tolerance_A is not None:
            crystal = symmetrized(crystal, settings.symmetrize_tolerance_A, settings.symprec)[0]
        ds = item.dataset
        matrices = None if ds is None else (ds.primitive_matrix, ds.supercell_matrix)
        pmat = choose_cells(crystal, settings, matrices).primitive_matrix
    except (CrystalError, ValueError):
        return
    nac_for(settings.nac, item.dataset, crystal, pmat, settings.symprec)

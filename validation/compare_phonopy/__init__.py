"""Stage-by-stage validation of phonjax against phonopy on phonopy_params files.

For every file, phonopy (``validation.reference.phonopy_reference``: full force constants by
traditional finite differences, ``symmetrize_force_constants()``, no NAC, 20x20x20 mesh, 300 K,
frequencies at the q-points commensurate with the supercell) and phonjax (``read_dataset`` ->
``prepare`` -> batched ``phonon_properties``) run on the same input, and the largest deviation of
each stage is recorded:

===============  ===============================================  ==================
stage            metric                                           contract
===============  ===============================================  ==================
displacements    phonjax- vs phonopy-generated sets (is_diagonal  identical atoms,
                 True and False): atom list, max |du| (A)         |du| <= 1e-10 A
supercell        order (species per index) and max |dr| (A)       identical order
force constants  max |dPhi| over the full N x N (eV/A^2)          <= 1e-10
frequencies      commensurate q, sorted per q, max |df| (THz)     <= 1e-8
omega_max        |d omega_max| (K)                                <= 1e-4
F, S, Cv         relative deviation at 300 K                      <= 1e-8
stability        phonjax.harmonic.stability on phonopy's frequencies       identical verdict
===============  ===============================================  ==================

plus the time of each side per material (phonopy: load + FC + symmetrize + mesh + thermal +
commensurate; phonjax: read + prepare + its share of the batched kernel call, with the JIT
compile time measured separately) and the peak resident-memory growth of each side.

Results are appended to ``<out>/per_material.csv`` one material at a time (a crash loses at most
the batch in flight; a rerun skips materials already in the CSV unless ``--force``), and
``<out>/summary.md`` is rewritten from the CSV after every batch. Run
``python -m validation.compare_phonopy --help`` for the options; see validation/README.md.

Modules: ``settings`` (mesh, temperature, thresholds, CSV columns), ``measure`` (peak memory,
load, JIT time), ``phonopy_side`` (the reference in worker processes), ``phonjax_side`` (every
call into phonjax's kernel API), ``compare`` (one CSV row per material), ``table`` (the CSV),
``summary`` (summary.md and the console tables), ``run`` (the batch loop), ``cli`` (options).
No module imports JAX or phonopy at its top level: the phonopy workers are spawned processes
that import this package.
"""

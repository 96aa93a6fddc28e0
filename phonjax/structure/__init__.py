"""Structure: the crystal and what is derived from its geometry alone.

``crystal`` (lattice, fractional positions, species, masses) → ``symmetry`` (spglib's space
group, one tolerance ``SYMPREC``) → ``supercell`` (phonopy's supercell and primitive cell,
atom order included) and ``shortest_vectors`` (phonopy's shortest images between atom
pairs); ``batch`` pads many structures into the one form the model adapters consume;
``elements`` names atomic numbers. Host-side NumPy and spglib, no JAX.
"""

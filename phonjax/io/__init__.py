"""Input: phonon datasets from files, ASE Atoms or pymatgen Structures."""

from phonjax.io.dataset import DatasetError, PhononDataset, dataset_from_crystal
from phonjax.io.phonopy_files import (read_born, read_force_sets, read_input, read_phonopy_folder,
                                      read_phonopy_yaml)
from phonjax.io.readers import dataset_id, read_dataset

__all__ = ["DatasetError", "PhononDataset", "dataset_from_crystal", "dataset_id", "read_born",
           "read_dataset", "read_force_sets", "read_input", "read_phonopy_folder",
           "read_phonopy_yaml"]

"""Input: phonon datasets from files, ASE Atoms or pymatgen Structures; phono3py's FC3 datasets
(``phono3py_files``: ``FC3Dataset``, ``read_phono3py_folder``, ``read_phono3py_yaml``)."""

from phonjax.io.dataset import DatasetError, PhononDataset, dataset_from_crystal
from phonjax.io.phonopy_files import (read_born, read_force_sets, read_input, read_phonopy_folder,
                                      read_phonopy_yaml)
from phonjax.io.phono3py_files import FC3Dataset, read_phono3py_folder, read_phono3py_yaml
from phonjax.io.readers import dataset_id, read_dataset

__all__ = ["DatasetError", "FC3Dataset", "PhononDataset", "dataset_from_crystal", "dataset_id",
           "read_born", "read_dataset", "read_force_sets", "read_input", "read_phono3py_folder",
           "read_phono3py_yaml", "read_phonopy_folder", "read_phonopy_yaml"]

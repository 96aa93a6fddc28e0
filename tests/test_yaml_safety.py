"""A data file must never run code: every YAML phonjax reads goes through a safe loader.

PyYAML's full loader (the one phonopy's ``PhonopyYaml.read`` and ``phonopy.load`` use) turns
``!!python/object/apply:os.system ["..."]`` into a call of ``os.system``. A phonopy folder's
phonopy_disp.yaml or phonopy.yaml, a phonopy_params / Alexandria file, and the yaml that the
phonopy reference hands to ``phonopy.load`` are each given such a line whose command would
create a marker file: the file must be refused in one line naming the tag, and the marker
must not exist afterwards (the API, ``phonjax run``'s reader, and the ``phonjax phonons``
command line in a subprocess).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from phonjax.io import DatasetError, read_dataset, read_input
from phonjax.io.phonopy_files import read_phonopy_folder
from phonjax.io.readers import code_tag_in
from tests.conftest import EXAMPLES, sample_path

ROOT = Path(__file__).resolve().parents[1]
REFUSAL = "YAML tag that would run code"


def _payload(marker) -> str:
    return f'pwn: !!python/object/apply:os.system ["touch {marker}"]\n'


def _evil_folder(tmp_path, yaml_name: str, name: str = "evil"):
    """A copy of phonopy's NaCl example whose displacement yaml (named ``yaml_name``)
    opens with a line that would create ``tmp_path/PWNED``."""
    if not EXAMPLES.is_dir():
        pytest.skip("phonopy example folders not found")
    folder = tmp_path / name
    shutil.copytree(EXAMPLES / "NaCl", folder)
    for f in folder.iterdir():
        f.chmod(0o644)
    text = (folder / "phonopy_disp.yaml").read_text()
    (folder / "phonopy_disp.yaml").unlink()
    (folder / yaml_name).write_text(_payload(tmp_path / "PWNED") + text)
    return folder


@pytest.mark.parametrize("yaml_name", ["phonopy_disp.yaml", "phonopy.yaml"])
def test_phonopy_folder_with_a_python_tag_is_refused(tmp_path, yaml_name):
    folder = _evil_folder(tmp_path, yaml_name)
    for read in (read_input, read_phonopy_folder, lambda f: read_input(f / yaml_name)):
        with pytest.raises(DatasetError) as info:
            read(folder)
        message = str(info.value)
        assert "\n" not in message and yaml_name in message
        assert REFUSAL in message and "!!python/object/apply:os.system" in message
    assert not (tmp_path / "PWNED").exists()


def test_run_reader_refuses_a_python_tag(tmp_path):
    """``phonjax run FOLDER|phonopy.yaml`` reads through ``read_inputs``."""
    from phonjax.single.inputs import InputError, read_inputs

    folder = _evil_folder(tmp_path, "phonopy.yaml")
    for source in (folder, folder / "phonopy.yaml"):
        with pytest.raises(InputError, match=REFUSAL):
            read_inputs(source)
    assert not (tmp_path / "PWNED").exists()


def test_cli_refuses_python_tags_and_runs_nothing(tmp_path):
    disp = _evil_folder(tmp_path, "phonopy_disp.yaml", "evil_disp")
    params = _evil_folder(tmp_path, "phonopy.yaml", "evil_yaml")
    proc = subprocess.run([sys.executable, "-m", "phonjax", "phonons", str(disp), str(params),
                           "--json"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(errors) == 2, proc.stderr
    assert all(REFUSAL in line for line in errors), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "PWNED").exists()


def test_dataset_file_with_a_python_tag_anywhere_is_refused(tmp_path):
    """phonopy_params / Alexandria files: refused even when the tag sits in a section
    phonjax skips (phonopy.load would still run it)."""
    import lzma

    text = lzma.decompress(sample_path("mp-1000").read_bytes()).decode()
    for where, evil in (("extra key", _payload(tmp_path / "PWNED") + text),
                        ("force_constants", text + "force_constants: !!python/object/apply:"
                         f'os.system ["touch {tmp_path / "PWNED"}"]\n')):
        path = tmp_path / f"mp-1000-{where.replace(' ', '_')}.yaml"
        path.write_text(evil)
        with pytest.raises(DatasetError, match=REFUSAL):
            read_dataset(path)
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("text", [
    'a: !!python/object/apply:os.system ["true"]\n',
    'a: !<tag:yaml.org,2002:python/object/apply:os.system> ["true"]\n',
    '%TAG !p! tag:yaml.org,2002:python/\n---\na: !p!object/apply:os.system ["true"]\n',
    '%TAG !p! tag:yaml.org,2002:pyth\n---\na: !p!on/name:os.system ""\n',
    'a: [1, !!python/tuple [1, 2]]\n',
])
def test_every_spelling_of_a_python_tag_is_found(text):
    assert code_tag_in(text).startswith("tag:yaml.org,2002:python/")


@pytest.mark.parametrize("text", ["a: [1, 2, 3]\n", "a: 'hello!'  # wow!\n", "a: !!float 1\n"])
def test_plain_yaml_has_no_code_tag(text):
    assert code_tag_in(text) is None


def test_phonopy_reference_refuses_before_phonopy_load(tmp_path):
    """validation's reference hands the file to ``phonopy.load`` (full loader): it checks
    first."""
    from validation.reference import phonopy_reference

    folder = _evil_folder(tmp_path, "phonopy_disp.yaml")
    with pytest.raises(ValueError, match=REFUSAL):
        phonopy_reference(folder / "phonopy_disp.yaml", primitive_matrix=np.eye(3),
                          force_sets=folder / "FORCE_SETS", load_only=True)
    assert not (tmp_path / "PWNED").exists()

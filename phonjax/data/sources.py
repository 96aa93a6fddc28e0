"""Public reference datasets that ``phonjax data fetch NAME`` downloads, and where they land.

A :class:`Source` is a folder of per-material files on a public web server,
listed by the server's index page: its URL, the file-name pattern, the
top-level YAML keys every file must have, and the licence and citation that are
written next to the data. Fetched data lives in ``data_home()/NAME``:
``$PHONJAX_DATA`` if set, else ``$XDG_DATA_HOME/phonjax`` (default
``~/.local/share/phonjax``).

The Alexandria phonon benchmark (Loew, Sun, Wang, Botti, Marques, npj Comput.
Mater. 2025) publishes one ``mp-<id>.yaml.bz2`` per material under
``https://alexandria.icams.rub.de/data/phonon_benchmark/``: ``pbe/`` (the
benchmark's PBE reference, ~10,000 materials) and ``pbesol/`` (the PBEsol
phonondb/MDR reference it recomputed), both CC BY 4.0.

A source with ``files`` is a fixed set of files at pinned URLs instead, each checked against
its SHA-256: ``kappa-phonondb-pbe``, the κ benchmark's structures and DFT κ (Póta et al.
2024) from the k_SRME repository at one commit, GPL-3.0 (``phonjax bench --task kappa``
reads it; it is never shipped with phonjax).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ALEXANDRIA_PHONONS = "https://alexandria.icams.rub.de/data/phonon_benchmark"
CC_BY_4 = "CC BY 4.0"
_LICENCE_NAMES = {"CC BY 4.0": "Creative Commons Attribution 4.0 International"}
CC_BY_4_URL = "https://creativecommons.org/licenses/by/4.0/"
_LOEW2025 = ("A. Loew, D. Sun, H.-C. Wang, S. Botti, M. A. L. Marques, \"Universal machine "
             "learning interatomic potentials are ready for phonons\", npj Comput. Mater. (2025), "
             "doi:10.1038/s41524-025-01650-1")
_ALEXANDRIA = "the Alexandria database (M. A. L. Marques et al.), https://alexandria.icams.rub.de/"
_PHONONDB = "the Kyoto phonon database phonondb (A. Togo), PBEsol, whose materials the benchmark uses"


@dataclass(frozen=True)
class Source:
    name: str
    title: str
    index_url: str  # a folder URL whose index page links every file
    pattern: str  # regular expression a file name must match entirely
    required_keys: tuple[str, ...]  # top-level YAML keys every file has
    approx_files: int
    licence: str
    licence_url: str
    citations: tuple[str, ...]
    # pinned files instead of an index page: (file name, path under index_url, sha256)
    files: tuple[tuple[str, str, str], ...] = ()

    def url(self, file_name: str, index_url: str | None = None) -> str:
        return (index_url or self.index_url).rstrip("/") + "/" + file_name


def _alexandria(functional: str, title: str, citations: tuple[str, ...]) -> Source:
    """One functional's folder of the Alexandria phonon benchmark (``mp-<id>.yaml.bz2``)."""
    return Source(name=f"alexandria-{functional}", title=title,
                  index_url=f"{ALEXANDRIA_PHONONS}/{functional}/", pattern=r"mp-\d+\.yaml\.bz2",
                  required_keys=("unit_cell", "supercell_matrix", "primitive_matrix",
                                 "displacements"),
                  approx_files=10_000, licence=CC_BY_4, licence_url=CC_BY_4_URL,
                  citations=citations)


KSRME_COMMIT = "0269a946a1e4c53552b060a92b98df94e039fd80"
_POTA2024 = ("B. Póta, P. Ahlawat, G. Csányi, M. Simoncelli, \"Thermal conductivity predictions "
             "with foundation atomistic models\", arXiv:2408.00755 (2024); data: "
             "https://github.com/MPA2suite/k_SRME")
_KAPPA = Source(
    name="kappa-phonondb-pbe",
    title="κ_SRME benchmark: 103 PhononDB-PBE crystals and their DFT κ (Póta et al. 2024)",
    index_url=f"https://raw.githubusercontent.com/MPA2suite/k_SRME/{KSRME_COMMIT}/",
    pattern="", required_keys=(), approx_files=4, licence="GPL-3.0",
    licence_url="https://www.gnu.org/licenses/gpl-3.0.html",
    citations=(_POTA2024, "the Kyoto phonon database phonondb (A. Togo), PBE"),
    files=(("phononDB-PBE-structures.extxyz", "data/phononDB-PBE-structures.extxyz",
            "63e012fdafc61702ab22cdbda7e9c0603f57f54c2e464666585a9159e0ce5b38"),
           ("kappas_phononDB_PBE_noNAC.json.gz", "data/kappas_phononDB_PBE_noNAC.json.gz",
            "442f651d3272e8a104baab3e53241220bf66afc90559f593fb3d7697874506ea"),
           ("mp_id-phonondb_id.txt", "data/mp_id-phonondb_id.txt",
            "f4a5a4e464d557760bb37eaea9bd8a687acc12bfd44bd375410cd7a4600515bb"),
           ("LICENSE", "LICENSE",
            "3972dc9744f6499f0f9b2dbf76696f2ae7ad8af9b23dde66d6af86c9dfb36986")))

SOURCES = {s.name: s for s in (
    _alexandria("pbe", "Alexandria phonon benchmark, PBE (Loew et al. 2025)",
                (_LOEW2025, _ALEXANDRIA)),
    _alexandria("pbesol", "Alexandria phonon benchmark, PBEsol (the phonondb/MDR reference, "
                "Loew et al. 2025)", (_LOEW2025, _ALEXANDRIA, _PHONONDB)),
    _KAPPA,
)}


class UnknownSource(KeyError):
    def __str__(self) -> str:
        return self.args[0]


def source(name: str) -> Source:
    try:
        return SOURCES[name.lower()]
    except KeyError:
        raise UnknownSource(f"no dataset named {name!r}; known: {', '.join(SOURCES)}") from None


def data_home() -> Path:
    """Where fetched datasets live (see the module docstring)."""
    if os.environ.get("PHONJAX_DATA"):
        return Path(os.environ["PHONJAX_DATA"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser() / "phonjax"


def local_dir(name: str) -> Path:
    return data_home() / source(name).name


def licence_text(src: Source) -> str:
    """The LICENSE.md written next to fetched data."""
    cites = "\n".join(f"- {c}" for c in src.citations)
    if src.licence.startswith("GPL"):
        return (f"# {src.title}\n\nDownloaded by `phonjax data fetch {src.name}` from\n"
                f"{src.index_url}\n\nLicence: {src.licence}, {src.licence_url} (the full text "
                "is in LICENSE). phonjax reads these files as data; it does not copy or "
                f"distribute them.\n\nPlease cite:\n{cites}\n")
    return (f"# {src.title}\n\nDownloaded by `phonjax data fetch {src.name}` from\n"
            f"{src.index_url}\n\nLicence: {_LICENCE_NAMES.get(src.licence, src.licence)} "
            f"({src.licence}), {src.licence_url}.\n"
            "You may share and adapt these files if you give appropriate credit, link the "
            "licence and say whether you changed them.\n\nPlease cite:\n"
            f"{cites}\n")

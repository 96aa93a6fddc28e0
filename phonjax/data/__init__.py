"""Data shipped with phonjax: a 20-material phonondb sample (CC BY 4.0, see sample/ATTRIBUTION.md)."""

from importlib import resources
from pathlib import Path


def sample_dir() -> Path:
    return Path(str(resources.files("phonjax") / "data" / "sample"))


def sample_files() -> list[Path]:
    return sorted(sample_dir().glob("*.yaml.xz"))

"""Model weights on disk: fetching a missing checkpoint into its package's cache, hashing
it, and keeping the model hubs offline while a model loads.

Each family keeps its package's own cache layout, so weights fetched here are
found by the package and the other way round: plain URLs (MACE, MatterSim,
SevenNet's release assets) go through :func:`phonjax.download.download` to the
path the package's own downloader would write (resumable, atomic, size and
format checked, a progress bar with the size); Hugging Face repositories
(matgl, fairchem) through ``huggingface_hub.hf_hub_download`` with the package's
cache folder; ORB through ``cached_path`` as orb-models does.

:class:`WeightsMixin` is the weights half of the adapter protocol: which files a
variant needs, how they are fetched, what to tell a user who must provide them.
``weights_digest`` is the SHA-256 recorded with benchmark results: of the file,
or for a folder (matgl) of the lines ``<sha256>  <name>`` of its model files.
``hubs_offline`` sets the Hugging Face offline switches (environment and, when
``huggingface_hub`` is already imported, its module constant) for the duration of
a model load only: the files are local by then, and a hub client must not stall
on the network. Nothing here imports torch.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import os
import sys
from pathlib import Path
from typing import Iterator, Sequence

from phonjax.download import (OFFLINE_ENV, DownloadError, download, file_sha256, human_size,
                              offline, progress_bar, refuse_if_offline, remote_size)

OFFLINE_SWITCHES = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
_DIGESTS: dict[tuple, str] = {}


class WeightsNotFound(FileNotFoundError):
    """Weights of a variant are not on this machine; the message says how to provide them."""


def say(message: str) -> None:
    """One line on stderr (downloads and hashes are reported there, results on stdout)."""
    from rich.console import Console

    Console(stderr=True).print(message, highlight=False, soft_wrap=True)


@contextlib.contextmanager
def hubs_offline() -> Iterator[None]:
    """Hugging Face hub clients offline inside the block; the previous state after it."""
    saved = {name: os.environ.get(name) for name in OFFLINE_SWITCHES}
    hub = sys.modules.get("huggingface_hub.constants")
    previous = getattr(hub, "HF_HUB_OFFLINE", None)
    os.environ.update(OFFLINE_SWITCHES)
    if hub is not None:
        hub.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        hub_now = sys.modules.get("huggingface_hub.constants")
        if hub_now is not None:  # imported before or inside the block: back to what env says
            hub_now.HF_HUB_OFFLINE = previous if hub is not None else hub_now._is_true(
                os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE"))


def weights_digest(files: Sequence[Path]) -> str:
    """SHA-256 of one file; for several, of their ``<sha256>  <name>`` lines in name order."""
    digests = []
    for f in sorted(files, key=lambda p: p.name):
        stat = f.stat()
        key = (str(f.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in _DIGESTS:
            _DIGESTS[key] = file_sha256(f)
        digests.append((_DIGESTS[key], f.name))
    if len(digests) == 1:
        return digests[0][0]
    lines = "".join(f"{d}  {name}\n" for d, name in digests)
    return hashlib.sha256(lines.encode()).hexdigest()


def check_torch_file(path: Path) -> None:
    """Raise ValueError unless ``path`` starts like a torch.save file (zip or pickle)."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return
    what = "an HTML page" if head.lstrip().lower().startswith((b"<!doctype", b"<html")) else (
        f"bytes {head[:8]!r}")
    raise ValueError(f"not a torch checkpoint (starts with {what})")


def fetch_url(url: str, dest: Path, label: str) -> Path:
    """Download ``url`` to ``dest`` with a progress bar (announcing size and target)."""
    refuse_if_offline(url, f"put the file at {dest}")
    try:
        size = remote_size(url)
    except DownloadError:
        size = None  # HEAD refused: the GET will tell
    say(f"{label}: downloading {url.rsplit('/', 1)[-1]} ({human_size(size)}) from {url} to {dest}")
    with progress_bar(dest.name) as progress:
        got = download(url, dest, progress=progress, check=check_torch_file, lock=True)
    return got.path


def hf_download(repo_id: str, filenames: Sequence[str], cache_dir: Path, label: str) -> list[Path]:
    """``hf_hub_download`` of each file into ``cache_dir`` (the package's own layout)."""
    refuse_if_offline(f"{repo_id} from huggingface.co", f"fill {cache_dir}")
    from huggingface_hub import hf_hub_download

    say(f"{label}: downloading {', '.join(filenames)} of {repo_id} from huggingface.co into "
        f"{cache_dir}")
    paths = []
    for name in filenames:
        try:
            paths.append(Path(hf_hub_download(repo_id=repo_id, filename=name,
                                              cache_dir=str(cache_dir))))
        except Exception as exc:  # the hub's errors are many; one line each
            first = (str(exc).strip().splitlines() or [""])[0]
            raise DownloadError(f"{repo_id}/{name}: {type(exc).__name__}: {first}") from None
    return paths


def cached_path_download(url: str, cache_dir: Path, label: str) -> Path:
    """``cached_path(url)`` into ``cache_dir``, as orb-models fetches its checkpoints."""
    refuse_if_offline(url, f"fill {cache_dir}")
    try:
        size = remote_size(url)
    except DownloadError:
        size = None
    say(f"{label}: downloading {url.rsplit('/', 1)[-1]} ({human_size(size)}) from {url} into "
        f"{cache_dir}")
    from cached_path import cached_path

    try:
        path = Path(cached_path(url, cache_dir=str(cache_dir)))
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise DownloadError(f"{url}: {type(exc).__name__}: {first}") from None
    try:
        check_torch_file(path)
    except ValueError as exc:  # drop the bad entry so the next try fetches again
        for f in (path, path.with_name(path.name + ".json")):
            f.unlink(missing_ok=True)
        raise DownloadError(f"bad content ({exc}): {url}") from None
    return path


def hf_token_available() -> bool:
    """Whether a Hugging Face token is configured (gated repos need one), without the hub."""
    if os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN"):
        return True
    hf_home = Path(os.environ.get("HF_HOME") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "huggingface")
    token_file = Path(os.environ.get("HF_TOKEN_PATH") or hf_home / "token").expanduser()
    return token_file.is_file() and token_file.stat().st_size > 0


class WeightsMixin(abc.ABC):
    """Finding, fetching and identifying a variant's weights (part of ``base.Adapter``).

    Uses the adapter's ``title``, ``variant``, ``checkpoint`` and ``_offline``.
    A family implements ``weight_files`` and, when its package downloads, either
    ``weights_url`` (a plain URL, saved to ``download_dest``) or ``can_download`` +
    ``download_weights``.
    """

    @abc.abstractmethod
    def weight_files(self) -> list[Path]:
        """Local files the named variant needs, at the paths the package's loader reads."""

    def weights_hint(self) -> str:
        """How to provide the weights of the named variant by hand (e.g. on an offline machine)."""
        return "pass checkpoint=PATH to a local copy of the weights"

    def weights_label(self, path: Path) -> str:
        """A short name for a weights file, for tables."""
        return path.name

    @property
    def offline(self) -> bool:
        """True when weights must not be downloaded (constructor, else ``PHONJAX_OFFLINE``)."""
        return offline() if self._offline is None else self._offline

    def weights_url(self) -> str | None:
        """Plain HTTP(S) URL of the named variant's weights, if the package fetches them so."""
        return None

    def download_dest(self) -> Path:
        """Where ``weights_url`` is saved: the path the package's own downloader writes."""
        return self.weight_files()[0]

    def can_download(self) -> bool:
        return self.weights_url() is not None

    def licence_note(self) -> str | None:
        """Printed before a download when the weights come under their own licence."""
        return None

    def download_weights(self) -> None:
        """Fetch the named variant's weights into the package's cache (network)."""
        fetch_url(self.weights_url(), self.download_dest(), f"{self.title} {self.variant}")

    def missing_weights(self) -> list[Path]:
        """Files still needed before the model can load (empty when all are here)."""
        if self.checkpoint is not None:
            return [] if self.checkpoint.exists() else [self.checkpoint]
        return [f for f in self.weight_files() if not f.exists()]

    def _will_download(self) -> bool:
        return self.checkpoint is None and not self.offline and self.can_download()

    def resolve_weights(self) -> Path:
        """The checkpoint to load; raises :class:`WeightsNotFound` naming what is missing."""
        missing = self.missing_weights()
        if missing:
            if self.checkpoint is not None:
                why, how = "checkpoint not found", ""
            elif self.offline and self.can_download():
                why = ("weights not on this machine and downloads are off "
                       f"({OFFLINE_ENV}=1 or --offline)")
                how = (". To provide them: run once with downloads allowed (they land at that "
                       f"path), or {self.weights_hint()}")
            else:
                why, how = "weights not found", f". To provide them: {self.weights_hint()}"
            raise WeightsNotFound(f"{self.title} {self.variant}: {why}; missing "
                                  + ", ".join(str(m) for m in missing) + how)
        return self.checkpoint or self.weight_files()[0]

    def ensure_weights(self) -> Path:
        """The checkpoint to load, fetched first when missing and downloads are allowed."""
        missing = self.missing_weights()
        if missing and self._will_download():
            note = self.licence_note()
            if note:
                say(note)
            try:
                self.download_weights()
            except DownloadError as exc:
                raise WeightsNotFound(f"{self.title} {self.variant}: download failed: {exc}. "
                                      f"To provide the weights by hand: {self.weights_hint()}"
                                      ) from None
        path = self.resolve_weights()
        if missing:
            say(f"{self.title} {self.variant}: weights {path}, sha256 {self.weights_sha256}")
        return path

    def weight_digest_files(self, path: Path) -> list[Path]:
        """The files whose hash identifies the weights at ``path`` (a file, or its model files)."""
        return [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file())

    @property
    def weights_path(self) -> Path:
        """The weights this variant loads (file or folder); WeightsNotFound when missing."""
        return self.resolve_weights()

    @property
    def weights_sha256(self) -> str:
        """SHA-256 of the weights (see ``weights.weights_digest``), recorded with results."""
        return weights_digest(self.weight_digest_files(self.weights_path))


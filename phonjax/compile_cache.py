"""JAX's persistent compilation cache for phonjax's kernels.

Every kernel shape (one per size bucket) costs 0.2-2 s of XLA compilation in a
fresh process. The CPU path's jitted pieces contain no host callbacks, so XLA
can store them on disk: a second run, or a resumed bench, compiles nothing.
``PHONJAX_JAX_CACHE`` picks the folder (default ``~/.cache/phonjax/jax``);
``PHONJAX_JAX_CACHE=0`` turns the cache off.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT = Path.home() / ".cache" / "phonjax" / "jax"


def enable_compilation_cache(folder: str | os.PathLike | None = None) -> str | None:
    """Turn the cache on (folder, else $PHONJAX_JAX_CACHE, else the default); returns
    the folder, or None when turned off or unsupported by this jax."""
    folder = str(folder) if folder is not None else os.environ.get("PHONJAX_JAX_CACHE", str(DEFAULT))
    if folder in ("0", ""):
        return None
    try:
        import jax

        jax.config.update("jax_compilation_cache_dir", folder)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    except Exception:  # an older jax without the cache: just slower
        return None
    return folder

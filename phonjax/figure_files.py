"""PNG files of matplotlib figures: the Agg backend and atomic writes.

``pyplot()`` is ``matplotlib.pyplot`` on the Agg backend (no display needed: phonjax runs on
clusters and in CI). ``save_png(fig, path, **savefig)`` writes the figure through a temporary
file renamed onto ``path`` (``atomic_write.replace_file``: an interrupted run leaves the old file
or none, never a 0-byte or half PNG) and closes the figure, whatever happens. Every PNG phonjax
writes goes through these two.
"""

from __future__ import annotations

import os
from pathlib import Path


def pyplot(force: bool = False):
    """``matplotlib.pyplot`` with the Agg backend selected (``force``: even over another)."""
    import matplotlib

    matplotlib.use("Agg", force=force)
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: str | os.PathLike, **savefig) -> Path:
    """``fig`` as PNG at ``path`` (``savefig``: matplotlib's options, e.g. dpi), written
    atomically; the figure is closed afterwards. Returns the path."""
    from phonjax.atomic_write import replace_file

    try:
        replace_file(path, lambda tmp: fig.savefig(tmp, format="png", **savefig))
    finally:
        pyplot().close(fig)
    return Path(path)

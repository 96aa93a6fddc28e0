"""Rich consoles that never cut a value.

rich lays out for the terminal's width, and for 80 columns when the output is not
a terminal, cutting table cells to ``mp-10…`` and wrapping one-line messages. When
the stream is not a terminal (a pipe, a file, a test) these consoles are wide
enough for any table or message, so every digit and id arrives in full; on a
terminal, tables are built to fit 80 columns and fold rather than cut
(``fit_table``).
"""

from __future__ import annotations

import sys

WIDE = 1000  # columns when the stream is not a terminal
# phonjax's own modules (the core and the model adapters), as warning filters see them
OWN_MODULES = r"(phonjax|phonjax_adapters)(\.|$)"


def _console(stream, stderr: bool):
    from rich.console import Console

    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=WIDE)


def stdout_console():
    return _console(sys.stdout, stderr=False)


def stderr_console():
    return _console(sys.stderr, stderr=True)


def fit_table(table):
    """Cells of every column fold onto a second line instead of ending in '…' when the
    terminal is too narrow; a compact box (no outer edge, no padding, one space between
    columns)."""
    from rich import box

    table.box = box.SIMPLE_HEAD
    table.show_edge = False
    table.pad_edge = False
    table.padding = (0, 0)
    for column in table.columns:
        column.overflow = "fold"
    return table


def warn_distance_once(distance_A: float, err) -> None:
    """One warning line on ``err`` (a rich console) for a displacement length in the warned
    range (``options.DISPLACEMENT_RULE``), instead of ``prepare``'s Python warning for every
    crystal or material; for the command lines, like ``quiet_third_party_warnings``."""
    import warnings

    from phonjax.options import DisplacementWarning, displacement_warning

    line = displacement_warning(distance_A)
    if line:
        err.print(f"[yellow]warning[/yellow]: {line}", highlight=False, soft_wrap=True)
    warnings.filterwarnings("ignore", category=DisplacementWarning)


def quiet_third_party_warnings(verbose: bool = False) -> None:
    """Hide other packages' warnings (CHGNet's and torch's UserWarnings, deprecations in
    ase, pymatgen, spglib, phonopy …), keep phonjax's own (e.g. its RuntimeWarning about
    Born charges that break the crystal's symmetry), for the command lines.

    A warning belongs to the module Python attributes it to: the code at the warning's
    stacklevel. Other modules' warnings are ignored; phonjax's go through the filters as
    before. Nothing changes with ``verbose`` (``-v``), which also shows what model packages
    print while loading (their banners, logged by the adapters), or when the user set filters
    (``python -W``, ``PYTHONWARNINGS``). It changes the process's warning filters, so it
    is for command lines, never called by the library.
    """
    import logging
    import warnings

    if verbose:  # what model packages print while loading (phonjax_adapters.base.printed_to_log)
        logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
        logging.getLogger("phonjax_adapters").setLevel(logging.INFO)
    if verbose or sys.warnoptions:
        return
    warnings.filterwarnings("ignore", module=f"(?!{OWN_MODULES})")

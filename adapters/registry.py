"""Discovering adapters through the ``phonjax.adapters`` entry-point group.

Each entry point names an :class:`~phonjax_adapters.base.Adapter` subclass.
phonjax registers its own families in pyproject.toml; another package adds a
family by declaring, in its own metadata::

    [project.entry-points."phonjax.adapters"]
    mymodel = "mypackage.phonjax_adapter:MyModelAdapter"

Nothing here imports torch or a model package, so listing models stays fast.
"""

from __future__ import annotations

import warnings
from importlib.metadata import entry_points

from rich.markup import escape
from rich.table import Table

from phonjax_adapters.base import Adapter, package_version

GROUP = "phonjax.adapters"


def adapter_classes() -> dict[str, type[Adapter]]:
    """Every registered adapter class by entry-point name, in name order.

    A plug-in that fails to import is left out with a warning rather than
    breaking every other family.
    """
    classes = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        try:
            classes[ep.name] = ep.load()
        except Exception as err:  # a third-party plug-in's bug must not hide the others
            warnings.warn(f"phonjax adapter {ep.name!r} ({ep.value}) failed to load: {err}")
    return classes


def _find(name: str, variant: str | None) -> tuple[type[Adapter], str | None]:
    classes = adapter_classes()
    key = name.lower()
    if key in classes:
        return classes[key], variant
    if ":" in name:  # "family:variant"
        family, _, inner = name.partition(":")
        if family.lower() in classes:
            return classes[family.lower()], inner
    for cls in classes.values():  # a bare variant name, e.g. "7net-0"
        if name in cls.variants or name in cls.aliases:
            return cls, name
    raise KeyError(
        f"no phonjax adapter named {name!r}; registered families: {', '.join(classes)} "
        "(`python -m phonjax models` lists them with their variants)"
    )


def get_adapter(name: str, variant: str | None = None, **kw) -> Adapter:
    """An (unloaded) adapter for family ``name`` (or ``"family:variant"``, or a variant name).

    Keyword arguments go to the adapter: ``checkpoint=``, ``device=``, ``dtype=``,
    ``max_atoms=`` and family-specific ones (e.g. SevenNet's ``modal=``).
    """
    cls, chosen = _find(name, variant)
    return cls(chosen, **kw)


def models_table() -> Table:
    """A rich table of every registered family and variant and whether it can run here.

    Built to fit 80 columns: the package and its version sit under the family name, the
    columns fold long variant names and reasons instead of cutting them."""
    from phonjax.terminal import fit_table

    table = Table(
        title="phonjax model adapters",
        caption=(
            "* default variant; dtype: the default; batch: many structures per model call; "
            "weights marked 'on first use' download into the package's cache when the model "
            "first loads (never with --offline / PHONJAX_OFFLINE=1); "
            "get_adapter(family, variant).load() says how to provide missing weights"
        ),
    )
    table.add_column("family / package", min_width=13, max_width=16)
    table.add_column("variant", min_width=10)
    table.add_column("available", min_width=16)
    table.add_column("dtype", no_wrap=True)
    table.add_column("batch", no_wrap=True)
    for name, cls in adapter_classes().items():
        version = package_version(cls.distribution)
        package = f"{cls.distribution} {version}" if version else f"{cls.distribution} (missing)"
        for i, variant in enumerate(cls.variants):
            found = cls(variant).availability()
            table.add_row(
                f"[bold]{name}[/bold]\n{escape(package)}" if i == 0 else "",
                escape(variant) + (" *" if i == 0 else ""),
                "[green]yes[/green]" if found and not found.downloads
                else f"[yellow]{escape(found.reason)}[/yellow]" if found
                else f"[red]no[/red]: {escape(found.reason)}",
                cls.dtypes[0],
                "yes" if cls.batched else "no",
            )
        table.add_section()
    return fit_table(table)

"""``python -m phonjax bench [run options]`` and ``python -m phonjax bench report``.

With no arguments: CHGNet 0.3.0 on the bundled 20-material phonondb sample
under the ``loew2024`` protocol, results in ./phonjax-results (store
``bench.sqlite``, tables, per-material CSV/Parquet, figures). Re-running
continues where the last run stopped.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

from phonjax.options import OneLineParser

DEFAULT_MODEL = "chgnet:0.3.0"
DEFAULT_OUT = "phonjax-results"
STORE_NAME = "bench.sqlite"


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default=DEFAULT_OUT, help=f"results folder (default ./{DEFAULT_OUT})")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE first (it may register models with phonjax.bench.models)")
    p.add_argument("--compare-to", action="append", default=[], metavar="DATASET",
                   help="also score this dataset's reference against DATASET's reference "
                        "(e.g. PBEsol phonondb vs the PBE binaries' Cv); repeatable")
    p.add_argument("--no-figures", action="store_true", help="tables only")


def run_parser() -> argparse.ArgumentParser:
    from phonjax.bench.protocols import DEFAULT_PROTOCOL, PRESETS

    p = OneLineParser(prog="phonjax bench", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter,
                      epilog="`phonjax bench report --help` rebuilds tables and figures.")
    p.add_argument("--dataset", nargs="+", default=None, metavar="PATH",
                   help="folder(s) or files (phonopy_params / Alexandria YAML, the PBE binaries "
                        "JSON) or 'sample' (default: the bundled 20-material phonondb sample)")
    p.add_argument("--dataset-label", default=None, help="name of the dataset in the store")
    p.add_argument("--limit", type=int, default=None, help="first N materials (by id)")
    p.add_argument("--model", action="append", default=None, metavar="NAME[:VARIANT]",
                   help=f"model to benchmark, repeatable (default {DEFAULT_MODEL})")
    p.add_argument("--reference-only", action="store_true",
                   help="compute only the dataset's DFT reference (no model), e.g. for "
                        "--compare-to between two references")
    p.add_argument("--protocol", default=DEFAULT_PROTOCOL, choices=sorted(PRESETS))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a protocol setting, e.g. --set mesh=8x8x8 --set "
                        "gamma_acoustic_tolerance_K=35 (see --list-protocols)")
    p.add_argument("--list-protocols", action="store_true", help="print the presets and exit")
    p.add_argument("--device", default="cpu")
    p.add_argument("--max-atoms", type=int, default=None,
                   help="atoms per model call (default 256 on CPU, where bigger calls were "
                        "measured slower and CHGNet needs ~8 MB per atom; 2048 on GPUs)")
    p.add_argument("--chunk-size", type=int, default=8, help="materials per unit of work")
    p.add_argument("--lanes", type=int, default=None,
                   help="model calls side by side, one torch thread each (default: one per "
                        "CPU core, at most 4, on CPU; 1 on GPUs)")
    p.add_argument("--executor", choices=("inprocess", "dask"), default="inprocess")
    p.add_argument("--scheduler", default=None, help="dask scheduler address")
    p.add_argument("--shard", default=None, metavar="i/n", help="only shard i of n (0 ≤ i < n)")
    p.add_argument("--retry-failed", action="store_true", help="recompute recorded failures")
    p.add_argument("--no-progress", action="store_true")
    _common(p)
    return p


def report_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="phonjax bench report",
                      description="Rebuild tables and figures from the store.")
    p.add_argument("--dataset-label", default=None, help="only this dataset")
    p.add_argument("--protocol", default=None, help="only this protocol key (e.g. loew2024@v1)")
    _common(p)
    return p


def _overrides(pairs: list[str]) -> dict:
    out = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set wants KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def _plugins(names: list[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ValueError(f"--plugin {name}: {exc}") from None


def _report(store, out: Path, datasets_protocols, compare_to, figures, console) -> list:
    from phonjax.bench.report import build

    built = []
    for dataset, protocol in datasets_protocols:
        cross = [(dataset, other) for other in compare_to if other != dataset]
        console.print(f"\n[bold]dataset {dataset} · protocol {protocol}[/bold]")
        built.append(build(store, dataset, protocol, out, cross=cross, figures=figures,
                           console=console))
    return built


def main_report(argv: list[str]) -> int:
    from rich.console import Console

    from phonjax.bench.store import Store

    args = report_parser().parse_args(argv)
    console = Console()
    out = Path(args.out)
    if not (out / STORE_NAME).exists():
        console.print(f"[red]error[/red]: no store at {out / STORE_NAME}; run `phonjax bench` first")
        return 2
    with Store(out / STORE_NAME) as store:
        rows = store.frame()
        pairs = sorted({(d, p) for d, p in zip(rows["dataset"], rows["protocol"])
                        if (args.dataset_label in (None, d)) and (args.protocol in (None, p))})
        pairs = [(d, p) for d, p in pairs
                 if (rows[(rows["dataset"] == d) & (rows["protocol"] == p)]["model"] != "dft").any()
                 or args.dataset_label == d]
        if not pairs:
            console.print("[red]error[/red]: nothing in the store matches")
            return 2
        _report(store, out, pairs, args.compare_to, not args.no_figures, console)
    console.print(f"tables and figures in {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    from phonjax.compile_cache import enable_compilation_cache

    enable_compilation_cache()
    if argv and argv[0] == "report":
        return main_report(argv[1:])
    if argv and argv[0] == "run":
        argv = argv[1:]
    parser = run_parser()
    args = parser.parse_args(argv)

    from rich.console import Console

    from phonjax.bench import models as model_registry
    from phonjax.bench import protocols
    from phonjax.bench.executors import make_executor
    from phonjax.bench.inputs import InputError, list_materials
    from phonjax.bench.runner import BenchError, RichProgress, run, shard
    from phonjax.bench.store import Store

    console, err = Console(), Console(stderr=True)
    if args.list_protocols:
        for name, p in protocols.PRESETS.items():
            console.print(f"[bold]{name}[/bold] ({p.key}): {p.to_json()}")
        return 0
    t0 = time.perf_counter()
    try:
        _plugins(args.plugin)
        protocol = protocols.resolve(args.protocol, _overrides(args.set))
        if args.reference_only and args.model:
            raise ValueError("--reference-only takes no --model")
        models = ([] if args.reference_only else
                  [model_registry.check_spec(m) for m in (args.model or [DEFAULT_MODEL])])
        if args.limit is not None and args.limit < 1:
            raise ValueError("--limit must be ≥ 1")
        if args.max_atoms is None:
            args.max_atoms = 256 if args.device == "cpu" else 2048
        if args.chunk_size < 1 or args.max_atoms < 1 or (args.lanes is not None
                                                         and args.lanes < 1):
            raise ValueError("--chunk-size, --max-atoms and --lanes must be ≥ 1")
        label, materials, problems = list_materials(args.dataset, args.dataset_label)
        materials = shard(sorted(materials, key=lambda m: m.material_id), args.shard)
        if args.limit:
            materials = materials[: args.limit]
        executor = make_executor(args.executor, args.scheduler)
    except (ValueError, InputError) as exc:
        err.print(f"[red]error[/red]: {exc}", highlight=False)
        return 2
    for problem in problems:
        err.print(f"[yellow]skipped[/yellow] {problem}", highlight=False)
    out = Path(args.out)
    err.print(f"dataset [bold]{label}[/bold]: {len(materials)} materials · models "
              f"{', '.join(models) or 'none (reference only)'} · protocol {protocol.key} · "
              f"store {out / STORE_NAME}")
    status = 0
    with Store(out / STORE_NAME) as store:
        try:
            tallies = run(materials, models, protocol, store, executor,
                          chunk_size=args.chunk_size, device=args.device,
                          max_atoms=args.max_atoms, lanes=args.lanes,
                          retry_failed=args.retry_failed,
                          progress=None if args.no_progress else RichProgress(err))
        except BenchError as exc:
            err.print(f"[red]error[/red]: {exc}", highlight=False)
            return 1
        finally:
            executor.close()
        for model, t in tallies.items():
            err.print(f"{model}: {t.computed} computed ({t.failed} failed), {t.already} already "
                      f"in the store, {len(t.input_errors)} unreadable", highlight=False)
            for problem in t.input_errors if model == "dft" else []:
                err.print(f"  [yellow]skipped[/yellow] {problem}", highlight=False)
        try:
            built = _report(store, out, [(label, protocol.key)], args.compare_to,
                            not args.no_figures, console)
        except ValueError as exc:
            err.print(f"[red]error[/red]: {exc}", highlight=False)
            return 1
    wall = time.perf_counter() - t0
    for b in built:
        console.print(f"tables: {b['markdown'].parent}  ·  per-material: {out}  ·  "
                      f"figures: {out / 'figures'} ({len(b['figures'])})")
    console.print(f"store: {out / STORE_NAME}  ·  wall time {wall:.1f} s")
    return status

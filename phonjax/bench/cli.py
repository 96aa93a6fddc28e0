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

from phonjax.options import OneLineParser, add_plan_options, plan_of
from phonjax.resources import MEMORY_OPTION_HELP
from phonjax.terminal import (quiet_third_party_warnings, stderr_console, stdout_console,
                              warn_distance_once)

DEFAULT_MODEL = "chgnet:0.3.0"
DEFAULT_OUT = "phonjax-results"
STORE_NAME = "bench.sqlite"


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default=DEFAULT_OUT, help=f"results folder (default ./{DEFAULT_OUT})")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE first (it may register models with phonjax.pipeline.models); "
                        "its code runs, from the current folder first under python -m")
    p.add_argument("--compare-to", action="append", default=[], metavar="DATASET",
                   help="also score this dataset's reference against DATASET's reference "
                        "(e.g. PBEsol phonondb vs the PBE binaries' Cv); repeatable")
    p.add_argument("--no-figures", action="store_true", help="tables only")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="also show other packages' warnings (torch, the models, ase, pymatgen, "
                        "spglib, phonopy); phonjax's own always show")


def run_parser() -> argparse.ArgumentParser:
    from phonjax.bench.kappa_task import KAPPA_PRESETS
    from phonjax.bench.protocols import PRESETS

    p = OneLineParser(prog="phonjax bench", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter,
                      epilog="`phonjax bench report --help` rebuilds tables and figures.")
    p.add_argument("--dataset", nargs="+", default=None, metavar="PATH",
                   help="folder(s) or files (phonopy_params / Alexandria YAML, the PBE binaries "
                        "JSON), 'sample' (default: the bundled 20-material phonondb sample), or "
                        "a dataset fetched with `phonjax data fetch NAME` (alexandria-pbe, "
                        "alexandria-pbesol)")
    p.add_argument("--dataset-label", default=None, help="name of the dataset in the store")
    p.add_argument("--limit", type=int, default=None, help="first N materials (by id)")
    p.add_argument("--model", action="append", default=None, metavar="NAME[:VARIANT]",
                   help=f"model to benchmark, repeatable (default {DEFAULT_MODEL})")
    p.add_argument("--reference-only", action="store_true",
                   help="compute only the dataset's DFT reference (no model), e.g. for "
                        "--compare-to between two references")
    p.add_argument("--task", choices=("phonons", "kappa"), default=None,
                   help="phonons (default: the harmonic benchmark of Loew et al. 2024) or kappa "
                        "(the κ_SRME benchmark of Póta et al. 2024 on its 103 PhononDB-PBE "
                        "crystals; implied by a κ protocol)")
    p.add_argument("--protocol", default=None, choices=sorted(PRESETS) + sorted(KAPPA_PRESETS),
                   help="default loew2024 (task phonons), kappa-srme (task kappa)")
    p.add_argument("--material", action="append", default=[], metavar="ID",
                   help="only these material ids (repeatable; task kappa: mp ids)")
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
    p.add_argument("--recompute-unverified", action="store_true",
                   help="recompute rows stored before phonjax recorded input hashes and model "
                        "identities (by default they are reused)")
    p.add_argument("--no-progress", action="store_true")
    add_plan_options(p, MEMORY_OPTION_HELP + "; a material over it fails alone")
    p.add_argument("--break-claims", action="store_true",
                   help="compute materials another run has claimed in the store: for claims "
                        "no run holds any more (a run killed on another machine, or a pid "
                        "phonjax could not check); two live runs would compute them twice")
    p.add_argument("--offline", action="store_true",
                   help="no network access: models whose weights are missing fail at once, "
                        "naming the files (same as PHONJAX_OFFLINE=1)")
    _common(p)
    return p


def report_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="phonjax bench report",
                      description="Rebuild tables and figures from the store.")
    p.add_argument("--dataset-label", default=None, help="only this dataset")
    p.add_argument("--protocol", default=None, help="only this protocol key (e.g. loew2024@v1)")
    p.add_argument("--report-dir", default=None, metavar="DIR",
                   help="where tables, per-material files and figures go (default: --out; "
                        "the store is only read, so --out may be read-only)")
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
    from phonjax.bench import kappa_report
    from phonjax.bench.report import build

    built = []
    for dataset, protocol in datasets_protocols:
        cross = [(dataset, other) for other in compare_to if other != dataset]
        console.print(f"\n[bold]dataset {dataset} · protocol {protocol}[/bold]")
        try:
            if protocol.startswith("kappa-"):
                built.append(kappa_report.build(store, dataset, protocol, out,
                                                figures=figures, console=console))
                continue
            built.append(build(store, dataset, protocol, out, cross=cross, figures=figures,
                               console=console))
        except OSError as exc:
            raise ReportError(f"cannot write the tables and figures to {out} "
                              f"({exc.strerror or exc}): give --report-dir a writable folder"
                              ) from None
    return built


class ReportError(RuntimeError):
    pass


def main_report(argv: list[str]) -> int:
    from phonjax.bench.store import Store

    args = report_parser().parse_args(argv)
    quiet_third_party_warnings(args.verbose)
    console = stdout_console()
    out = Path(args.out)
    with Store(out / STORE_NAME, readonly=True) as store:  # also in a read-only folder
        rows = store.frame()
        unreadable = store.unreadable(args.dataset_label, args.protocol)
        if rows.empty:
            raise ReportError(f"the store {out / STORE_NAME} holds no results yet" if not
                              unreadable else f"no row of the store {out / STORE_NAME} can be "
                              f"read ({_describe_unreadable(unreadable)})")
        pairs = sorted({(d, p) for d, p in zip(rows["dataset"], rows["protocol"])
                        if (args.dataset_label in (None, d)) and (args.protocol in (None, p))})
        pairs = [(d, p) for d, p in pairs
                 if (rows[(rows["dataset"] == d) & (rows["protocol"] == p)]["model"] != "dft").any()
                 or args.dataset_label == d]
        if not pairs:
            also = f"; unreadable: {_describe_unreadable(unreadable)}" if unreadable else ""
            raise ReportError(_nothing_matches(rows, args.dataset_label, args.protocol) + also)
        written = Path(args.report_dir or out)
        _report(store, written, pairs, args.compare_to, not args.no_figures, console)
    console.print(f"tables and figures in {written}")
    if unreadable:
        err = stderr_console()
        for key, why in unreadable:
            err.print(f"[yellow]skipped[/yellow] store row {_row_name(key)}: {why}",
                      highlight=False, soft_wrap=True)
        err.print(f"[yellow]exit status 1[/yellow]: {len(unreadable)} unreadable store row(s) "
                  "left out of the tables; `phonjax bench` with the same dataset, model and "
                  "protocol computes them again", highlight=False, soft_wrap=True)
        return 1
    return 0


def _row_name(key: dict) -> str:
    """A store row's key in words: material, model, dataset, protocol."""
    return (f"{key['material_id']} · {key['model']} (dataset {key['dataset']}, protocol "
            f"{key['protocol']})")


def _describe_unreadable(unreadable: list) -> str:
    """The first few unreadable rows and why, on one line."""
    shown = "; ".join(f"{_row_name(key)}: {why}" for key, why in unreadable[:3])
    more = f"; and {len(unreadable) - 3} more" if len(unreadable) > 3 else ""
    return shown + more


def _nothing_matches(rows, label: str | None, protocol: str | None) -> str:
    """Why ``bench report`` found nothing to report, with what the store holds and the
    options that select it."""
    from phonjax.bench import REFERENCE_MODEL

    held = []
    for (d, p), group in rows.groupby(["dataset", "protocol"], sort=True):
        models = ", ".join(sorted(set(group["model"])))
        held.append(f"dataset {d!r} · protocol {p} · models {models}")
    holds = "; ".join(held)
    if label is None and protocol is None:
        labels = sorted(set(rows["dataset"]))
        which = labels[0] if len(labels) == 1 else f"LABEL (one of {', '.join(labels)})"
        return (f"the store holds only reference ({REFERENCE_MODEL}) rows ({holds}); a "
                f"reference-only dataset is reported when named: add --dataset-label {which}")
    given = " ".join(f"{o} {v}" for o, v in (("--dataset-label", label), ("--protocol", protocol))
                     if v is not None)
    return (f"nothing in the store matches {given}; it holds {holds}: choose with "
            "--dataset-label LABEL and --protocol KEY")


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done; 1 a model could not run, inputs were unreadable, or the store
    could not be used; 2 a usage error; 130 interrupted (finished materials are kept)."""
    import sqlite3

    from phonjax.bench.store import StoreError

    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if argv and argv[0] == "report":
            return main_report(argv[1:])
        return main_run(argv[1:] if argv and argv[0] == "run" else argv)
    except KeyboardInterrupt:
        print("phonjax bench: interrupted; every finished material is in the store: run the "
              "same command again to continue", file=sys.stderr)
        return 130
    except (StoreError, ReportError, sqlite3.Error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def main_run(argv: list[str]) -> int:
    from phonjax.bench.kappa_task import DEFAULT_KAPPA_PROTOCOL, KAPPA_PRESETS
    from phonjax.bench.protocols import DEFAULT_PROTOCOL

    args = run_parser().parse_args(argv)
    quiet_third_party_warnings(args.verbose)
    kappa = args.task == "kappa" or (args.task is None and args.protocol in KAPPA_PRESETS)
    if kappa and args.protocol not in (None, *KAPPA_PRESETS):
        run_parser().error(f"--task kappa takes a κ protocol ({', '.join(KAPPA_PRESETS)}), "
                           f"not {args.protocol}")
    if not kappa and args.protocol in KAPPA_PRESETS:
        run_parser().error(f"--protocol {args.protocol} is a κ protocol: it needs --task kappa")
    args.protocol = args.protocol or (DEFAULT_KAPPA_PROTOCOL if kappa else DEFAULT_PROTOCOL)
    if args.offline:
        from phonjax.download import set_offline

        set_offline()  # inherited by worker processes
    from phonjax.pipeline import models as model_registry
    from phonjax.bench import protocols
    from phonjax.bench.executors import make_executor
    from phonjax.bench.inputs import InputError, list_materials
    from phonjax.bench.runner import BenchError, RichProgress, run, shard
    from phonjax.bench.store import Store
    from phonjax.compile_cache import enable_compilation_cache

    console, err = stdout_console(), stderr_console()
    if args.list_protocols:
        for name, p in {**protocols.PRESETS, **KAPPA_PRESETS}.items():
            console.print(f"[bold]{name}[/bold] ({p.key}): {p.to_json()}")
        return 0
    try:
        plan = plan_of(args)  # a plan it refuses: one line, before any work
    except ValueError as exc:
        err.print(f"[red]error[/red]: {exc}", highlight=False, soft_wrap=True)
        return 2
    if args.plan is None and args.memory_gb is None:
        plan = None  # each worker's own default_plan() (a dask worker may have a GPU)
    enable_compilation_cache()
    t0 = time.perf_counter()
    try:
        _plugins(args.plugin)
        if kappa:
            from phonjax.bench import kappa_task

            protocol = kappa_task.resolve_kappa(args.protocol, _overrides(args.set))
            if args.reference_only:
                raise ValueError("task kappa has no reference to compute: the DFT κ is read "
                                 "from the dataset")
        else:
            protocol = protocols.resolve(args.protocol, _overrides(args.set))
            warn_distance_once(protocol.distance_A, err)
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
        if kappa:
            label, materials, problems = kappa_task.list_kappa_materials(args.dataset,
                                                                        args.dataset_label)
        else:
            label, materials, problems = list_materials(args.dataset, args.dataset_label)
        if args.material:
            known = {m.material_id for m in materials}
            missing = [i for i in args.material if i not in known]
            if missing:
                raise ValueError(f"--material {', '.join(missing)}: not in dataset {label}")
            materials = [m for m in materials if m.material_id in set(args.material)]
        materials = shard(sorted(materials, key=lambda m: m.material_id), args.shard)
        if kappa:  # the cheapest first, so that --limit N takes the N cheapest
            materials = sorted(materials, key=kappa_task.cost)
        if args.limit:
            materials = materials[: args.limit]
        executor = make_executor(args.executor, args.scheduler)
    except (ValueError, InputError) as exc:
        err.print(f"[red]error[/red]: {exc}", highlight=False, soft_wrap=True)
        return 2
    for problem in problems:
        err.print(f"[yellow]skipped[/yellow] {problem}", highlight=False)
    out = Path(args.out)
    err.print(f"dataset [bold]{label}[/bold]: {len(materials)} materials · models "
              f"{', '.join(models) or 'none (reference only)'} · protocol {protocol.key} · "
              f"store {out / STORE_NAME}", highlight=False)
    try:
        store = Store(out / STORE_NAME, break_claims=args.break_claims)
    except BaseException:
        executor.close()
        raise
    with store:
        try:
            extra = ({"compute": kappa_task.compute_kappa_chunk, "reference": False}
                     if kappa else {})
            tallies = run(materials, models, protocol, store, executor, **extra,
                          chunk_size=args.chunk_size, device=args.device,
                          max_atoms=args.max_atoms, lanes=args.lanes,
                          plan=plan,
                          retry_failed=args.retry_failed,
                          recompute_unverified=args.recompute_unverified,
                          progress=None if args.no_progress else RichProgress(err))
        except BenchError as exc:
            err.print(f"[red]error[/red]: {exc}", highlight=False, soft_wrap=True)
            return 1
        finally:
            executor.close()
        unreadable = len(problems) + _print_tallies(tallies, label, err)
        try:
            built = _report(store, out, [(label, protocol.key)], args.compare_to,
                            not args.no_figures, console)
        except ValueError as exc:
            err.print(f"[red]error[/red]: {exc}", highlight=False, soft_wrap=True)
            return 1
    wall = time.perf_counter() - t0
    for b in built:
        console.print(f"tables: {b['markdown'].parent}  ·  per-material: {out}  ·  "
                      f"figures: {out / 'figures'} ({len(b['figures'])})")
    console.print(f"store: {out / STORE_NAME}  ·  wall time {wall:.1f} s")
    elsewhere = any(t.elsewhere for t in tallies.values())
    if unreadable or elsewhere:
        err.print(f"[yellow]exit status 1[/yellow]: "
                  + "; ".join(x for x in (f"{unreadable} input(s) unreadable" if unreadable else "",
                                          "materials computed by another run are missing from "
                                          "the tables" if elsewhere else "") if x), highlight=False)
        return 1
    return 0


def _print_tallies(tallies, label: str, err) -> int:
    """One line per model (and the reasons behind recomputed or skipped materials);
    returns the number of unreadable inputs."""
    for model, t in tallies.items():
        err.print(f"{model}: {t.computed} computed ({t.failed} failed), {t.already} already "
                  f"in the store, {len(t.input_errors)} unreadable", highlight=False)
        for problem in t.input_errors if model == "dft" else []:
            err.print(f"  [yellow]skipped[/yellow] {problem}", highlight=False)
        for why in t.changed:
            hint = (f"; a different dataset of the same name needs its own --dataset-label "
                    f"(now {label!r})" if "input changed" in why else "")
            err.print(f"  [yellow]recomputed[/yellow] {why}{hint}", highlight=False)
        if t.unverified:
            err.print(f"  [yellow]note[/yellow] {t.unverified} stored rows predate input hashes "
                      "and were reused unchecked (--recompute-unverified recomputes them)",
                      highlight=False)
        if t.elsewhere:
            who = sorted(set(t.elsewhere.values()))
            err.print(f"  [yellow]left to another run[/yellow] {len(t.elsewhere)} materials "
                      f"being computed by {', '.join(who)}; run again once it has finished "
                      "to see them in the tables (if no such run is going on, --break-claims "
                      "computes them now)", highlight=False)
    return len(tallies["dft"].input_errors) if "dft" in tallies else 0

"""Command line: ``crosslingual run | sweep | runs ls|verify|gc | cldr | book | calibrate``.

A user error (a bad parameter, path or option value, an unreachable scheduler, a store or output that cannot be
written) prints one line, ``crosslingual ...: error: ...``, and exits with status 2; an unexpected internal error
keeps its traceback. Options and ``name=value`` overrides may come in any order.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from crosslingual.core.checks import check_count
from crosslingual.core.config import make_config
from crosslingual.errors import ConfigError, StoreError
from crosslingual.render.chapters import CHAPTERS, FIRST_DESIGNS_ENV
from crosslingual.store.grids import studies

OVERRIDES_HELP = ("name=value, before or after the options; the value is JSON (0.5, 3, true, \"text\", "
                  "[\"latin\", \"greek\"]), Python's True / False / None are accepted too, and anything else is a "
                  "string (scripts=latin,greek)")
_PYTHON_WORDS = {"True": True, "False": False, "None": None}


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (it prints the usage and the error on two)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _value(raw: str) -> Any:
    if raw in _PYTHON_WORDS:
        return _PYTHON_WORDS[raw]
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def _parse_overrides(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name.isidentifier():
            raise ConfigError(f"override {pair!r} must look like name=value, e.g. parallel_fraction=0.5")
        if name in out:
            raise ConfigError(f"override {name!r} is given twice ({out[name]!r} and {_value(raw)!r})")
        out[name] = _value(raw)
    return out


def _output(path: Path, suffixes: tuple[str, ...], option: str = "--out") -> Path:
    """An output file whose extension decides its format; any other extension is refused, not guessed."""
    if path.suffix not in suffixes:
        raise ConfigError(f"{option} {path}: the extension decides the format; use {' or '.join(suffixes)}")
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a directory; give a file name ending in {' or '.join(suffixes)}")
    in_the_way = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if in_the_way is not None:  # mkdir would say "File exists", which names no culprit a reader can see
        raise ConfigError(f"{option} {path}: {in_the_way} is a file, not a directory; choose another path")
    return path


def _run(args: argparse.Namespace) -> int:
    from crosslingual.store.fetch import get_or_train

    r = get_or_train(make_config(args.profile, **_parse_overrides(args.overrides)), device=args.device)
    last = r.metrics[(r.metrics.layer == -1) & (r.metrics.step == r.metrics.step.max())]
    print(f"run {r.path}")
    print(last[["metric", "value"]].to_string(index=False))
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from crosslingual.store.grids import MAX_RUNS, Grid
    from crosslingual.store.layout import runs_root
    from crosslingual.store.sweep import sweep

    workers = None if args.workers is None else check_count("--workers", args.workers, 1, 4096)
    overrides = _parse_overrides(args.overrides)
    for name, option in (("profile", "--profile"), ("seed", "--seed"), ("world_seed", "--seed"), ("seeds", "--seeds")):
        if name in overrides:  # the grid sets them per point; a name=value would collide with the options
            raise ConfigError(f"override {name!r} is not a knob of a sweep: use {option} (seed and world_seed vary "
                              "together, one per point and seed)")
    grid = Grid.load(args.grid)
    points = grid.expand(args.profile, args.seeds, args.seed, max_runs=None if args.allow_large_grid else MAX_RUNS,
                         **overrides)
    configs = [cfg for *_, cfg in points]
    backend = "dask" if args.scheduler else args.backend
    where = args.scheduler or f"{backend} ({workers or 'one per core'} local workers)"
    print(f"grid {args.grid}: {len(configs)} runs at profile {args.profile or grid.profile}; store {runs_root()}; "
          f"workers: {where}", flush=True)
    together = None if args.together is None else check_count("--together", args.together, 1, 1024)
    report = sweep(configs, workers=workers, device=args.device, backend=backend, scheduler=args.scheduler,
                   together=together)
    print(report.table().to_string())
    for run_hash, error in report.failed.items():
        print(f"failed: run {run_hash}: {error}")
    print(f"{report.requested} runs: {report.found + len(report.trained)} done, {len(report.failed)} failed, "
          f"in {report.seconds:.1f} s")
    return 1 if report.failed else 0


def _runs(args: argparse.Namespace) -> int:
    from crosslingual.store import admin
    from crosslingual.store.layout import runs_root

    if args.action == "ls":
        table = admin.list_runs()
        print(table.to_string(index=False) if len(table) else f"no runs in {runs_root()}")
    elif args.action == "verify":
        damaged = admin.verify_store()
        for name, problems in damaged.items():
            print(f"{name}: {'; '.join(problems)}")
        print(f"{len(damaged)} damaged run(s) in {runs_root()}")
        return 1 if damaged else 0
    else:
        paths = admin.gc_store(dry_run=not args.yes, quarantined=args.quarantine)
        for p in paths:
            print(("removed " if args.yes else "would remove ") + str(p))
        if not args.yes and paths:
            print("(dry run: add --yes to delete)")
        if not paths:
            print(f"nothing to remove in {runs_root()}")
    return 0


def _cldr(args: argparse.Namespace) -> int:
    from crosslingual.data.cldr import write

    table, stats = write(_output(args.out, (".parquet", ".json")))
    print(f"wrote {table} and {stats}")
    return 0


def _book(args: argparse.Namespace) -> int:
    from crosslingual.render.build import build_book

    if args.first_designs:  # in the environment, so that the training workers and the kernels see it too
        os.environ[FIRST_DESIGNS_ENV] = "1"
    index = build_book(args.root, profile=args.profile, out=args.out, only=args.chapter,
                       parameters=_parse_overrides(args.parameter + args.overrides))
    print(f"book: {index}")
    return 0


def _toc(args: argparse.Namespace) -> int:
    from crosslingual.render.chapters import toc_yaml

    sys.stdout.write(toc_yaml())
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from crosslingual.render.calibration import write_calibration

    workers = None if args.workers is None else check_count("--workers", args.workers, 1, 4096)
    print(f"wrote {write_calibration(_output(args.out, ('.md',)), workers)}")
    return 0


def _parser() -> tuple[_Parser, dict[str, _Parser]]:
    try:
        ours = version("crosslingual")
    except PackageNotFoundError:  # a source tree on PYTHONPATH, not installed
        ours = "unknown (not installed)"
    parser = _Parser(prog="crosslingual", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"crosslingual {ours}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="train one config (or fetch it from the run store)")
    run.add_argument("--profile", default="default")
    run.add_argument("--device", default="auto", help="auto, cpu or cuda")
    # default=[]: without it argparse counts an empty name=value list as a missing required argument
    run.add_argument("overrides", nargs="*", default=[], help=OVERRIDES_HELP)
    sw = sub.add_parser("sweep", help=f"train every run of a grid (a YAML file, or a study: {', '.join(studies())}) "
                                      "on local workers or a Dask cluster")
    sw.add_argument("grid", help="a shipped study by name, or a grid file by its path (with a separator or a "
                                 ".yaml suffix: ./mine, grids/a.yaml, a.yaml)")
    sw.add_argument("--profile", default=None, help="scale (default: the grid's own)")
    sw.add_argument("--seeds", type=int, default=None, help="seeds per point (default: the grid's own)")
    sw.add_argument("--seed", type=int, default=None, help="first seed (default: the grid's own)")
    sw.add_argument("--workers", type=int, default=None, help="local workers (default: one per core)")
    sw.add_argument("--together", type=int, default=None,
                    help="runs of one shape trained as one batched computation (default: by device, "
                         "sweep.TOGETHER; a run's numbers are the same either way)")
    sw.add_argument("--scheduler", default=None, help="address of a running Dask scheduler, e.g. tcp://host:8786")
    sw.add_argument("--backend", choices=["dask", "processes"], default="processes",
                    help="local pool: a process pool (default; measured faster, bench/README.md) or a Dask "
                         "LocalCluster; --scheduler always uses Dask")
    sw.add_argument("--allow-large-grid", action="store_true",
                    help="run a grid of more than 10,000 runs (refused by default: usually a mistake)")
    sw.add_argument("--device", default="auto", help="auto, cpu or cuda")
    sw.add_argument("overrides", nargs="*", default=[], help=OVERRIDES_HELP + "; applied to every run, e.g. steps=500")
    cldr = sub.add_parser("cldr", help="build the real-strings fact set from the CLDR data in babel (offline)")
    cldr.add_argument("--out", type=Path, default=Path("cldr_facts.parquet"),
                      help="the table: .parquet or .json (the extension decides); statistics go beside it")
    runs = sub.add_parser("runs", help="list, verify or garbage-collect the run store ($CROSSLINGUAL_RUNS)")
    runs.add_argument("action", choices=["ls", "verify", "gc"])
    runs.add_argument("--yes", action="store_true", help="gc: really delete (default: only list)")
    runs.add_argument("--quarantine", action="store_true", help="gc: also delete quarantined damaged runs")
    book = sub.add_parser("book", help="execute every chapter's notebook with papermill and build the HTML book")
    book.add_argument("--profile", default="default")
    book.add_argument("--root", type=Path, default=Path("."), help="where _config.yml and _toc.yml live")
    book.add_argument("--out", type=Path, default=None,
                      help="build a copy there (a new or empty directory, or an earlier --out; default: in place)")
    book.add_argument("--chapter", default=None, metavar="NAME",
                      help="re-execute only this chapter (its name or number: " + ", ".join(c.name for c in CHAPTERS)
                           + ") with the name=value parameters, into the existing book, and rebuild the HTML")
    book.add_argument("--first-designs", action="store_true",
                      help="also train and judge the first designs that the redesigns superseded (the papers' "
                           "designs as first reconstructed; at profiles other than default they always are)")
    book.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                      help="with --chapter: one of the notebook's parameters (repeatable; the same as a bare "
                           "name=value)")
    book.add_argument("overrides", nargs="*", default=[],
                      help="with --chapter: the notebook's parameters as name=value (JSON "
                                                   "values, as for run), e.g. seeds=3 parallel_fraction=0.8")
    sub.add_parser("toc", help="print the book's _toc.yml, written from the chapter registry "
                              "(crosslingual toc > _toc.yml after adding a chapter)")
    cal = sub.add_parser("calibrate", help="train the calibration candidates and write their table")
    cal.add_argument("--out", type=Path, default=Path("book/calibration.md"), help="a .md file")
    cal.add_argument("--workers", type=int, default=None)
    return parser, dict(sub.choices)


COMMANDS = {"run": _run, "sweep": _sweep, "runs": _runs, "cldr": _cldr, "book": _book, "toc": _toc,
            "calibrate": _calibrate}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser, commands = _parser()
    if argv and argv[0] in commands:  # options and name=value overrides in any order
        args = commands[argv[0]].parse_intermixed_args(argv[1:])
        args.command = argv[0]
    else:
        args = parser.parse_args(argv)  # --help, --version, or argparse's message for an unknown command
    # `kill PID` (or a batch system's time limit) stops a command as Ctrl-C does: its workers end at once. Only
    # the main thread may set a handler; called in another (a test's), SIGTERM keeps its own.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler) if in_main_thread else None
    try:
        return COMMANDS[args.command](args)
    except (ConfigError, StoreError) as err:
        print(f"crosslingual {args.command}: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"crosslingual {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `crosslingual run ... | head -1`: the reader has what it wanted (the run is stored)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush must not fail again
        return 128 + signal.SIGPIPE
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())

"""Command line: ``crosslingual run | sweep | runs ls|verify|gc | cldr | book | calibrate``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from crosslingual.config import ConfigError, make_config


def _parse_overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"override {pair!r} must look like name=value")
        name, raw = pair.split("=", 1)
        try:
            out[name] = json.loads(raw)
        except json.JSONDecodeError:
            out[name] = raw
    return out


def _sweep(args: argparse.Namespace) -> int:
    from crosslingual.grids import Grid
    from crosslingual.runs import runs_root
    from crosslingual.sweep import sweep

    grid = Grid.load(args.grid)
    configs = [cfg for *_, cfg in grid.expand(args.profile, args.seeds, args.seed, **_parse_overrides(args.overrides))]
    backend = "dask" if args.scheduler else args.backend
    where = args.scheduler or f"{backend} ({args.workers or 'one per core'} local workers)"
    print(f"grid {args.grid}: {len(configs)} runs at profile {args.profile or grid.profile}; store {runs_root()}; "
          f"workers: {where}", flush=True)
    report = sweep(configs, workers=args.workers, device=args.device, backend=backend, scheduler=args.scheduler)
    print(report.table().to_string())
    for run_hash, error in report.failed.items():
        print(f"failed: run {run_hash}: {error}")
    print(f"{report.requested} runs: {report.found + len(report.trained)} done, {len(report.failed)} failed, "
          f"in {report.seconds:.1f} s")
    return 1 if report.failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crosslingual", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train one config (or fetch it from the run store)")
    run.add_argument("--profile", default="default")
    run.add_argument("--device", default="auto")
    run.add_argument("overrides", nargs="*", help="name=value, e.g. parallel_fraction=0.5 seed=1")
    sw = sub.add_parser("sweep", help="train every run of a grid (a YAML file, or a study: information, exposure, "
                                      "extractability, interventions, regions, real_strings) on local workers or a Dask cluster")
    sw.add_argument("grid")
    sw.add_argument("--profile", default=None, help="scale (default: the grid's own)")
    sw.add_argument("--seeds", type=int, default=None, help="seeds per point (default: the grid's own)")
    sw.add_argument("--seed", type=int, default=None, help="first seed (default: the grid's own)")
    sw.add_argument("--workers", type=int, default=None, help="local workers (default: one per core)")
    sw.add_argument("--scheduler", default=None, help="address of a running Dask scheduler, e.g. tcp://host:8786")
    sw.add_argument("--backend", choices=["dask", "processes"], default="processes",
                    help="local pool: a process pool (default; measured faster, bench/README.md) or a Dask "
                         "LocalCluster; --scheduler always uses Dask")
    sw.add_argument("--device", default="auto")
    sw.add_argument("overrides", nargs="*", help="name=value applied to every run, e.g. steps=500")
    cldr = sub.add_parser("cldr", help="build the real-strings fact set from the CLDR data in babel (offline)")
    cldr.add_argument("--out", type=Path, default=Path("cldr_facts.parquet"), help=".parquet or .json")
    runs = sub.add_parser("runs", help="list, verify or garbage-collect the run store ($CROSSLINGUAL_RUNS)")
    runs.add_argument("action", choices=["ls", "verify", "gc"])
    runs.add_argument("--yes", action="store_true", help="gc: really delete (default: only list)")
    runs.add_argument("--quarantine", action="store_true", help="gc: also delete quarantined damaged runs")
    book = sub.add_parser("book", help="execute every notebook with papermill and build the HTML book")
    book.add_argument("--profile", default="default")
    book.add_argument("--root", type=Path, default=Path("."), help="where _config.yml and _toc.yml live")
    book.add_argument("--out", type=Path, default=None, help="copy of the book to build (default: in place)")
    cal = sub.add_parser("calibrate", help="train the calibration candidates and write their table")
    cal.add_argument("--out", type=Path, default=Path("book/calibration.md"))
    cal.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            from crosslingual.runs import get_or_train

            r = get_or_train(make_config(args.profile, **_parse_overrides(args.overrides)), device=args.device)
            last = r.metrics[(r.metrics.layer == -1) & (r.metrics.step == r.metrics.step.max())]
            print(f"run {r.path}")
            print(last[["metric", "value"]].to_string(index=False))
        elif args.command == "cldr":
            from crosslingual.cldr import write

            table, stats = write(args.out)
            print(f"wrote {table} and {stats}")
        elif args.command == "sweep":
            return _sweep(args)
        elif args.command == "runs":
            from crosslingual import runs as store

            if args.action == "ls":
                table = store.list_runs()
                print(table.to_string(index=False) if len(table) else f"no runs in {store.runs_root()}")
            elif args.action == "verify":
                damaged = store.verify_store()
                for name, problems in damaged.items():
                    print(f"{name}: {'; '.join(problems)}")
                print(f"{len(damaged)} damaged run(s) in {store.runs_root()}")
                return 1 if damaged else 0
            else:
                paths = store.gc_store(dry_run=not args.yes, quarantined=args.quarantine)
                for p in paths:
                    print(("removed " if args.yes else "would remove ") + str(p))
                if not args.yes and paths:
                    print("(dry run: add --yes to delete)")
        elif args.command == "book":
            from crosslingual.book import build_book

            html = build_book(args.root, profile=args.profile, out=args.out)
            print(f"book: {html}")
        elif args.command == "calibrate":
            from crosslingual.calibration import write_calibration

            print(f"wrote {write_calibration(args.out, args.workers)}")
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

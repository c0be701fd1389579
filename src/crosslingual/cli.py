"""Command line: ``crosslingual run | runs ls | book | calibrate``."""

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crosslingual", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train one config (or fetch it from the run store)")
    run.add_argument("--profile", default="default")
    run.add_argument("--device", default="auto")
    run.add_argument("overrides", nargs="*", help="name=value, e.g. parallel_fraction=0.5 seed=1")
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

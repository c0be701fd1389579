"""Training the missing runs of a list of configs together: those that share shapes train as one batched
computation (``train.BatchedTrainer``: the runs' parameters stacked, each operation doing every run's work), and
each is stored as its own run, bit-identical to the run trained alone.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from crosslingual.config import RunConfig, resolve_device
from crosslingual.memory import check_run_fits
from crosslingual.runs import (Run, RunWriter, check_store, disk_bytes, get_or_train, is_done, release_lock, run_dir,
                               runs_root, store_errors, try_lock)
from crosslingual.train import BatchedTrainer, Trainer, batch_key


def get_or_train_together(cfgs: list[RunConfig], *, device: str = "auto", progress: bool = True,
                          root: Path | None = None) -> list[Run]:
    """Like ``get_or_train`` for many configs: the missing runs that share shapes train as one batch, and
    each is stored as its own run. Runs another process is training are waited for, not duplicated."""
    device = resolve_device(device)
    root = root or runs_root()
    for cfg in cfgs:
        check_run_fits(cfg, device)
    check_store(root, sum(disk_bytes(cfg) for cfg in cfgs))
    with ExitStack() as locks, store_errors(root):
        members: dict[tuple, list[tuple[RunWriter, Trainer]]] = {}
        for cfg in {c.hash(): c.validate() for c in cfgs}.values():
            directory = run_dir(cfg, root)
            if is_done(cfg, root) or cfg.train.aligned_pairs:  # the alignment loss trains alone (below)
                continue
            directory.mkdir(parents=True, exist_ok=True)
            if not try_lock(directory):
                continue  # someone else is training it; get_or_train below waits for it
            locks.callback(release_lock, directory)
            if is_done(cfg, root):
                continue
            writer, trainer = RunWriter(cfg, directory, device), Trainer(cfg, device)
            writer.resume(trainer)
            members.setdefault((batch_key(trainer), trainer.step), []).append((writer, trainer))
        for group in members.values():
            writers, trainers = zip(*group)
            for writer in writers:  # a run's time is its own group's, not the groups trained before it
                writer.restart_clock()
            BatchedTrainer(list(trainers)).fit([w.on_checkpoint for w in writers], progress=progress,
                                               desc=f"{len(trainers)} runs together")
            for writer, trainer in group:
                writer.finish(trainer, batched_with=len(group))
    return [get_or_train(cfg, device=device, progress=progress, root=root) for cfg in cfgs]

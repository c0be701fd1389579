"""``get_or_train``: the finished run for a config, trained (or resumed) only where the store lacks it, under
the run's lock; and its batched form, which trains the missing runs of many configs that share shapes as one
stacked computation (``core.train.BatchedTrainer``: each operation does every run's work), each stored as its own
run, bit-identical to the run trained alone.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from crosslingual.core.config import RunConfig
from crosslingual.core.device import resolve_device
from crosslingual.core.train import BatchedTrainer, Trainer, batch_key
from crosslingual.store.integrity import is_done
from crosslingual.store.layout import check_store, disk_bytes, run_dir, runs_root, store_errors
from crosslingual.store.locks import release_lock, run_lock, try_lock
from crosslingual.store.memory import check_run_fits
from crosslingual.store.runs import Run, RunWriter, record_use


def get_or_train(cfg: RunConfig, *, device: str = "auto", progress: bool = True, root: Path | None = None) -> Run:
    """Return the finished run for ``cfg``, training it (or resuming it) only if the store lacks it."""
    run = _get_or_train(cfg, device=device, progress=progress, root=root)
    record_use([run])
    return run


def _get_or_train(cfg: RunConfig, *, device: str, progress: bool, root: Path | None) -> Run:
    cfg.validate()
    root = root or runs_root()
    directory = run_dir(cfg, root)
    if is_done(cfg, root):
        return Run(directory)
    device = resolve_device(device)
    check_run_fits(cfg, device)
    check_store(root, disk_bytes(cfg))
    with store_errors(root):
        directory.mkdir(parents=True, exist_ok=True)
        with run_lock(directory):
            if is_done(cfg, root):  # someone else finished it while we waited
                return Run(directory)
            writer = RunWriter(cfg, directory, device)
            trainer = Trainer(cfg, device)
            writer.resume(trainer)
            trainer.fit(writer.on_checkpoint, progress=progress, desc=f"run {cfg.hash()}")
            return writer.finish(trainer)


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

"""Several runs with identical shapes, trained as one batched computation.

Tiny models spend much of a step in per-op overhead and small matrix products; stacking K runs' parameters
(``torch.func.stack_module_state``) and mapping the one model definition over them (``vmap`` of
``functional_call``) turns K small products into one batched product per layer. Each run keeps its own
initialisation, its own world and its own batches (from its own ``Trainer``), and the loss is the sum of the
runs' losses, so every run's gradient is exactly its own. At each checkpoint the stacked parameters and AdamW
moments are copied back into the runs' ``Trainer`` objects, which then evaluate and save exactly as a single
run does; a batched run can therefore be resumed alone, and vice versa.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import torch
from torch.func import functional_call, stack_module_state, vmap
from torch.nn.attention import SDPBackend, sdpa_kernel

from crosslingual.config import RunConfig, resolve_device
from crosslingual.memory import check_run_fits
from crosslingual.runs import (Run, RunWriter, check_store, disk_bytes, get_or_train, is_done, release_lock, run_dir,
                               runs_root, store_errors, try_lock)
from crosslingual.train import Trainer, autocast, lm_loss, make_optimizer, run_schedule, set_learning_rate

# vmap has no batching rule for the CPU flash-attention kernel and loops over the runs there; that loop is
# cheap at our sequence lengths, and the warning would otherwise fill every notebook.
warnings.filterwarnings("ignore", message=".*have not yet implemented the batching rule.*")


def batch_key(trainer: Trainer) -> tuple:
    """Runs with equal keys can be trained together (the same shapes, schedule and optimiser settings)."""
    return (trainer.cfg.model, trainer.cfg.train, trainer.world.seq_len, len(trainer.world.vocab),
            trainer.world.pad_id, str(trainer.device))


class BatchedTrainer:
    """Advance K ``Trainer`` objects together; they must share ``batch_key`` and their current step."""

    def __init__(self, trainers: list[Trainer]):
        if not trainers:
            raise ValueError("BatchedTrainer needs at least one trainer")
        keys = {batch_key(t) for t in trainers}
        steps = {t.step for t in trainers}
        if len(keys) > 1 or len(steps) > 1:
            raise ValueError("batched runs must share model, training settings, shapes, device and step")
        if trainers[0].cfg.train.aligned_pairs:
            raise ValueError("runs with the alignment loss (align_weight > 0) are trained one at a time")
        self.trainers = trainers
        self.cfg = trainers[0].cfg
        self.step = steps.pop()
        self.schedule = trainers[0].schedule
        self.base = copy.deepcopy(trainers[0].model).to("meta")
        self.params, self.buffers = stack_module_state([t.model for t in trainers])
        rank = {n: p.dim() for n, p in trainers[0].model.named_parameters()}
        self.optimizer = make_optimizer(self.cfg, list(self.params.items()), ndim=rank)
        if self.step > 0:
            self._load_optimizer_states()
        self._losses = vmap(self._loss)

    def _loss(self, params: dict, buffers: dict, tokens: torch.Tensor) -> torch.Tensor:
        def model(inputs: torch.Tensor, **kw) -> torch.Tensor:
            return functional_call(self.base, (params, buffers), (inputs,), kw)

        return lm_loss(model, tokens, self.cfg.train.loss, pad_id=self.trainers[0].world.pad_id)

    def train_step(self) -> torch.Tensor:
        set_learning_rate(self.optimizer, self.cfg, self.step)
        batch = torch.stack([t.batch(self.step) for t in self.trainers])
        # vmap of the fused CUDA attention kernels fails in the backward pass ("LSE is not correctly aligned"),
        # so batched runs use the plain-maths kernel, which at our sequence lengths costs nothing measurable
        with autocast(self.cfg, self.trainers[0].device), sdpa_kernel(SDPBackend.MATH):
            losses = self._losses(self.params, self.buffers, batch)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        self.optimizer.step()
        self.step += 1
        return losses.detach()

    # ------------------------------------------------------------ moving state between stacked and per-run form
    def _stacked_state(self) -> dict[int, dict[str, torch.Tensor]]:
        return self.optimizer.state_dict()["state"]

    def sync(self) -> None:
        """Copy parameters, AdamW moments and the step into every run's own ``Trainer``."""
        stacked = self._stacked_state()
        with torch.no_grad():
            for k, t in enumerate(self.trainers):
                for name, p in t.model.named_parameters():
                    p.copy_(self.params[name][k])
                own = t.optimizer.state_dict()
                own["state"] = {i: {"step": st["step"].clone(), "exp_avg": st["exp_avg"][k].clone(),
                                    "exp_avg_sq": st["exp_avg_sq"][k].clone()} for i, st in stacked.items()}
                t.optimizer.load_state_dict(own)
                t.step = self.step

    def _load_optimizer_states(self) -> None:
        per_run = [t.optimizer.state_dict()["state"] for t in self.trainers]
        full = self.optimizer.state_dict()
        full["state"] = {i: {"step": per_run[0][i]["step"].clone(),
                             "exp_avg": torch.stack([s[i]["exp_avg"] for s in per_run]),
                             "exp_avg_sq": torch.stack([s[i]["exp_avg_sq"] for s in per_run])}
                         for i in per_run[0]}
        self.optimizer.load_state_dict(full)

    def fit(self, on_checkpoint: list[Callable[[Trainer, list[dict]], None]], progress: bool = True,
            desc: str = "train") -> None:
        """Train every run to the last step; ``on_checkpoint[k](trainer_k, rows)`` as in ``Trainer.fit``."""
        def at_checkpoint(losses: torch.Tensor | float) -> None:
            self.sync()
            losses = torch.as_tensor(losses).expand(len(self.trainers))
            for k, t in enumerate(self.trainers):
                on_checkpoint[k](t, t.checkpoint_rows(float(losses[k])))

        run_schedule(self, at_checkpoint, progress, desc)


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
            BatchedTrainer(list(trainers)).fit([w.on_checkpoint for w in writers], progress=progress,
                                               desc=f"{len(trainers)} runs together")
            for writer, trainer in group:
                writer.finish(trainer, batched_with=len(group))
    return [get_or_train(cfg, device=device, progress=progress, root=root) for cfg in cfgs]

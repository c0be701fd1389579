"""A run in the store: :class:`Run` reads a finished one back, :class:`RunWriter` writes one while it trains.

The writer saves the metrics table and the resume state at every checkpoint, so a killed run resumes from its
last checkpoint with exactly the metrics of an uninterrupted one, and writes DONE (with the machine it ran on and
the checksum manifest) last. The directory's layout is :mod:`.layout`'s.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import time
import warnings
from contextlib import suppress
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import torch
from safetensors.torch import load_file, save

from crosslingual.core.config import RESULT_FORMAT_VERSION, RunConfig, context_length
from crosslingual.core.model import Transformer
from crosslingual.core.world import World
from crosslingual.files import read_regular, write_atomic
from crosslingual.store.integrity import manifest, quarantine_target
from crosslingual.store.layout import DONE, LEFTOVERS, METRICS, PARTIAL, STATE, parquet_bytes, write_json

if TYPE_CHECKING:
    from crosslingual.core.train import Trainer


# the CPU features that decide which kernels torch runs, and so the last bits of every result
_VECTOR_FLAGS = {"sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                 "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve", "sve2"}


@lru_cache(maxsize=1)
def machine_info() -> dict[str, object]:
    """What a run's last bits depend on, recorded with it: the CPU model, its vector extensions, the kernel
    family torch dispatches to on it (``torch.backends.cpu.get_cpu_capability()``), torch and Python."""
    model, flags = platform.processor(), set()
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                model = value.strip()
            elif key.strip() in ("flags", "Features"):
                flags |= set(value.split())
    return {"cpu": model or platform.machine(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cpu_flags": sorted(flags & _VECTOR_FLAGS), "torch": torch.__version__,
            "python": platform.python_version()}


@dataclass
class Run:
    """A finished run, read back from the store."""

    path: Path

    @cached_property
    def config(self) -> RunConfig:
        return RunConfig.from_dict(json.loads(read_regular(self.path / "config.json"))["config"])

    @cached_property
    def metrics(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / METRICS)

    @cached_property
    def info(self) -> dict:
        return json.loads(read_regular(self.path / DONE))

    @cached_property
    def world(self) -> World:
        return World(self.config.world)

    @property
    def steps(self) -> list[int]:
        return sorted(int(p.stem.split("_")[1]) for p in (self.path / "checkpoints").glob("step_*.safetensors")
                      if p.is_file())

    def load_model(self, step: int | None = None, device: str = "cpu") -> Transformer:
        """The model at ``step`` (default: the last), in eval mode."""
        step = self.steps[-1] if step is None else step
        weights = load_file(self.path / "checkpoints" / f"step_{step:07d}.safetensors", device=device)
        model = Transformer(self.config.model, len(self.world.vocab), context_length(self.config, self.world.seq_len))
        model.load_state_dict(weights)
        return model.to(device).eval()

    def scalar(self, metric: str, step: int | None = None) -> float:
        """A global (layer-free) metric at ``step`` (default: the last checkpoint)."""
        m = self.metrics
        m = m[(m.metric == metric) & (m.layer == -1)]
        return float(m[m.step == (m.step.max() if step is None else step)].value.iloc[0])


class RunWriter:
    """Writes one run's directory while it trains; shared by single and batched training.

    The caller holds the run's lock. ``resume`` restores a killed run from its last checkpoint.
    """

    def __init__(self, cfg: RunConfig, directory: Path, device: str):
        self.cfg, self.directory, self.device = cfg, directory, device
        self.rows: list[dict] = []
        self.resumed_from: int | None = None  # the step a killed run was resumed from (None: one go)
        self.start = time.perf_counter()
        write_json(directory / "config.json", {"hash": cfg.hash(), "format": RESULT_FORMAT_VERSION,
                                               "config": cfg.to_dict()})
        (directory / "checkpoints").mkdir(exist_ok=True)

    def restart_clock(self) -> None:
        """Count the run's wall time from now (its training starts later than its writer was made)."""
        self.start = time.perf_counter()

    def resume(self, trainer: "Trainer") -> None:
        """Continue from the last checkpoint of a killed run; unreadable state is set aside, not trusted."""
        state, partial = self.directory / STATE, self.directory / PARTIAL
        if not (state.exists() and partial.exists()):
            return
        try:
            trainer.load_state_tensors(load_file(state))
            done = pd.read_parquet(partial)
        except Exception as err:  # noqa: BLE001 - any unreadable file means: start again, keep the evidence
            aside = quarantine_target(self.directory.parent, f"{self.directory.name}-state")
            aside.mkdir()
            for f in (state, partial):
                os.replace(f, aside / f.name)
            warnings.warn(f"could not resume run {self.directory.name} ({err}); files moved to {aside}, "
                          "training from the start", stacklevel=2)
            trainer.__init__(self.cfg, self.device)
            return
        # the metrics table is written before the state at every checkpoint, so it may run one checkpoint ahead
        self.rows = done[done.step <= trainer.step].to_dict("records")
        self.resumed_from = trainer.step

    def on_checkpoint(self, trainer: "Trainer", new_rows: list[dict]) -> None:
        if self.rows and trainer.step <= self.rows[-1]["step"]:
            return  # a run resumed at its first checkpoint evaluates that step again: it is recorded already
        self.rows.extend(new_rows)
        d = self.directory
        if trainer.step in trainer.kept:
            weights = {k: v.detach().cpu().contiguous() for k, v in trainer.model.state_dict().items()}
            write_atomic(d / "checkpoints" / f"step_{trainer.step:07d}.safetensors", save(weights))
        write_atomic(d / PARTIAL, parquet_bytes(pd.DataFrame(self.rows)))
        if trainer.step < self.cfg.train.steps:
            write_atomic(d / STATE, save(trainer.state_tensors()))

    def finish(self, trainer: "Trainer", batched_with: int = 1) -> Run:
        d = self.directory
        write_atomic(d / METRICS, parquet_bytes(pd.DataFrame(self.rows)))
        gpu = torch.cuda.get_device_name() if self.device == "cuda" else None
        write_json(d / DONE, {
            "wall_seconds_this_process": round(time.perf_counter() - self.start, 2), "device": self.device,
            **machine_info(), "gpu": gpu, "threads": torch.get_num_threads(), "n_params": trainer.model.n_params(),
            "batched_with": batched_with, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "pid": os.getpid(), "host": socket.gethostname(), "resumed_from_step": self.resumed_from,
            "manifest": manifest(d),
        })
        for leftover in LEFTOVERS:
            (d / leftover).unlink(missing_ok=True)
        return Run(d)


USAGE_LOG = "CROSSLINGUAL_USAGE_LOG"


def record_use(runs: list[Run]) -> None:
    """Append the runs' directories to ``$CROSSLINGUAL_USAGE_LOG`` when set: the book's cost page counts, per
    notebook, the runs it used and what they cost to train."""
    log = os.environ.get(USAGE_LOG)
    if log:
        with open(log, "a") as f:
            f.writelines(f"{r.path}\n" for r in runs)

"""One-shot accelerator check: CUDA code paths, CPU/GPU agreement, batched speed-up, bf16 and the paper profile.

CI never has a GPU, so this is run by hand on a machine that has one (it needs only torch, numpy, pandas,
scipy, safetensors, tqdm and tokenizers, not the notebook stack):

    PYTHONPATH=src python3 bench/device_check.py --out results/   # prints a report, writes device_check.json

Every section is timed and skipped, with a note, when the remaining ``--budget`` seconds cannot cover it, so
that a short lease still brings back the cheap sections. Numbers go to ``bench/README.md`` by hand.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from crosslingual.core.config import make_config
from crosslingual.core.train import BatchedTrainer, Trainer
from crosslingual.store.fetch import get_or_train_together

REPORT: dict = {}
DEVICE, PROFILE = "cuda", "default"  # set by --device / --profile (cpu + smoke: a dry run of the script)


def section(name: str):
    def wrap(fn):
        def run(deadline: float, *args):
            if time.time() > deadline:
                REPORT[name] = "skipped: out of time"
                print(f"## {name}: skipped (out of time)", flush=True)
                return
            start = time.time()
            try:
                REPORT[name] = fn(*args)
            except Exception as exc:  # a failing section must not hide the others
                REPORT[name] = f"FAILED: {type(exc).__name__}: {exc}"
            REPORT[name + " seconds"] = round(time.time() - start, 1)
            print(f"## {name} ({time.time() - start:.0f} s): {json.dumps(REPORT[name], default=str)}", flush=True)
        return run
    return wrap


def final_metrics(cfg, device: str) -> dict:
    """Train ``cfg`` on ``device`` without the run store; last-checkpoint scalars and last-layer scores."""
    trainer, rows = Trainer(cfg, device), []
    trainer.fit(lambda t, r: rows.extend(r), progress=False)
    last = [r for r in rows if r["step"] == cfg.train.steps]
    pick = {r["metric"]: r["value"] for r in last if r["layer"] in (-1, cfg.model.n_layers)
            and r["position"] in ("", "last")}
    return {k: round(pick[k], 4) for k in ("acc_in", "acc_xling", "unification", "retrieval_at_1", "loss_train")}


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def ms_per_step(trainer, n: int = 50) -> float:
    for _ in range(5):
        trainer.train_step()
    sync()
    start = time.perf_counter()
    for _ in range(n):
        trainer.train_step()
    sync()
    return (time.perf_counter() - start) / n * 1e3


@section("environment")
def environment() -> dict:
    return {"torch": torch.__version__, "device": torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu",
            "cpu threads": torch.get_num_threads()}


@section("cpu vs device, seed 0")
def agreement() -> dict:
    cfg = make_config(PROFILE)
    cpu, gpu = final_metrics(cfg, "cpu"), final_metrics(cfg, DEVICE)
    return {"cpu": cpu, "cuda": gpu, "max abs difference": round(max(abs(cpu[k] - gpu[k]) for k in cpu), 4)}


@section("code paths at smoke (bpe, alignment loss, llama, bf16, batched store)")
def code_paths() -> dict:
    out = {}
    for name, kw in {"bpe same script": dict(tokenizer="bpe", bpe_vocab_size=40, scripts=("latin", "latin")),
                     "alignment loss": dict(align_weight=1.0), "llama": dict(arch="llama"),
                     "bf16": dict(precision="bf16"), "code-switching": dict(code_switching=0.3)}.items():
        out[name] = final_metrics(make_config("smoke", **kw), DEVICE)
    with tempfile.TemporaryDirectory() as root:
        cfgs = [make_config("smoke", seed=s, world_seed=s) for s in range(3)]
        runs = get_or_train_together(cfgs, device=DEVICE, progress=False, root=Path(root))
        alone = [final_metrics(c, DEVICE)["acc_xling"] for c in cfgs]
        out["batched store == alone (acc_xling)"] = [[round(r.scalar("acc_xling"), 4) for r in runs], alone]
    return out


@section("throughput, default profile: single and K batched runs, fp32 and bf16")
def throughput() -> dict:
    out = {}
    for precision in ("fp32", "bf16"):
        single = ms_per_step(Trainer(make_config(PROFILE, precision=precision), DEVICE))
        out[f"{precision} single ms/step"] = round(single, 2)
        for k in (4, 8, 16):
            batched = BatchedTrainer([Trainer(make_config(PROFILE, precision=precision, seed=s, world_seed=s), DEVICE)
                                      for s in range(k)])
            ms = ms_per_step(batched)
            out[f"{precision} K={k} ms/step"] = round(ms, 2)
            out[f"{precision} K={k} aggregate speed-up vs {k} sequential"] = round(k * single / ms, 2)
    return out


@section("bf16 vs fp32, seeds 0-1")
def bf16_agreement() -> dict:
    out = {}
    for s in (0, 1):
        a = final_metrics(make_config(PROFILE, seed=s, world_seed=s), DEVICE)
        b = final_metrics(make_config(PROFILE, seed=s, world_seed=s, precision="bf16"), DEVICE)
        out[f"seed {s}"] = {"fp32": a, "bf16": b}
    return out


@section("paper profile")
def paper(budget: float) -> dict:
    cfg = make_config("paper")
    trainer = Trainer(cfg, DEVICE)
    ms = ms_per_step(trainer, 100)
    start = time.perf_counter()
    trainer.checkpoint_rows(float("nan"))
    sync()
    eval_s = time.perf_counter() - start
    projected = ms * cfg.train.steps / 1e3 + eval_s * cfg.train.n_checkpoints
    out = {"ms/step": round(ms, 2), "eval s/checkpoint": round(eval_s, 2), "projected run s": round(projected),
           "n_params": trainer.model.n_params(), "seq_len": trainer.world.seq_len, "vocab": len(trainer.world.vocab)}
    if projected < budget:
        out["final"] = final_metrics(cfg, DEVICE)
    else:
        out["final"] = f"not trained: projected {projected:.0f} s > {budget:.0f} s left"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("."))
    ap.add_argument("--budget", type=float, default=420, help="seconds for the whole check")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--profile", default="default", choices=["smoke", "default"])
    ap.add_argument("--quick", action="store_true", help="code paths and throughput only")
    args = ap.parse_args()
    global DEVICE, PROFILE
    DEVICE, PROFILE = args.device, args.profile
    if DEVICE == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this check is for a GPU machine (--device cpu for a dry run)")
    torch.set_num_threads(8)
    deadline = time.time() + args.budget
    environment(deadline)
    code_paths(deadline)
    throughput(deadline)
    if args.quick:
        deadline = 0.0  # the remaining sections report "skipped"
    agreement(deadline - 60)
    bf16_agreement(deadline - 90)
    paper(deadline - 30, max(0.0, deadline - time.time() - 40))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "device_check.json").write_text(json.dumps(REPORT, indent=1, default=str))


if __name__ == "__main__":
    main()

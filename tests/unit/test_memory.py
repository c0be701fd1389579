"""crosslingual.store.memory: config-only bounds against real worlds, models and runs, and the refusals built on
them."""

import json
import os
import subprocess
import sys
import time
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path

import pytest

import crosslingual.store.memory as memory
import crosslingual.store.sweep as sweep_module
from crosslingual.core.config import context_length, make_config
from crosslingual.core.model import Transformer
from crosslingual.core.world import World
from crosslingual.errors import ConfigError
from crosslingual.store.memory import (
    check_run_fits,
    estimate_run_bytes,
    parameter_count,
    placed_bytes,
    sequence_length,
    training_sequences,
    vocabulary_size,
)

CLDR = dict(names="cldr", n_entities=30, n_relations=2)
WORD_WORLDS = [dict(), dict(language_marker=True), dict(shared_function_words=True), dict(value_overlap=0.0),
               dict(entity_overlap=1.0, value_overlap=0.0, language_marker=True), dict(n_languages=4),
               dict(n_languages=3, parallel_mode="repeat", scripts=("thai", "latin", "thai")),
               dict(n_languages=3, held_out_languages=1), CLDR, {**CLDR, "n_languages": 3, "language_marker": True}]
BPE_WORLDS = [dict(tokenizer="bpe"), dict(tokenizer="bpe", bpe_vocab_size=8, language_marker=True),
              dict(tokenizer="bpe", bpe_vocab_size=2000), dict(tokenizer="bpe", scripts=("thai", "devanagari")),
              dict(tokenizer="bpe", n_languages=3, scripts=("latin", "latin", "greek"), shared_function_words=True),
              {**CLDR, "tokenizer": "bpe"}, {**CLDR, "tokenizer": "bpe", "n_languages": 3, "entity_overlap": 0.5}]
MB = 10**6


@pytest.mark.parametrize("overrides", WORD_WORLDS + BPE_WORLDS, ids=str)
def test_sequence_and_vocabulary_bounds_against_the_world(overrides):
    cfg = make_config("smoke", **overrides).world
    world = World(cfg)
    word_level = cfg.tokenizer == "word"
    assert sequence_length(cfg) == world.seq_len if word_level else sequence_length(cfg) >= world.seq_len
    exact = word_level and cfg.names == "synthetic" and cfg.entity_overlap in (0, 1) and cfg.value_overlap in (0, 1)
    assert vocabulary_size(cfg) == len(world.vocab) if exact else vocabulary_size(cfg) >= len(world.vocab)
    assert training_sequences(cfg) >= len(world.train)


def test_the_bpe_bound_is_reached_when_every_letter_is_a_piece():
    cfg = make_config("smoke", tokenizer="bpe", bpe_vocab_size=8).world  # below the alphabet: no merges
    assert sequence_length(cfg) == World(cfg).seq_len


PACKED = [dict(), dict(facts_per_sequence=4, loss="full", arch="llama"),
          dict(tokenizer="bpe", facts_per_sequence=8, loss="full", language_marker=True, word_orders=(0, 0)),
          dict(tokenizer="bpe", tie_embeddings=True, n_languages=3, cognates=0.5),
          {**CLDR, "facts_per_sequence": 2, "loss": "full"}]


@pytest.mark.parametrize("overrides", PACKED, ids=str)
def test_the_estimated_model_is_the_one_the_trainer_builds(overrides):
    """The estimate counts the parameters of the model ``train.Trainer`` builds for the world, whose positions hold
    ``facts_per_sequence`` packed sequences: the same model at word level, a bound of it with BPE."""
    cfg = make_config("smoke", **overrides)
    world = World(cfg.world)
    built = Transformer(cfg.model, len(world.vocab), context_length(cfg, world.seq_len)).n_params()
    estimated = memory.run_parameters(cfg)
    assert estimated == built if cfg.world.tokenizer == "word" else estimated >= built


def test_the_estimate_builds_no_world(monkeypatch):
    monkeypatch.setattr(World, "__init__", lambda *a: pytest.fail("the estimate built a World"))
    for overrides in (dict(), dict(tokenizer="bpe", cognates=0.5), {**CLDR, "tokenizer": "bpe"}):
        assert estimate_run_bytes(make_config("smoke", **overrides))["total"] > memory.RUNTIME_BYTES


@pytest.mark.parametrize("model", [dict(), dict(arch="llama", d_mlp=48), dict(tie_embeddings=True, n_layers=3)],
                         ids=str)
def test_parameter_count_matches_the_model(model):
    cfg = make_config("smoke", **model).model
    assert parameter_count(cfg, 123, 7) == Transformer(cfg, 123, 7).n_params()


# Peak resident-memory growth of a real run: RSS after the imports, then ru_maxrss after a few training steps and
# evaluations. One single-threaded process per config (as a sweep worker), so that no run's peak or allocator
# state hides another's; they run side by side to keep the test short.
# Peak resident memory of this process image: VmHWM belongs to the address space made by exec, whereas
# getrusage's ru_maxrss also keeps the peak of the (forking) parent, e.g. a big pytest process
MEASURE = """
import json, os, sys
import crosslingual.core.train as train
from crosslingual.core.config import make_config
def kb(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) * 1024
cfg = make_config(sys.argv[1], **json.loads(sys.argv[2]))
base = kb("VmRSS")
train.Trainer(cfg).fit(lambda trainer, rows: None, progress=False)
print(kb("VmHWM") - base)
"""
SHORT = dict(steps=8, warmup_steps=0, n_checkpoints=3, keep_checkpoints=3)
MEASURED_RUNS = {  # measured on a 2-core, 24 GB machine (MB): estimate / peak growth
    "smoke": dict(),  # 171 / 95
    "4000 facts, 9000 words, bpe": dict(n_entities=500, n_relations=8, n_values=500, value_overlap=0.0,
                                        tokenizer="bpe"),  # 294 / 160
    "full loss, llama": dict(loss="full", arch="llama", d_model=256, n_heads=8, d_mlp=1024,
                             batch_size=256),  # 333 / 183
    "8 facts per sequence": dict(loss="full", arch="llama", facts_per_sequence=8, d_model=128, n_heads=4,
                                 d_mlp=512, batch_size=128),
}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the resident set size from /proc")
def test_estimate_is_a_tight_upper_bound_of_measured_peak_memory():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = {name: {**SHORT, **overrides} for name, overrides in MEASURED_RUNS.items()}
    procs = {name: subprocess.Popen([sys.executable, "-c", MEASURE, "smoke", json.dumps(overrides)], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, overrides in runs.items()}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
        measured, estimate = int(out.split()[-1]), estimate_run_bytes(make_config("smoke", **runs[name]))["total"]
        print(f"{name}: estimate {estimate / MB:.0f} MB, measured {measured / MB:.0f} MB")
        assert measured <= estimate <= 4 * measured + 300 * MB, name


HUGE = {"64 layers of width 8192": dict(n_layers=64, d_model=8192, n_heads=8),
        "10^8 facts": dict(n_entities=100_000, n_relations=1_000, n_values=2, scripts=("thai", "devanagari"))}


@pytest.mark.parametrize("overrides", HUGE.values(), ids=HUGE.keys())
def test_runs_that_cannot_fit_are_refused_at_once_with_what_to_reduce(overrides):
    cfg = make_config("smoke", **overrides)
    if estimate_run_bytes(cfg)["total"] <= memory.available_bytes("cpu"):
        pytest.skip("this machine has room for it")
    start = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        check_run_fits(cfg)
    assert time.perf_counter() - start < 0.5
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"run {cfg.hash()} needs about ")
    assert "GiB is free there (MemAvailable in /proc/meminfo" in message or "sysconf" in message
    knob = "n_layers" if "n_layers" in overrides else "n_entities"
    assert f"reduce {knob}" in message


def test_small_runs_fit_and_the_free_memory_decides(monkeypatch):
    cfg = make_config("smoke")
    check_run_fits(cfg)
    total = estimate_run_bytes(cfg)["total"]
    monkeypatch.setattr(memory, "_free_memory", lambda device: (total - 1, "a test"))
    with pytest.raises(ConfigError, match=r"only 0\.\d GiB is free there \(a test\); reduce "):
        check_run_fits(cfg)


def test_on_a_gpu_the_world_stays_on_the_host():
    parts = estimate_run_bytes(make_config("smoke", n_entities=2000, n_relations=10))
    placed = placed_bytes(parts, "cuda")
    assert placed_bytes(parts, "cpu") == {"cpu": parts["total"]}
    assert placed["cuda"] < parts["total"] - parts["world"] and placed["cpu"] > parts["world"]


def test_expected_cost_orders_like_the_built_worlds_without_building_them(monkeypatch):
    grid = [make_config("smoke", n_layers=n, language_marker=m, d_model=d, n_heads=2)
            for n in (1, 2) for m in (False, True) for d in (16, 32)]
    built = [c.train.steps * c.train.batch_size * World(c.world).seq_len * c.model.n_layers * c.model.d_model
             * (4 * c.model.d_model + 2 * c.model.d_mlp) for c in grid]  # the cost as it was computed before
    monkeypatch.setattr(World, "__init__", lambda *a: pytest.fail("expected_cost built a World"))
    assert [sweep_module.expected_cost(c) for c in grid] == built


@contextmanager
def _inline_pool(backend, workers, scheduler):
    def submit(fn, *args):
        future = Future()
        future.set_result(fn(*args))
        return future

    yield submit, iter, False


@pytest.fixture
def trained(monkeypatch):
    """Chunks the sweep dispatches (to an inline pool), instead of training them."""
    chunks: list[list[int]] = []
    monkeypatch.setattr(sweep_module, "_pool", _inline_pool)
    monkeypatch.setattr(sweep_module, "_train_chunk",
                        lambda dicts, *args: chunks.append([d["seed"] for d in dicts]) or {})
    return chunks


def test_a_sweep_with_a_run_that_cannot_fit_fails_before_any_training(store, trained, monkeypatch):
    monkeypatch.setattr(memory, "_free_memory", lambda device: (8 * 2**30, "a test"))
    runs = [make_config("smoke", seed=s) for s in range(3)] + [make_config("smoke", **HUGE["10^8 facts"])]
    with pytest.raises(ConfigError, match=r"run \w{12} needs about"):
        sweep_module.sweep(runs, workers=2, device="cpu", progress=False, root=store)
    assert trained == [] and not store.exists()


def test_the_sweep_lowers_its_workers_to_what_fits_side_by_side(store, trained, monkeypatch, capsys):
    runs = [make_config("smoke", seed=s) for s in range(4)]
    one = memory.PROCESS_BYTES + estimate_run_bytes(runs[0])["total"]
    monkeypatch.setattr(sweep_module, "available_bytes", lambda device: int(2.5 * one))
    report = sweep_module.sweep(runs, workers=4, device="cpu", progress=False, root=store)
    assert report.workers == 2 and sorted(s for chunk in trained for s in chunk) == [0, 1, 2, 3]
    assert capsys.readouterr().out.strip().splitlines() == [
        f"sweep: 2 worker(s) instead of 4: the 4 largest runs need about {4 * one / 2**30:.1f} GiB together on "
        f"cpu, {2.5 * one / 2**30:.1f} GiB is free"]


def test_on_a_gpu_the_workers_share_it_as_far_as_its_memory_allows(store, trained, monkeypatch, capsys):
    """On CUDA the chunks go to a pool of processes sharing the GPU (not one after another in the caller), and the
    worker count is lowered until the largest chunks fit side by side there, each process with its CUDA context."""
    runs = [make_config("smoke", seed=s) for s in range(4)]
    one = sweep_module.CUDA_PROCESS_BYTES + placed_bytes(estimate_run_bytes(runs[0]), "cuda")["cuda"]
    monkeypatch.setattr(sweep_module, "resolve_device", lambda device: "cuda")
    monkeypatch.setattr(sweep_module, "check_run_fits", lambda cfg, device: None)
    monkeypatch.setattr(sweep_module, "available_bytes",
                        lambda device: int(2.5 * one) if device == "cuda" else 2**40)
    report = sweep_module.sweep(runs, workers=4, together=1, progress=False, root=store)
    assert report.workers == 2 and sorted(s for chunk in trained for s in chunk) == [0, 1, 2, 3]
    assert "together on cuda" in capsys.readouterr().out
    monkeypatch.setattr(sweep_module, "available_bytes", lambda device: 2**40)
    assert sweep_module.sweep([make_config("smoke", seed=9)], workers=1, progress=False, root=store).workers == 1


def test_default_workers_one_per_core_and_at_most_gpu_workers_on_a_gpu(monkeypatch):
    monkeypatch.delenv("CROSSLINGUAL_WORKERS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert sweep_module.default_workers() == 64
    assert sweep_module.default_workers("cuda") == sweep_module.GPU_WORKERS < 64
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert sweep_module.default_workers("cuda") == 2
    monkeypatch.setenv("CROSSLINGUAL_WORKERS", "3")
    assert sweep_module.default_workers() == sweep_module.default_workers("cuda") == 3


def test_a_remote_scheduler_skips_the_local_memory_check(store, trained):
    huge = make_config("smoke", **HUGE["10^8 facts"])
    report = sweep_module.sweep([huge], workers=2, device="cpu", progress=False, root=store, scheduler="tcp://x:1")
    assert trained == [[0]] and report.trained == [huge.hash()]

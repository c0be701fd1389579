"""The synthetic multilingual world: knowledge graph, languages, tokenizer, splits, information, statistics."""

from crosslingual.core.world.generator import PARALLEL, Split, World
from crosslingual.core.world.information import (
                                                 answer_prior,
                                                 empirical_information,
                                                 exact_information,
                                                 mutual_information_bits,
)
from crosslingual.core.world.stats import language_cue_share, per_language_table, summary_table, vocabulary_overlap

__all__ = ["PARALLEL", "Split", "World", "answer_prior", "empirical_information", "exact_information",
           "language_cue_share", "mutual_information_bits", "per_language_table", "summary_table", "vocabulary_overlap"]

"""The papers' claims as automated checks, one module per paper, each rule with its thresholds and rationale
fixed in code before the runs it judges (:mod:`.rosetta`, :mod:`.hyperpolyglot`, :mod:`.linguistic_regions`);
the verdict kinds and how parts combine in :mod:`.verdicts`; the statistics in :mod:`crosslingual.stats`."""

from crosslingual.claims import hyperpolyglot, linguistic_regions, rosetta
from crosslingual.claims.hyperpolyglot import (H1_GEMMA_CLAIM, H1_GEMMA_MODEL, H1_REAL_CLAIM, H1_REAL_MODEL,
                                               H2_REAL_CLAIM, H3_REAL_CLAIM, h1_real_model, h1_real_not_run,
                                               h1_redesign, h1_redesign_not_run, h2_real_languages, h2_real_models,
                                               h2_redesign, h2_redesign_not_run,
                                               h2_real_not_run, h3_real_models,
                                               h3_real_not_run,
                                               h1_script_separability, h2_neighbourhoods_follow_unification,
                                               h3_geometry_agrees_across_seeds)
from crosslingual.claims.linguistic_regions import (OUTLIER_MIN_RATIO, g1_core_region, g1_redesign,
                                                    g2_monolingual_regions, g3_outlier_dimension, g3_redesign,
                                                    g13_redesign_not_run, g4_core_freezing, g4_redesign,
                                                    g4_redesign_not_run, regions_real_model, regions_real_not_run)
from crosslingual.claims.rosetta import (R3_STATISTICS, R4_REDESIGN, R5_CUE_SIGNS, R5_REDESIGN,
                                         R5_REDESIGN_CUE_SIGNS, R7_CLAIMED,
                                         R7_REDESIGN, R7_REDESIGN_CLAIMED, R7_REDESIGN_COMPARISONS,
                                         correlation_statistics, layer_correlations, learning_phases, not_run,
                                         paired_by_seed, phase_counts, r1_cross_lingual_gap, r2_learning_phase,
                                         r3_unification_predicts_transfer, r4_information, r5_extractability,
                                         r6_exposure_control, r7_interventions, r8_not_run, r8_real_model,
                                         transfers)
from crosslingual.claims.verdicts import (CLAIMS_LOG, INSUFFICIENT, KINDS, NOT_REPRODUCED, PARTIAL,
                                          POSITIVE_CONTROL, REPRODUCED, UNTESTABLE, Rule, Verdict, overall, record,
                                          verdict_table)

PAPERS = {"Beyond the Rosetta Stone": rosetta, "Hyperpolyglot LLMs": hyperpolyglot,
          "Unveiling Linguistic Regions": linguistic_regions}
RULES = {claim: rule for module in PAPERS.values() for claim, rule in module.RULES.items()}
PAPER_FIGURES = {claim: text for module in PAPERS.values() for claim, text in module.PAPER_FIGURES.items()}

__all__ = [
    "CLAIMS_LOG", "H1_GEMMA_CLAIM", "H1_GEMMA_MODEL", "H1_REAL_CLAIM", "H1_REAL_MODEL", "INSUFFICIENT", "KINDS", "NOT_REPRODUCED", "OUTLIER_MIN_RATIO", "PAPERS", "PAPER_FIGURES",
    "PARTIAL", "POSITIVE_CONTROL", "R3_STATISTICS", "R4_REDESIGN", "R5_CUE_SIGNS", "R5_REDESIGN",
    "R5_REDESIGN_CUE_SIGNS", "R7_CLAIMED", "R7_REDESIGN", "R7_REDESIGN_CLAIMED", "R7_REDESIGN_COMPARISONS", "REPRODUCED", "RULES", "UNTESTABLE", "Rule",
    "Verdict", "correlation_statistics", "g1_core_region", "g1_redesign", "g2_monolingual_regions", "g3_outlier_dimension",
    "g3_redesign", "g13_redesign_not_run",
    "g4_core_freezing", "g4_redesign", "g4_redesign_not_run", "h1_real_model", "h1_real_not_run", "h1_redesign", "h1_redesign_not_run", "h1_script_separability", "h2_neighbourhoods_follow_unification", "h2_redesign", "h2_redesign_not_run",
    "H2_REAL_CLAIM", "h2_real_languages", "h2_real_models", "h2_real_not_run", "H3_REAL_CLAIM", "h3_geometry_agrees_across_seeds", "h3_real_models", "h3_real_not_run", "layer_correlations", "learning_phases", "not_run", "overall", "paired_by_seed", "phase_counts",
    "r1_cross_lingual_gap",
    "r2_learning_phase", "r3_unification_predicts_transfer", "r4_information", "r5_extractability",
    "r6_exposure_control", "r7_interventions", "r8_not_run", "r8_real_model", "record", "regions_real_model", "regions_real_not_run", "transfers",
    "verdict_table",
]

"""*Hyperpolyglot LLMs* (H1-H3): the claims' rules and checks, on one number per independent unit (see
:mod:`crosslingual.claims.rosetta` for the statistics)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from crosslingual.claims.stats import MIN_UNITS, effect, measurement, p_text, per_seed, spearman, trend_per_seed
from crosslingual.claims.verdicts import (
    CONTRADICTED,
    NOT_REPRODUCED,
    PARTIAL,
    REPRODUCED,
    REREGISTERED,
    SINGLE_MODEL,
    STATISTICS,
    UNTESTABLE,
    Rule,
    Verdict,
    first_design_not_run,
    insufficient,
    judged,
    n_seeds,
    overall,
)

H1_MIN_ACCURACY = 0.9  # the paper: 0.9924 (XLM-R-XL), 0.9332 (mT5-XL)
H1_MIN_PARTIAL = 0.6  # clearly above the 0.5 of a balanced one-vs-rest task
H1_CHANCE = 0.5  # a balanced one-vs-rest task
H1 = Rule("H1", "per tokenizer family: the per-seed mean cross-validated one-vs-rest accuracy of the script "
          f"categories exceeds {H1_MIN_ACCURACY} (reproduced) or {H1_MIN_PARTIAL} (partial), sign tests over "
          f"seeds; untestable if it lies significantly below the balanced chance of {H1_CHANCE} (the probe, not "
          f"the embedding, fails: a cross-validated probe cannot read below chance from embeddings that carry no "
          f"script, only from a design artefact such as held-out tokens of one class); {STATISTICS}",
          "the paper reports 0.99 and 0.93; 0.6 is clearly above the balanced chance of 0.5",
          "split by tokenizer after a first look (word-level ids carry no script; #11). " + REREGISTERED + ". In "
          "#36 also: the default build's probes read 0.33 and 0.41 against a chance of 0.5, which says the probe's "
          "design is at fault, not the claim; such a probe is now uninformative (untestable), not a failure")
H2 = Rule("H2", "per seed: Spearman's rho across the seed's runs between final unification and (a) the share of a "
          "token's k neighbours in another script, (b) translation precision@k; reproduced if both rhos exceed 0 "
          "(sign tests over seeds), partial if one does under Holm's adjustment over the two, contradicted if one "
          f"lies significantly below 0; {STATISTICS}",
          "the claim is a direction, not a size",
          "the share of neighbours in another script replaced numNeighborCategory after a first look: with two "
          "scripts numNeighborCategory saturates at 2. " + REREGISTERED + ". In #36 also: H2 read partial while its "
          "cross-script share went significantly against the claim (rho -0.64)")
H3_MIN_MARGIN = 0.1
H3 = Rule("H3", "one pair of initialisations per world (the unit): reproduced if the final k-NN overlap exceeds "
          f"chance + {H3_MIN_MARGIN} and the per-pair trend of the overlap over training is above 0 (sign tests over "
          f"pairs); partial if only the overlap exceeds chance + {H3_MIN_MARGIN} (agreement without a measured rise); "
          f"contradicted if the overlap lies significantly below chance; {STATISTICS}",
          "0.1 is several times the chance overlap k / (n - 1) of our worlds (about 0.05)",
          "pairs of seeds of one world replaced by one pair per world in #17: pairs sharing a run are not "
          "independent. " + REREGISTERED + ". In #36 also: 'partial if one holds' passed every table whose overlap "
          "crept up during training below chance + 0.1; partial now needs the agreement the claim states")
H1_REAL_MODEL = "multilingual-e5-small"  # the pretrained model the book judges H1 on (crosslingual.pretrained.wheels)
H1_GEMMA_MODEL = "gemma-3-270m"  # the second one: a different family and a 262k vocabulary
H1_REAL_PER_SIDE = 2000  # tokens per side of a category's balanced set (crosslingual.analysis.geometry.separability)


def _h1_real_text(pieces: str) -> str:
    """The rule of H1 on one pretrained model's input embeddings (``pieces``: which of them): the paper's
    thresholds, a single-model measurement over the script categories."""
    return (f"one pretrained model's input embeddings ({pieces}): the cross-validated one-vs-rest accuracy of "
            "each script category with >= 500 tokens (balanced sets of at most 2 x "
            f"{H1_REAL_PER_SIDE:,} tokens); reproduced in that model if the interval of the median category lies "
            f"above {H1_MIN_ACCURACY}, partial if above {H1_MIN_PARTIAL}; {SINGLE_MODEL}")


H1_REAL_RATIONALE = ("the paper's thresholds for H1; the categories share one model, so the interval describes the "
                     "spread over scripts in that model, and a single quantised model makes the agreement qualitative")
H1_REAL_AMENDED = ("re-registered in #36 before judging any run: a sign-flip test over the categories of one model "
                   "treated them as independent units (n = 30 and 24); one model is one unit (science.md 5), so the "
                   "verdict is now a description of that model")
H1_REAL = Rule("H1 (multilingual-e5-small)", _h1_real_text("all of its vocabulary"), H1_REAL_RATIONALE,
               H1_REAL_AMENDED)
H1_GEMMA = Rule("H1 (gemma-3-270m)", _h1_real_text("the pieces of type normal: control, byte, user-defined and "
                                                   "unused pieces are left out, as they are not text of any script"),
                H1_REAL_RATIONALE, H1_REAL_AMENDED)
H1_REAL_CLAIM, H1_GEMMA_CLAIM = H1_REAL.claim, H1_GEMMA.claim
H1_REAL_RULES = {H1_REAL_MODEL: H1_REAL, H1_GEMMA_MODEL: H1_GEMMA}
H2_REAL_K = 10  # translation precision@k and the neighbours whose scripts are counted
H2_REAL_MIN_PAIRS = 10  # a language with fewer dictionary pairs held as single pieces by both models is left out
H2_REAL = Rule("H2 (multilingual-e5-small vs gemma-3-270m)",
               "two pretrained models' input embeddings on the CLDR dictionary (crosslingual.dictionary: English "
               "names of months, weekdays, countries and languages beside their names in 12 languages), over the "
               "pairs whose two names are single pieces in both vocabularies; per target language (the unit, "
               f"if it has >= {H2_REAL_MIN_PAIRS} such pairs): translation precision@{H2_REAL_K} (the target among "
               f"the English piece's {H2_REAL_K} nearest neighbours in the whole vocabulary) and the share of the "
               f"target piece's {H2_REAL_K} neighbours in another script; per language the difference "
               "multilingual-e5-small minus gemma-3-270m; reproduced if the interval of the median language's "
               "difference lies above 0 in both measures, partial if in one, contradicted if it lies below 0 in one; "
               f"{SINGLE_MODEL} (of this pair of models: the languages share the English queries)",
               "multilingual-e5-small was trained to bring texts and their translations together (contrastive "
               "pre-training on multilingual pairs), Gemma 3 270M to predict the next token: H2 says the unifying "
               "model has the translation-rich, multi-script neighbourhoods; the claim is a direction",
               "re-registered in #36 before judging any run: a sign-flip test over 8 target languages that share "
               "their English queries treated them as independent units; the verdict now describes this pair of "
               "models, and a measure significantly against the claim reads contradicted")
H3_REAL_K = 10  # neighbours compared, as H3 on our models
H3_REAL_QUERIES = 300  # query pieces per script category (seeded), each searched among all shared pieces
H3_REAL = Rule("H3 (multilingual-e5-small vs gemma-3-270m)",
               "two pretrained models' input embeddings over the pieces both vocabularies hold (the same string, "
               f"word mark included; Gemma's pieces of type normal): per script category with >= 500 shared pieces, "
               f"the mean over up to {H3_REAL_QUERIES} query pieces (seeded) of the share of their {H3_REAL_K} "
               "nearest neighbours (cosine, among all shared pieces, self excluded) that the two models have in "
               f"common; reproduced if the interval of the median category lies above chance k / (n - 1) + "
               f"{H3_MIN_MARGIN}, partial if above chance only; {SINGLE_MODEL} (of this pair of models)",
               f"H3's margin ({H3_MIN_MARGIN}: one neighbour in ten shared beyond chance); the categories share two "
               "models, so the interval describes the spread over scripts; two models of different families and "
               "training make this a test of a common geometry, not of seeds",
               "re-registered in #36 before judging any run: a sign-flip test over 21 script categories of one "
               "pair of models treated them as independent units; the verdict now describes this pair of models")
H3_REAL_CLAIM = H3_REAL.claim
H2_REAL_CLAIM = H2_REAL.claim
H1_REDESIGN = Rule("H1-redesign", f"H1's thresholds, unchanged (per-seed mean one-vs-rest accuracy over the script "
                   f"categories above {H1_MIN_ACCURACY}: reproduced, above {H1_MIN_PARTIAL}: partial; sign tests "
                   "over seeds), on the study script_geometry: a world of 4 languages in 4 distinct scripts (latin, "
                   "cyrillic, greek, armenian) split into subwords by BPE (256 pieces) and trained with the full "
                   "next-token loss for the profile's steps, one run per seed, probed at the final checkpoint on the "
                   "input embeddings of the pieces that occur as inputs; and only if the accuracy exceeds the same "
                   "probe's with the script labels shuffled (a permutation drawn with the run's seed; per-seed "
                   f"difference > 0 by the sign test), else not reproduced; {STATISTICS}",
                   "the old design's blockers: word-level ids carry no script, and the answer-only loss gives "
                   "input pieces no reason to carry their language (chapter 6's two-script BPE arm sits below "
                   "chance); a real language model is trained on every next token, where the language matters. "
                   "Four scripts make each one-vs-rest task a script against three others. A pilot on seeds "
                   "1000-1001 (never used for a verdict; crosslingual sweep script_geometry --seeds 2 --seed 1000) "
                   "measured 0.705 and 0.705 at the final checkpoint, about 0.5 with shuffled labels, 0.47 at "
                   "initialisation and a peak of 0.88-0.91 at steps 80-90; the same worlds trained on the answer only "
                   "gave 0.46 and 0.40, and 500-step runs 0.77-0.78. The rule keeps the profile's steps and the "
                   "final checkpoint, as for every other model, rather than the length that reads highest",
                   REREGISTERED + "; it follows H1's re-registered rule",
                   redesign="chapter 6's two-script BPE arm trained on the answer only is replaced by four scripts "
                   "trained on every next token, judged against a shuffled-label baseline")
H1_REDESIGN_STATEMENT = "tokens of distinct scripts are linearly separable in the input embeddings of a model " \
    "trained on every next token"
H2_REDESIGN = Rule("H2-redesign", "H2's rule (per seed: Spearman's rho across the seed's runs between final "
                   "unification and (a) neighbour diversity, (b) translation precision@k; reproduced if both rhos "
                   "exceed 0, partial if one under Holm's adjustment, contradicted if one lies significantly below 0; "
                   "sign tests over seeds), on the study neighbourhoods: the world of "
                   "H1-redesign (4 languages in 4 distinct scripts, BPE with 256 pieces, the full next-token loss, the "
                   "profile's steps) in 6 settings per seed (parallel fraction 0.2, 0.4, 0.6, 0.8; code-switching 0.25 "
                   "and the alignment loss, weight 1, at 0.6), measured at the final checkpoint on the world's entity "
                   "and relation names, each name's vector the mean of its input pieces' embeddings "
                   "(crosslingual.geometry_study.word_neighbourhoods), with k = the number of a name's translations "
                   "(languages - 1 = 3); (a) is the paper's numNeighborCategory@k (scripts among a name's k + 1 "
                   "nearest names, 1 to 4), (b) the share of names with a translation among their k neighbours. The "
                   "same measures with shuffled labels (script labels permuted over the names; translation groups "
                   "carried to a permutation of them) are reported as chance, not judged: H2 is a direction",
                   "the old design's blockers: with two scripts numNeighborCategory saturates at 2, k = 10 with one "
                   "translation per word bounds what neighbourhoods can show, translations exist per token only at "
                   "word level, and the answer-only loss leaves input embeddings blind to the language. Here a "
                   "perfectly translation-rich neighbourhood is the only one that reaches 4 scripts and precision 1. "
                   "The settings are the levers that moved unification in chapters 3 and 6, so that each seed's runs "
                   "spread along it. A pilot on seeds 1000-1001 (never used for a verdict) measured unification 0.03 "
                   "to 0.26; numNeighborCategory@3 1.02-1.08 (shuffled labels: 2.72-2.80) and precision@3 "
                   "0.003-0.009 (shuffled: 0.017-0.034) in every setting but the alignment loss, which gave 1.41-1.49 "
                   "and 0.205-0.216; per-seed rhos 0.09 and 0.61 (diversity), 0.65 and -0.21 (precision)",
                   REREGISTERED + "; it follows H2's re-registered rule",
                   redesign="two-script word-level worlds trained on the answer only, k = 10, are replaced by four "
                   "scripts in subwords trained on every next token, names pooled from their pieces, k = 3")
H2_REDESIGN_STATEMENT = "models that unify have multi-script, translation-rich neighbourhoods (four scripts, " \
    "subwords, trained on every next token)"

RULES = {r.claim: r for r in (H1, H1_REDESIGN, H2, H2_REDESIGN, H3, H1_REAL, H1_GEMMA, H2_REAL, H3_REAL)}
# What the paper reports for each claim, so the scoreboard can set our number beside theirs.
PAPER_FIGURES = {
    "H1": "99.24% (XLM-R-XL), 93.32% (mT5-XL)",
    "H2": "numNeighborCategory@50: 7.61 (mT5-XL) vs 1.64 (XLM-R-XL); translations judged by hand",
    H2_REDESIGN.claim: "numNeighborCategory@50: 7.61 (mT5-XL) vs 1.64 (XLM-R-XL); translations judged by hand",
    "H3": "qualitative (k-NN overlap and canonical angles between models)",
    H1_REAL_CLAIM: "99.24% (XLM-R-XL, whose vocabulary multilingual-e5-small shares)",
    H1_GEMMA_CLAIM: "99.24% (XLM-R-XL), 93.32% (mT5-XL); Gemma was not studied",
    H2_REAL_CLAIM: "numNeighborCategory@50: 7.61 (mT5-XL) vs 1.64 (XLM-R-XL); translations judged by hand",
    H3_REAL_CLAIM: "qualitative (k-NN overlap and canonical angles between XLM-R and mT5)",
}

H1_STATEMENT = "tokens of distinct scripts are linearly separable in the input embeddings"


def h1_script_separability(per_run: pd.DataFrame) -> list[Verdict]:
    """``per_run``: one row per run with ``seed``, ``tokenizer`` (the part of the verdict: word-level and
    subword models are judged separately) and ``separability`` (NaN where no category had enough tokens, left
    out)."""
    parts = []
    for tokenizer, data in per_run[np.isfinite(per_run.separability)].groupby("tokenizer", sort=True):
        claim, n = f"H1 ({tokenizer})", n_seeds(data)
        if n < MIN_UNITS:
            parts.append(insufficient(claim, H1_STATEMENT, H1, n))
            continue
        values = per_seed(data, "separability")
        full, half = effect(values, null=H1_MIN_ACCURACY), effect(values, null=H1_MIN_PARTIAL)
        below = effect(values, sign=-1, null=H1_CHANCE)
        numbers = {"separability": full.median, "ci": full.ci}
        if below.significant:
            parts.append(Verdict(claim, H1_STATEMENT, UNTESTABLE, H1.text,
                                 f"the probe reads below chance: accuracy {below.text()} ({H1_CHANCE}), which no "
                                 "embedding can cause in a cross-validated balanced probe; the probe's design, not "
                                 "the claim, is tested, so the result is uninformative", numbers))
            continue
        parts.append(judged(claim, H1_STATEMENT, H1,
                            f"accuracy {full.text()} (vs {H1_MIN_PARTIAL}: {half.agree}/{half.n} seeds above, "
                            f"{p_text(half.p)})", numbers, [full], [half], []))
    return [*parts, overall("H1", H1_STATEMENT, parts)]


def h1_redesign(checkpoints: pd.DataFrame) -> Verdict:
    """``checkpoints``: one row per run of the study script_geometry and saved checkpoint, with ``seed``,
    ``run``, ``step``, ``separability`` and ``shuffled`` (the same probe with shuffled script labels;
    ``geometry_study.script_table``). The rule reads each run's final checkpoint; runs where no script category
    had enough tokens to probe (NaN) are left out. The numbers also describe the curve: the highest mean over
    seeds at one step (``peak``, ``peak_step``)."""
    final = checkpoints[checkpoints.step == checkpoints.groupby("run").step.transform("max")]
    per_run = final[np.isfinite(final.separability) & np.isfinite(final.shuffled)]
    n = n_seeds(per_run)
    if n < MIN_UNITS:
        return insufficient(H1_REDESIGN.claim, H1_REDESIGN_STATEMENT, H1_REDESIGN, n)
    curve = checkpoints.groupby("step").separability.mean()
    values = per_seed(per_run, "separability")
    margin = effect(per_seed(per_run.assign(margin=per_run.separability - per_run.shuffled), "margin"))
    full, half = effect(values, null=H1_MIN_ACCURACY), effect(values, null=H1_MIN_PARTIAL)
    # every level needs the margin over the shuffled-label probe: an intersection-union test of each with it
    verdict = replace(judged(H1_REDESIGN.claim, H1_REDESIGN_STATEMENT, H1_REDESIGN,
                             f"accuracy {full.text()} (vs {H1_MIN_PARTIAL}: {half.agree}/{half.n} seeds above, "
                             f"{p_text(half.p)}); minus the shuffled-label probe {margin.text()}",
                             {"separability": full.median, "ci": full.ci, "margin": margin.median,
                              "margin_ci": margin.ci, "peak": float(curve.max()), "peak_step": int(curve.idxmax())},
                             [full, margin], [half], []))  # below the shuffled probe: not reproduced (the rule)
    if verdict.verdict == PARTIAL and not margin.significant:
        verdict = replace(verdict, verdict=NOT_REPRODUCED, p=max(verdict.p, margin.p))
    return verdict


def h1_redesign_not_run(reason: str) -> Verdict:
    """A build that left the redesign's section out (``-p h1_redesign no``) says so on the scoreboard."""
    return Verdict(H1_REDESIGN.claim, H1_REDESIGN_STATEMENT, UNTESTABLE, H1_REDESIGN.text, reason)


def first_designs_not_run(reason: str) -> list[Verdict]:
    """H1 and H2 on the word-level runs of chapters 3, 5 and 6 (the first designs), not judged in this build:
    superseded by their redesigns."""
    return [first_design_not_run(H1, H1_STATEMENT, reason), first_design_not_run(H2, H2_STATEMENT, reason)]


def h1_real_model(separability: pd.DataFrame, model: str = H1_REAL_MODEL) -> Verdict:
    """``separability``: ``crosslingual.analysis.geometry.separability`` of the ``model``'s vocabulary (its rule
    says which pieces), one row per category (``category``, ``accuracy``)."""
    rule = _real_rule(model)
    n = len(separability)
    if n < MIN_UNITS:
        return insufficient(rule.claim, H1_STATEMENT, rule, n)
    m = measurement(separability.accuracy, "script categories", model)
    verdict = REPRODUCED if m.beyond(H1_MIN_ACCURACY) else PARTIAL if m.beyond(H1_MIN_PARTIAL) else NOT_REPRODUCED
    return Verdict(rule.claim, H1_STATEMENT, verdict, rule.text, f"accuracy {m.text()}",
                   {"separability": m.median, "ci": m.ci, "categories": n})


def h1_real_not_run(reason: str, model: str = H1_REAL_MODEL) -> Verdict:
    """The book built without the pretrained model (its package not installed) says so on the scoreboard."""
    rule = _real_rule(model)
    return Verdict(rule.claim, H1_STATEMENT, UNTESTABLE, rule.text, reason)


def _real_rule(model: str) -> Rule:
    if model not in H1_REAL_RULES:
        raise ValueError(f"model={model!r}: H1 has a rule for {', '.join(H1_REAL_RULES)} only")
    return H1_REAL_RULES[model]


H2_STATEMENT = "models that unify have multi-script, translation-rich neighbourhoods"


def h2_neighbourhoods_follow_unification(final: pd.DataFrame) -> Verdict:
    """``final``: one row per run with ``seed``, ``unification``, ``cross_script_share`` and
    ``translation_precision``; the runs of one seed are its block (the settings of a study)."""
    parts = _h2_rhos(final, ("cross_script_share", "translation_precision"))
    if parts is None:
        return insufficient("H2", H2_STATEMENT, H2, n_seeds(final))
    return judged("H2", H2_STATEMENT, H2,
                  "; ".join(f"{m.replace('_', ' ')}: per-seed rho {e.text()} ({e.direction})" for m, e in parts.items())
                  + f"; pooled rho (description) {spearman(final.unification, final.translation_precision):z.2f}",
                  {m: {"rho": e.median, "ci": e.ci, "p": e.p} for m, e in parts.items()}, [*parts.values()],
                  [*parts.values()])


def h2_redesign(final: pd.DataFrame) -> Verdict:
    """``final``: one row per run of the study neighbourhoods with ``seed``, ``unification`` and, at the final
    checkpoint (``geometry_study.word_neighbourhoods``), ``neighbor_categories``, ``translation_precision`` and
    their ``*_shuffled`` chance levels. H2's rule on the new measures; the numbers add each measure's mean over
    runs and its chance, and the same in the seed's most unified run, so a reader sees where the levels sit, and
    the range of unification the runs span."""
    measures = ("neighbor_categories", "translation_precision")
    parts = _h2_rhos(final, measures)
    if parts is None:
        return insufficient(H2_REDESIGN.claim, H2_REDESIGN_STATEMENT, H2_REDESIGN, n_seeds(final))
    top = final[final.unification == final.groupby("seed").unification.transform("max")]
    numbers = {m: {"rho": e.median, "ci": e.ci, "p": e.p, "mean": float(final[m].mean()),
                   "chance": float(final[f"{m}_shuffled"].mean()), "most_unified": float(top[m].mean())}
               for m, e in parts.items()}
    numbers["unification"] = {"min": float(final.unification.min()), "max": float(final.unification.max())}
    labels = {"neighbor_categories": "numNeighborCategory@k", "translation_precision": "translation precision@k"}
    return judged(H2_REDESIGN.claim, H2_REDESIGN_STATEMENT, H2_REDESIGN,
                  "; ".join(f"{labels[m]}: per-seed rho {e.text()} (mean over runs {numbers[m]['mean']:z.3f}, in each "
                            f"seed's most unified run {numbers[m]['most_unified']:z.3f}; shuffled labels "
                            f"{numbers[m]['chance']:z.3f})" for m, e in parts.items()), numbers, [*parts.values()],
                  [*parts.values()])


def _h2_rhos(final: pd.DataFrame, measures: tuple[str, str]) -> dict | None:
    """H2's tests: the per-seed rho of unification with each of ``measures``; ``None`` with fewer than
    ``MIN_UNITS`` seeds."""
    if n_seeds(final) < MIN_UNITS:
        return None
    return {m: effect(trend_per_seed(final, "unification", m)) for m in measures}


def h2_redesign_not_run(reason: str) -> Verdict:
    """A build that left the study neighbourhoods out says so on the scoreboard (untestable, with why)."""
    return Verdict(H2_REDESIGN.claim, H2_REDESIGN_STATEMENT, UNTESTABLE, H2_REDESIGN.text, reason)


H3_STATEMENT = "the embedding geometry forms during training and agrees across seeds"


def h3_geometry_agrees_across_seeds(pairs: pd.DataFrame, chance: float) -> Verdict:
    """``pairs``: one row per pair x checkpoint with ``pair`` (one pair of initialisations of one world: the
    independent unit), ``step`` and ``overlap`` (mean share of common k nearest neighbours); ``chance``: the
    overlap of unrelated embeddings (k / (n - 1))."""
    n = n_seeds(pairs, "pair")
    if n < MIN_UNITS:
        return insufficient("H3", H3_STATEMENT, H3, n)
    last = pairs[pairs.step == pairs.groupby("pair").step.transform("max")]
    overlap = per_seed(last, "overlap", unit="pair")
    final, above = effect(overlap, null=chance + H3_MIN_MARGIN), effect(overlap, null=chance)
    trend = effect(trend_per_seed(pairs, "step", "overlap", unit="pair"))
    return judged("H3", H3_STATEMENT, H3,
                  f"final overlap {final.text(3)} (chance {chance:z.3f}); per-pair trend over training {trend.text()}",
                  {"overlap": final.median, "ci": final.ci, "chance": chance, "trend": trend.median,
                   "trend_ci": trend.ci}, [final, trend], [final], [above])


def h3_real_models(overlap: pd.DataFrame, chance: float, canonical: float | None = None,
                   canonical_random: float | None = None) -> Verdict:
    """``overlap``: one row per script category (the unit) with ``overlap`` (mean share of common neighbours of
    its query pieces, ``crosslingual.analysis.geometry_study.cross_model_overlap``); ``chance``: k / (n - 1) over the n
    shared pieces. The largest canonical cosine between the two embeddings (and its random baseline) is
    reported, not judged."""
    n = len(overlap)
    if n < MIN_UNITS:
        return insufficient(H3_REAL_CLAIM, H3_STATEMENT, H3_REAL, n)
    m = measurement(overlap.overlap, "script categories", "the two models")
    verdict = REPRODUCED if m.beyond(chance + H3_MIN_MARGIN) else PARTIAL if m.beyond(chance) else NOT_REPRODUCED
    angles = ("" if canonical is None else
              f"; largest canonical cosine {canonical:z.3f} (random matrices of the same shapes: "
              f"{canonical_random:z.3f})")
    return Verdict(H3_REAL_CLAIM, H3_STATEMENT, verdict, H3_REAL.text,
                   f"overlap@{H3_REAL_K} {m.text(3)}, chance {chance:z.5f}" + angles,
                   {"overlap": m.median, "ci": m.ci, "chance": chance, "categories": n,
                    "canonical": canonical, "canonical_random": canonical_random})


def h3_real_not_run(reason: str) -> Verdict:
    """H3 between the two pretrained models when the book is built without one of them: untestable, with why."""
    return Verdict(H3_REAL_CLAIM, H3_STATEMENT, UNTESTABLE, H3_REAL.text, reason)


def h2_real_languages(per_language: pd.DataFrame) -> pd.DataFrame:
    """The units of H2 between two pretrained models: the target languages where every model holds at least
    ``H2_REAL_MIN_PAIRS`` dictionary pairs as single pieces (the rows of the others are dropped)."""
    enough = per_language.groupby("language").pairs.transform("min") >= H2_REAL_MIN_PAIRS
    return per_language[enough]


def h2_real_models(per_language: pd.DataFrame, unifying: str = H1_REAL_MODEL, other: str = H1_GEMMA_MODEL
                   ) -> Verdict:
    """``per_language``: one row per model x target language with ``model``, ``language``, ``pairs``,
    ``precision`` and ``cross_share`` (``crosslingual.analysis.geometry_study.translation_neighbourhoods``); languages
    with fewer than ``H2_REAL_MIN_PAIRS`` pairs are left out, the others are the units."""
    kept = h2_real_languages(per_language)
    wide = kept.pivot_table(index="language", columns="model", values=["precision", "cross_share"])
    if unifying not in set(kept.model) or other not in set(kept.model) or len(wide) < MIN_UNITS:
        return insufficient(H2_REAL_CLAIM, H2_STATEMENT, H2_REAL, len(wide))
    pair = f"{unifying} - {other}"
    parts = {m: measurement(wide[m][unifying] - wide[m][other], "target languages", pair)
             for m in ("precision", "cross_share")}
    ok = [m for m, e in parts.items() if e.beyond(0.0)]
    verdict = CONTRADICTED if any(e.beyond(0.0, sign=-1) for e in parts.values()) else \
        REPRODUCED if len(ok) == 2 else PARTIAL if ok else NOT_REPRODUCED
    means = {m: (float(wide[m][unifying].mean()), float(wide[m][other].mean())) for m in parts}
    return Verdict(H2_REAL_CLAIM, H2_STATEMENT, verdict, H2_REAL.text,
                   f"over {len(wide)} languages, {unifying} minus {other}: "
                   + "; ".join(f"{'precision@' + str(H2_REAL_K) if m == 'precision' else 'cross-script share'} "
                               f"{e.text(3)} ({means[m][0]:z.3f} vs {means[m][1]:z.3f})" for m, e in parts.items()),
                   {m: {"difference": e.median, "ci": e.ci} for m, e in parts.items()}
                   | {"languages": len(wide)})


def h2_real_not_run(reason: str) -> Verdict:
    """H2 between the two pretrained models when the book is built without one of them: untestable, with why."""
    return Verdict(H2_REAL_CLAIM, H2_STATEMENT, UNTESTABLE, H2_REAL.text, reason)

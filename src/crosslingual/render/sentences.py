"""The sentences a chapter's page assembles from its results, worded here rather than in f-strings in the
notebooks, so that a reader finds a chapter's experiment in its cells and a test pins every sentence on made-up
inputs (``tests/unit/test_notebook_helpers.py``).

Each function takes numbers that were computed elsewhere (verdicts, the package's tables and summaries) and
returns Markdown, which the notebook glues for its ``{glue:md}`` references. Nothing here measures or decides: a
threshold that a sentence quotes, or that picks between two wordings, is imported from the module that owns it,
and a verdict's word is the claim module's. The functions follow the chapters' order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from crosslingual.analysis.geometry_study import MIN_CATEGORY, NEIGHBOUR_SHARE, NEIGHBOURS
from crosslingual.analysis.regions_study import PAPER_FRACTION, SAME_LOSS_SPREAD
from crosslingual.claims.designs import FACTOR
from crosslingual.claims.linguistic_regions import OUTLIER_MIN_RATIO
from crosslingual.claims.rosetta import R4_MAX_TREND, R5_REDESIGN_CUE_SIGNS
from crosslingual.claims.stats import p_text
from crosslingual.claims.verdicts import INSUFFICIENT, UNTESTABLE
from crosslingual.store.results import cue_setting

if TYPE_CHECKING:
    import pandas as pd

    from crosslingual.claims.verdicts import Verdict


# ------------------------------------------------------------------------------ any chapter: what did not run


def _claims(verdicts: Sequence[Verdict]) -> str:
    return " and ".join(v.claim for v in verdicts)


def not_run(verdicts: Sequence[Verdict]) -> str:
    """The reading of a section with no result to word: its claims, their verdict and why, in italics
    (``*R4-redesign: untestable, not run in this build: -p r4_redesign no.*``). ``verdicts`` share one verdict and
    one reason (a section left out, or with too few seeds), so the first one's are given."""
    return f"*{_claims(verdicts)}: {verdicts[0].verdict}, {verdicts[0].evidence}.*"


def absent_section(payloads: Sequence[Mapping[str, Any]], chapter: str, cost: str = "") -> str:
    """The admonition that stands for a section this build did not run (``crosslingual.render.absences``): the
    claims it judges, in words; why it did not run; the command that runs it (``chapter``: the notebook's stem;
    each payload's ``parameter``, ``name=value``); and, for a first design, ``cost``, its estimated training
    time. ``payloads`` are the section's absence markers (``absences.mark_absent``): their claims are said once."""
    from crosslingual.render.scoreboard import commands_as_code

    claims = dict.fromkeys((claim, statement.rstrip(".")) for p in payloads for claim, statement in p["claims"])
    names = " and ".join(claim for claim, _ in claims)
    tests = "; ".join(f"**{claim}**: {statement}" for claim, statement in claims)
    reasons = []
    for reason in dict.fromkeys(p["reason"] for p in payloads):
        reasons.append(reason if reason.endswith((".", ".*")) else f"It did not run: {reason}.")
    parameters = list(dict.fromkeys(p["parameter"] for p in payloads if p["parameter"]))
    how = " ".join(f"`crosslingual book --chapter {chapter[:2]} -p {parameter}`" for parameter in parameters)
    if any(p["first_design"] for p in payloads):
        how += " (`make book FIRST_DESIGNS=1` runs every chapter's first design)"
    lines = [f"```{{admonition}} Not run in this build: {names}", ":class: crosslingual-absent", "",
             f"This section judges {tests}.", commands_as_code(" ".join(reasons))]
    if how:
        lines.append(f"To run it: {how.strip()}.")
    if cost and any(p["first_design"] for p in payloads):
        lines.append(cost)
    return "\n".join([*lines, "```"])


def first_design_cost(runs: int, seconds: float) -> str:
    """A first design's estimated cost, for the admonition that stands for it (``render.cost.first_design_seconds``:
    ``runs`` missing from the store, ``seconds`` of training on one core)."""
    if not runs:
        return "Its runs are in the store: running it costs only its analysis."
    minutes = f"{seconds / 60:z.0f} min" if seconds >= 60 else f"{seconds:z.0f} s"
    return (f"Estimated cost: {runs} run{'' if runs == 1 else 's'}, about {minutes} of training on one core of this "
            "machine (from the rate of this chapter's runs in this build; the cost page explains the estimate).")


def not_installed(model: str) -> str:
    """Why a pretrained model's section did not run where the user asked for it: its wheels are missing (the
    reason its untestable verdicts carry)."""
    return f"{model} is not installed (`make models`)"


def skipped(model: str, pretrained: str, every: Sequence[str] = ()) -> str:
    """Why a pretrained model's section did not run where the ``pretrained`` parameter left the model out; with
    ``every``, how to run them all."""
    how = f"; `-p pretrained \"{' '.join(every)}\"` runs it" if every else ""
    return f"this build skipped {model} (pretrained={pretrained!r}{how})"


def missing_models(models: Sequence[str]) -> str:
    """Why a comparison of two pretrained models did not run: ``models`` did not."""
    return f"{', '.join(models)} did not run in this build (installed: `make models`; parameter pretrained)"


def model_not_run(model: str, reason: str) -> str:
    """One model's reading when it did not run, among the readings of those that did."""
    return f"*{model}: not run: {reason}.*"


def comparison_not_run(reason: str) -> str:
    """The reading of a two-model comparison that did not run."""
    return f"*Not run: {reason}.*"


# ------------------------------------------------------------------------------ 03_information


def r4_redesign(verdicts: Sequence[Verdict], parallel_fraction: float) -> str:
    """R4-redesign's reading: per sweep, the median seed's trend of unification and of chance-corrected accuracy
    over the information the knob moves (``verdicts``: ``rosetta.r4_information``'s, one per sweep, then the
    overall verdict), at the study's ``parallel_fraction``."""
    *sweeps, overall = verdicts
    trends = "; ".join(
        f"{v.claim.split('(')[1].split(')')[0].replace('_', ' ')}: {v.number('unification', 'median'):+z.2f} in "
        f"unification and {v.number('acc_corrected', 'median'):+z.2f} in chance-corrected accuracy ({v.verdict})"
        for v in sweeps)
    return (f"At p = {parallel_fraction:g}, the median seed's trend over the information each knob moves is {trends} "
            f"(R4 predicts both below {R4_MAX_TREND:g}). {overall.claim}: **{overall.verdict}**.")


# ------------------------------------------------------------------------------ 05_extractability


def r5_vocabulary(verdict: Verdict) -> str:
    """How to read R5's vocabulary sweep (``R5 (vocabulary)``): a trend whose interval lies above 0 says that
    smaller vocabularies made the task harder, not the languages closer."""
    if verdict.number("ci", 0) > 0:
        return ("Here smaller vocabularies made the task harder rather than the languages closer (rho above 0), "
                "which is why this verdict should not be read as evidence against the paper's mechanism in real "
                "tokenizers.")
    return ("Here smaller vocabularies did not lower unification (rho not above 0), even with shared pieces that "
            "carry no translation signal.")


def r5_redesign(verdicts: Sequence[Verdict], means: pd.DataFrame) -> str:
    """R5-redesign's reading: the probe's accuracy with names only and with a function word per language, each
    cue's paired change in unification and the vocabulary trend, the median seed's (the estimate the verdicts
    judge; ``verdicts``: ``rosetta.r5_extractability``'s on the cue-isolated world, the overall verdict last;
    ``means``: per setting, ``language_probe``)."""
    overall = verdicts[-1]
    parts = {v.claim: v for v in verdicts}
    probe = means["language_probe"]
    changes = ", ".join(f"{parts[f'{overall.claim} ({arm})'].number('median'):+z.3f} ({cue_setting(arm, 1)})"
                        for arm in R5_REDESIGN_CUE_SIGNS)
    return ("With only names to tell the languages apart, the probe reads the language from the last layer with "
            f"accuracy {probe[cue_setting('baseline', 0)]:z.2f}; with a function word per language, "
            f"{probe[cue_setting('own_function_words', 1)]:z.2f}. Against the world with names only, final "
            f"unification changes in the median seed by {changes}; along the vocabulary sweep the median seed's "
            f"trend is {parts[f'{overall.claim} (vocabulary)'].number('median'):+z.2f}. {overall.claim}: "
            f"**{overall.verdict}**.")


# ------------------------------------------------------------------------------ 06_interventions


def r7_redesign(verdicts: Sequence[Verdict], gains: pd.DataFrame) -> str:
    """R7-redesign's reading: the paired gain in chance-corrected cross-lingual accuracy of removing each cue,
    and of cognates (``gains``: ``rosetta.r7_interventions``' table, one row per ``intervention``)."""
    g = gains.set_index("intervention")["acc_corrected gain"]
    overall = verdicts[-1]
    return ("In the cue-isolated world, removing the only cue changes chance-corrected cross-lingual accuracy by "
            f"{g['no language marker']:+z.3f} (marker), {g['shared function words']:+z.3f} (function words), "
            f"{g['shared word order']:+z.3f} (word order) and {g['one script']:+z.3f} (script); cognates change it "
            f"by {g['cognates']:+z.3f}. {overall.claim}: **{overall.verdict}**.")


# ------------------------------------------------------------------------------ 08_real_strings


def majority_baseline(beats: int, runs: int) -> str:
    """How the models compare with always answering the most frequent value: in ``beats`` of ``runs`` runs
    their cross-lingual accuracy is above it (``store.results.runs_above``)."""
    reading = ("Their cross-lingual answers are more than a guess from the answers' frequencies." if beats == runs
               else "Where they do not, their cross-lingual answers are no better than a guess from the answers' "
                    "frequencies: read the R3 and R4 verdicts with that in mind.")
    return f"The models beat that baseline in {beats} of {runs} runs. {reading}"


def r8_missing_model(pretrained: str) -> str:
    """Why R8 did not run: the chosen model is not installed, or none was chosen."""
    return not_installed(pretrained) if pretrained else "no real model was given"


def r8(model: str, verdict: Verdict, accuracy: Mapping[str, float]) -> str:
    """R8's reading on a real model: its verdict and the mean answer accuracy over languages (``accuracy``:
    ``normalised`` and ``exact``)."""
    return (f"On `{model}` R8 is **{verdict.verdict}**: {verdict.evidence}. Mean accuracy over languages is "
            f"{accuracy['normalised']:z.2f} (normalised) and {accuracy['exact']:z.2f} (exact).")


def r8_not_run(reason: str) -> str:
    """R8's reading when no real model ran; it says that none is ever downloaded, and how to give one."""
    return (f"R8 was not run in this build ({reason}); nothing is downloaded, ever. `make models` installs the "
            "pretrained weights, and `-p hf_model /path/to/model` points this section at a local model instead.")


# ------------------------------------------------------------------------------ 09_embedding_geometry


def canonical_angle(cosine: float | None, rows: int, columns: int) -> str:
    """Chapter 09's note on the paper's other agreement measure, the largest canonical-angle cosine between two
    runs' input embeddings (``rows`` pieces x ``columns`` dimensions): its value, or, where
    ``analysis.geometry.max_canonical_cosine`` refused the shapes (``cosine`` None), why it means nothing here."""
    if cosine is None:
        return (f"with {rows} input pieces in {columns} dimensions there are too few pieces per dimension, so it is "
                "not computed")
    return f"over {rows} input pieces in {columns} dimensions the largest cosine is {cosine:z.2f}"


def h1_redesign(verdict: Verdict, pieces: int, steps: int) -> str:
    """H1-redesign's reading: the final separability of the scripts in the median seed, with the order-statistic
    interval of the median over seeds, and its margin over the shuffled-label probe; then the best checkpoint of
    the mean curve (``pieces``: input pieces of the first seed's world; ``steps``: training steps)."""
    return (f"Over the {pieces} input pieces of the first seed's world, {steps:,} steps: at the final checkpoint "
            f"the scripts separate with accuracy {verdict.number('separability'):z.2f} in the median seed "
            f"(order-statistic interval of the median over seeds {verdict.number('ci', 0):z.2f} to "
            f"{verdict.number('ci', 1):z.2f}), and the median seed's margin over the shuffled-label probe is "
            f"{verdict.number('margin'):z.2f} ({verdict.claim}: **{verdict.verdict}**). The mean over seeds is "
            f"highest, {verdict.number('peak'):z.2f}, at step {verdict.number('peak_step'):z.0f} of the saved "
            "checkpoints.")


def h2_redesign(verdict: Verdict, names: int) -> str:
    """H2-redesign's reading: the range of unification, both neighbourhood measures against their shuffled-label
    chance and in each seed's most unified run, and their per-seed correlation with unification: the median seed's,
    with the order-statistic interval of the median and the sign test's p (``names``: the names of each world)."""
    s, t = (verdict.numbers[m] for m in ("neighbor_categories", "translation_precision"))  # scripts, translations
    return (f"Over the {names} names of each world, unification ranges from "
            f"{verdict.number('unification', 'min'):z.2f} to {verdict.number('unification', 'max'):z.2f}. A name's "
            f"three nearest names span {s['mean']:z.2f} scripts on average (shuffled labels: {s['chance']:z.2f}; in "
            f"each seed's most unified run {s['most_unified']:z.2f}), and {t['mean']:z.3f} of the names have a "
            f"translation among them (shuffled: {t['chance']:z.3f}; most unified run {t['most_unified']:z.3f}). "
            f"Per-seed Spearman's rho with unification, the median seed's: {s['rho']:z.2f} (order-statistic "
            f"interval of the median {s['ci'][0]:z.2f} to {s['ci'][1]:z.2f}, {p_text(s['p'])}) for the scripts, "
            f"{t['rho']:z.2f} ({t['ci'][0]:z.2f} to {t['ci'][1]:z.2f}, {p_text(t['p'])}) for translations "
            f"({verdict.claim}: **{verdict.verdict}**).")


def h1_real(model: str, summary: Mapping[str, Any]) -> str:
    """H1 on a pretrained model: its separability and numNeighborCategory (``summary``:
    ``analysis.pretrained_study.h1_geometry``'s), with the recipe's sizes as the paper gives them."""
    return (f"**{model}**: over its {summary['tokens']:,} text pieces, {summary['categories']} script categories "
            f"have at least {MIN_CATEGORY} tokens; their mean one-vs-rest accuracy is "
            f"**{summary['separability']:z.4f}**, and numNeighborCategory@{NEIGHBOURS} over a random "
            f"{NEIGHBOUR_SHARE:z.0%} of the pieces is {summary['neighbor_categories']:z.2f} "
            f"(SD {summary['neighbor_categories_sd']:z.2f}).")


def h2_real(models: Sequence[str], languages: int, left_out: Sequence[str], means: pd.DataFrame, k: int,
            min_pairs: int) -> str:
    """H2 between two pretrained models: the languages that are its units (``languages`` of them, those with at
    least ``min_pairs`` dictionary pairs in both; ``left_out`` the others), then per model, in the order of
    ``models``, its translation precision@``k`` and cross-script share (``means``: per model, means over
    languages)."""
    units = (f"The units are the {languages} languages where both models hold at least {min_pairs} pairs"
             + (f" ({', '.join(left_out)} had fewer and are left out). " if left_out else ". "))
    return units + " ".join(
        f"In them, {name} finds the translation among the {k} neighbours for {means.loc[name, 'precision']:z.1%} "
        f"of the English words, and {means.loc[name, 'cross_share']:z.1%} of a translation's neighbours are in "
        "another script (means over languages)." for name in models)


def h3_real(summary: Mapping[str, Any]) -> str:
    """H3 between two pretrained models: chance, the range of common neighbours over script categories, and the
    largest canonical cosine against random matrices (``summary``: ``analysis.pretrained_study.h3_overlap``'s)."""
    return (f"The two vocabularies share {summary['shared']:,} pieces, so chance is {summary['chance']:z.5f}. Over "
            f"{summary['categories']} script categories the two models have in common a share of the neighbours "
            f"from {summary['overlap_min']:z.3f} to {summary['overlap_max']:z.3f}. The largest canonical cosine "
            f"between the two embeddings is {summary['canonical']:z.3f}, against {summary['canonical_random']:z.3f} "
            "for random matrices of the same shapes.")


HF_MODEL_NOT_GIVEN = ("*No `hf_model` given: this section was skipped. Run the notebook with `-p hf_model "
                      "/path/to/model` to analyse a local model.*")


def hf_geometry(model: str, summary: Mapping[str, Any]) -> str:
    """The geometry of a local model's input embeddings (``summary``: ``analysis.geometry_study.model_geometry``'s)."""
    return (f"`{model}`: {summary['tokens']:,} tokens; mean separability {summary['separability']:z.4f} over "
            f"{summary['categories']} categories; numNeighborCategory@{NEIGHBOURS} "
            f"{summary['neighbor_categories']:z.2f} "
            f"(SD {summary['neighbor_categories_sd']:z.2f}).")


# ------------------------------------------------------------------------------ 10_linguistic_regions


def g3(verdict: Verdict) -> str:
    """How to read G3 on our models: the median seed's rises from scaling the outlier and a typical dimension, or,
    without an outlier dimension (untestable), that there is nothing to act on (and no rise to quote)."""
    if verdict.verdict == UNTESTABLE:
        return (f"Our small models have no dimension that dwarfs the others (none reaches {OUTLIER_MIN_RATIO:g} "
                "times its norm's median), so there is no outlier for a single parameter to act on: G3 is "
                "untestable here.")
    return (f"In the median seed, scaling its entry by 4 raises the loss by {verdict.number('outlier'):z.3f} nats, a "
            f"typical dimension's by {verdict.number('typical'):z.4f}: G3 is **{verdict.verdict}**. Our models do "
            "develop a dominant dimension, so the effect can be judged on its own terms.")


def r2_redesign_timing(timing: Verdict) -> str:
    """R2-redesign's timing in words: the median seed's lag between the two phases with its interval, or why there
    is none to quote (no run shows both phases, or too few seeds do)."""
    if timing.verdict in (UNTESTABLE, INSUFFICIENT):
        return f"There is no lag to time: {timing.evidence} ({timing.claim}: **{timing.verdict}**)."
    return (f"In the median seed, transfer's midpoint lies {timing.number('lag'):z.2f} decades of steps after "
            f"unification's (order-statistic interval of the median over seeds {timing.number('ci', 0):z.2f} to "
            f"{timing.number('ci', 1):z.2f}; R2 calls the two together within 0.25 decades).")


def g4(verdict: Verdict) -> str:
    """Which way freezing the core moved forgetting (``full``: forgetting with everything trained minus with the
    core frozen, the median seed's)."""
    if verdict.number("full") > 0:
        return "Freezing the core *reduced* forgetting relative to full training."
    return "Freezing the core did not reduce forgetting: it forgot as much as, or more than, full training."


def g4_learning(spread: float) -> str:
    """Whether the arms of G4 learnt the new language alike: their final losses within ``SAME_LOSS_SPREAD``
    (``spread``: ``analysis.regions_study.g4_summary``'s)."""
    if spread < SAME_LOSS_SPREAD:
        return (f"The new language ends with the same loss in all three arms (spread {spread:z.3f} nats, middle "
                "panel): with a small region fixed, the rest of the model and the embeddings carry both the "
                "learning and the forgetting.")
    return (f"The arms end with different losses on the new language (spread {spread:z.3f} nats, middle panel), so "
            "freezing also changed how well the new language was learnt.")


def g4_redesign(verdict: Verdict) -> str:
    """G4-redesign's reading: forgetting with nothing frozen, and how much less with the core frozen than with
    everything trained and than with a random region (per seed the mean over the frozen shares; the median seed's,
    with the order-statistic interval of the median and the sign test's p)."""
    if verdict.verdict == INSUFFICIENT:
        return not_run([verdict])
    full, random = ((verdict.number(arm, "median"), verdict.number(arm, "ci", 0), verdict.number(arm, "ci", 1),
                     verdict.number(arm, "p")) for arm in ("full", "random frozen"))
    return (f"With nothing frozen the old languages lose {verdict.number('shares', 'full 0'):z.2f} of the gap. "
            f"Freezing the core instead lowers that by {full[0]:z.3f} on average over the three shares in the median "
            f"seed (order-statistic interval of the median {full[1]:z.3f} to {full[2]:z.3f}, {p_text(full[3])}); "
            f"against a random region of the same size the difference is {random[0]:z.3f} ({random[1]:z.3f} to "
            f"{random[2]:z.3f}, {p_text(random[3])}). {verdict.claim}: **{verdict.verdict}** ({verdict.evidence}).")


def g13_redesign(g1: Verdict, g3: Verdict, numbers: pd.DataFrame, slots: Sequence[int]) -> str:
    """G1/G3-redesign's reading: what the larger models know, their most massive activations (``numbers``:
    ``store.results.describe`` of the massive-activation table; ``slots``: the token slots where they sit) and
    both verdicts."""
    return (f"The models know their facts: in-language accuracy {numbers.loc['acc_in', 'mean']:z.3f}, cross-lingual "
            f"{numbers.loc['acc_xling', 'mean']:z.3f}. The largest residual entry of a seed is "
            f"{numbers.loc['top', 'min']:z,.0f} to {numbers.loc['top', 'max']:z,.0f} in magnitude, "
            f"{numbers.loc['ratio', 'min']:z.0f} to {numbers.loc['ratio', 'max']:z.0f} times the median, at token "
            f"slot {', '.join(map(str, slots))} of a packed fact (0 is its BOS), and in "
            f"{numbers.loc['same_dimension', 'mean']:z.0%} of the seeds on the dimension G3 finds as its outlier. "
            f"{g1.claim}: **{g1.verdict}** ({g1.evidence}). {g3.claim}: **{g3.verdict}** ({g3.evidence}).")


def g_real(model: str, numbers: Mapping[str, Any], languages: int) -> str:
    """G1-G3 on a pretrained model: the core's and the controls' loss rises over ``languages`` languages, and
    the outlier dimension's gain and rise against a typical one's (``numbers``:
    ``analysis.regions_pretrained.summary``'s)."""
    return (f"**{model}**: zeroing the core {PAPER_FRACTION:z.0%} raises the loss by {numbers['core_min']:z.2f} to "
            f"{numbers['core_max']:z.2f} nats per token across the {languages} languages, while no control raises "
            f"any language's loss by more than {numbers['control_max']:z.3f}. The largest norm input is dimension "
            f"{numbers['outlier_dimension']} of `{numbers['outlier_param']}`, {numbers['outlier_ratio']:z.1f} times "
            f"its norm's median, where the norm's gain is {numbers['outlier_gain']:z.3f}; scaling that gain by "
            f"{FACTOR:g} raises the loss by {numbers['outlier_rise']:z.3f} nats, a typical dimension's by "
            f"{numbers['typical_rise']:z.4f}.")


# ------------------------------------------------------------------------------ 05 and 06: the first designs


def _in_this_design(verdict: Verdict) -> str:
    """The clause "R5 is **not reproduced** in this design (superseded by R5-redesign)": a first design's verdict,
    with the redesign that superseded it (``Verdict.superseded_by``) where there is one."""
    by = f" (superseded by {verdict.superseded_by})" if verdict.superseded_by else ""
    return f"{verdict.claim} is **{verdict.verdict}** in this design{by}"


def ch05_first_design(verdicts: Sequence[Verdict], means: pd.DataFrame, probe_rho: float) -> str:
    """The reading of chapter 05's first design (R5 on the study ``extractability``, superseded by R5-redesign):
    its verdict; per manipulation the median seed's paired change in final unification (cue arms) or trend (sweeps)
    with its verdict; cross-lingual accuracy at the two ends of the vocabulary sweep and how to read that sweep
    (:func:`r5_vocabulary`); the last-layer probe with and without a marker; and Spearman's rho between probe and
    unification across the runs (``probe_rho``). ``verdicts``: ``rosetta.r5_extractability``'s, the overall
    verdict last; ``means``: per setting (``store.results.extractability_setting``'s names), ``acc_xling`` and
    ``language_probe``."""
    from crosslingual.store.results import extractability_setting

    overall = verdicts[-1]
    part = {v.claim: v for v in verdicts}

    def number(name: str, digits: str) -> str:
        return f"{part[f'{overall.claim} ({name})'].number('median'):{digits}}"

    def word(name: str) -> str:
        return f"**{part[f'{overall.claim} ({name})'].verdict}**"

    probe, accuracy = means["language_probe"], means["acc_xling"]
    bpe96, word_level = extractability_setting("vocabulary", 96), extractability_setting("vocabulary", 0)
    marker, baseline = extractability_setting("language_marker", 1), extractability_setting("baseline", 0)
    return (f"On our worlds {_in_this_design(overall)}. Per "
            f"manipulation, in the median seed: a language marker changes final unification by "
            f"{number('language_marker', '+.3f')} ({word('language_marker')}), shared function words by "
            f"{number('shared_function_words', '+.3f')} ({word('shared_function_words')}); along the entity overlap "
            f"sweep rho is {number('entity_overlap', '.2f')} ({word('entity_overlap')}, a positive control), and "
            f"along the vocabulary sweep {number('vocabulary', '.2f')} ({word('vocabulary')}; a positive rho means "
            f"that *larger* vocabularies unify more). Cross-lingual accuracy goes from {accuracy[bpe96]:z.2f} with 96 "
            f"BPE pieces to {accuracy[word_level]:z.2f} with word-level tokens. "
            f"{r5_vocabulary(part[f'{overall.claim} (vocabulary)'])} At the last layer the probe reads the language "
            f"with accuracy {probe[marker]:z.2f} with a marker and {probe[baseline]:z.2f} without; across the runs of "
            f"this design, Spearman's rho between the last-layer probe accuracy and the unification score is "
            f"{probe_rho:z.2f}.")


def ch06_first_design(verdicts: Sequence[Verdict], gains: pd.DataFrame, acc_in: pd.Series) -> str:
    """The reading of chapter 06's first design (R7 on the study ``interventions``, superseded by R7-redesign):
    its verdict, the median seed's paired gain in chance-corrected cross-lingual accuracy of each of the paper's
    interventions, the largest gain of all with its order-statistic interval, and code-switching's in-language
    accuracy. ``verdicts``: ``rosetta.r7_interventions``' (the overall verdict last); ``gains``: its table, one row
    per ``intervention``, largest gain first; ``acc_in``: per arm, its mean in-language accuracy."""
    overall = verdicts[-1]
    g = gains.set_index("intervention")["acc_corrected gain"]
    best = gains.iloc[0]
    return (f"On our worlds {_in_this_design(overall)}. The "
            f"paper's interventions change chance-corrected cross-lingual accuracy, in the median seed, by "
            f"{g['balanced attributes']:+z.3f} (balancing attributes), {g['shared function words']:+z.3f} (shared "
            f"function words) and {g['no language marker']:+z.3f} (removing the marker). The largest gain of all "
            f"comes from **{best['intervention']}**: {best['acc_corrected gain']:+z.3f} (order-statistic interval of "
            f"the median {best['acc_corrected CI low']:+z.3f} to {best['acc_corrected CI high']:+z.3f}). "
            f"Code-switching's in-language accuracy is {acc_in['code-switching']:z.2f}.")


# ------------------------------------------------------------------------------ 09 and 10: the first designs


def ch09_first_h1(verdicts: Sequence[Verdict]) -> str:
    """The reading of H1's first design (chapter 09, on the word-level runs of chapters 3 and 5 and chapter 6's
    two-script BPE arm; superseded by H1-redesign): the median seed's one-vs-rest accuracy per kind of token, then
    the overall verdict. ``verdicts``: ``hyperpolyglot.h1_script_separability``'s, its parts ``H1 (word)`` and
    ``H1 (BPE, two scripts)`` and the overall verdict last, marked by ``claims.verdicts.superseded``."""
    overall = verdicts[-1]
    part = {v.claim: v for v in verdicts}
    return (f"With word-level tokens the median seed's one-vs-rest accuracy is "
            f"{part[f'{overall.claim} (word)'].number('separability'):z.2f}; with BPE in two scripts it is "
            f"{part[f'{overall.claim} (BPE, two scripts)'].number('separability'):z.2f}. Overall, "
            f"{_in_this_design(overall)}.")


def ch09_first_h2(verdict: Verdict, neighbor_categories_min: float) -> str:
    """The reading of H2's first design (chapter 09, on the word-level runs; superseded by H2-redesign): how far
    numNeighborCategory saturates (``neighbor_categories_min``: its smallest run mean, of a possible 2 scripts),
    then the median seed's Spearman's rho between unification and each neighbourhood measure, and the verdict.
    ``verdict``: ``hyperpolyglot.h2_neighbourhoods_follow_unification``'s, marked by
    ``claims.verdicts.superseded``."""
    return (f"In every run numNeighborCategory's mean is at least {neighbor_categories_min:z.2f} of a possible 2 "
            f"(the table at the head of this section). Across each seed's runs, the median seed's Spearman's rho "
            f"between unification and translation precision is "
            f"{verdict.number('translation_precision', 'rho'):z.2f} and between unification and the cross-script "
            f"share {verdict.number('cross_script_share', 'rho'):z.2f}: {_in_this_design(verdict)}.")


def ch10_first_g4(verdict: Verdict, means: pd.DataFrame, spread: float) -> str:
    """The reading of G4's first design (chapter 10, one frozen share in the continued training of
    ``analysis.regions_study.forgetting``; superseded by G4-redesign): the old languages' answer-loss rise per arm,
    which way freezing the core moved it (:func:`g4`), the verdict, and whether the arms learnt the new language
    alike (:func:`g4_learning`). ``means`` and ``spread``: ``analysis.regions_study.g4_summary``'s (one row per
    arm, ``full``, ``core frozen`` and ``random frozen``, with its mean ``forgetting`` over seeds)."""
    rise = means["forgetting"]
    return (f"After continued training, the old languages' answer loss has risen on average over seeds by "
            f"{rise['full']:z.3f} nats with everything trained, {rise['core frozen']:z.3f} with the core frozen and "
            f"{rise['random frozen']:z.3f} with a random region frozen. {g4(verdict)} {_in_this_design(verdict)}. "
            f"{g4_learning(spread)}")

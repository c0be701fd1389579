"""*Beyond the Rosetta Stone* (R1-R8): the claims' rules, each with its thresholds and rationale, and the checks.

Every check reduces its table to one number per independent seed (``seed``: world and initialisation drawn
together) and tests that number over seeds (:mod:`crosslingual.claims.stats`): the exact sign test of the median
seed, one-sided at alpha = 0.05, for the verdict; the order-statistic interval of the median for the figure shown.
A rule's "minimum size" is tested, not eyeballed: "the gap exceeds 0.3" means the sign test of (gap - 0.3) > 0 is
significant. :func:`crosslingual.claims.verdicts.grade` turns a part's tests into its verdict.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from crosslingual.claims import verdicts
from crosslingual.claims.phases import MIN_PLATEAU, fit_phase
from crosslingual.claims.stats import (
    ALPHA,
    MIN_UNITS,
    chance_corrected,
    effect,
    p_text,
    partial_spearman,
    per_seed,
    permutation_correlation_p,
    shuffled_pairing_p,
    spearman,
    trend_per_seed,
)
from crosslingual.claims.verdicts import (
    CONTRADICTED,
    DESCRIPTION,
    EVIDENCE,
    INSUFFICIENT,
    NOT_REPRODUCED,
    PARTIAL,
    POSITIVE_CONTROL,
    REPRODUCED,
    REREGISTERED,
    STATISTICS,
    UNTESTABLE,
    Rule,
    Verdict,
    insufficient,
    judged,
    n_seeds,
    overall,
)

# ---------------------------------------------------------------------------------------------- the rules
R1_MIN_GAP = 0.3
R1 = Rule("R1", f"reproduced if the per-seed gap (in-language minus cross-lingual accuracy) exceeds {R1_MIN_GAP} "
          f"(sign test of gap - {R1_MIN_GAP} > 0 over seeds); partial if it only exceeds 0; {STATISTICS}",
          "0.3 is a gap no reader would call small on a 0-1 accuracy scale; the paper states the gap qualitatively",
          REREGISTERED)

R2_MAX_LEAD = 0.25  # decades of steps: |lag| below a factor 10^0.25 = 1.8 in steps counts as "together"
R2_MIN_SHARE = 0.5
R2_TRANSFERRING = 2.0  # a run "transfers" if its final cross-lingual accuracy is at least this multiple of chance
R2 = Rule("R2", "phase: reproduced if, per seed, more than half of the runs that transfer (final cross-lingual "
          "accuracy >= twice chance) show a rising unification phase (crosslingual.phases: a sigmoid in log-step "
          "with both plateaus observed whose residual is at most half that of the best exponential saturation in "
          "linear steps, amplitude above 0), share - 0.5 > 0 by the sign test over seeds. Timing, over runs with both "
          "phases: the per-seed mean of (transfer midpoint - unification midpoint) in decades of steps; reproduced "
          f"if its interval lies within +-{R2_MAX_LEAD} (together: both sign tests, lag > -{R2_MAX_LEAD} and lag < "
          f"{R2_MAX_LEAD}, significant), else not reproduced. R2 is reproduced if both parts are. Reported beside it, "
          "not judged: the ordering (per seed, the mean over transferring runs of the decades between the steps "
          f"where transfer and unification first reach 90% of their rise); {STATISTICS}",
          "a linear trend, white noise, a constant and a plain exponential saturation must fail (unit tests and "
          "null calibration); 0.25 decades is a factor 1.8 in steps, about one checkpoint interval of the default "
          "schedule",
          "replaced in #17 after the 3-seed results: the old criterion (share of the range in the 5 steepest "
          "intervals) passed a linear trend (0.84) and white noise (0.89); and after the first 5-seed builds, timing "
          "with both phases found in only 1-4 seeds became 'insufficient data' (it was 'untestable', which left it "
          "out of the overall verdict: R2 read 'reproduced' on its phase part alone). " + REREGISTERED + ". In #36 "
          "also: the phase criterion passed 74-100% of plain exponential saturations and of falling unification "
          "(a phase must now beat a saturation and rise), and 'unification first' no longer reads partial for a "
          "claim of 'together': the ordering is reported as what the data show")
R2_REDESIGN = Rule("R2-redesign", "R2's rule and thresholds (as re-registered in #36), on the study learning_phase: "
                   "the "
                   "baseline world of chapter 2 trained for twice the profile's steps with twice its log-spaced "
                   "checkpoints (default: 2,000 steps, n_checkpoints 48: 42 distinct steps), one run per seed",
                   "in the pooled design, transfer's upper plateau lay past the end of training (its 90% point "
                   "at 10^3.14 steps on average, the last checkpoint at 10^3) in 88 of 100 transferring runs, "
                   "so its phase could not be found; a pilot on seeds 1000-1001 (never used for a verdict; "
                   "crosslingual sweep learning_phase --seeds 2 --seed 1000) "
                   "placed the 90% point at 10^3.09-10^3.11 of 2,000 steps, with 12-14 of the 42 checkpoint "
                   "steps inside the transition and 3 after it (2 needed)",
                   REREGISTERED + "; it follows R2's new phase criterion",
                   redesign="the pooled runs of chapters 3-6 (1,000 steps, 24 checkpoints) are replaced by one "
                   "baseline-world run per seed trained for 2,000 steps with 48 checkpoints")

R3_MIN_RHO = 0.5
R3 = Rule("R3", "reproduced if, per seed, Spearman's rho across the seed's runs at their final checkpoint "
          f"exceeds {R3_MIN_RHO} (sign test of rho - {R3_MIN_RHO} > 0 over seeds) and the per-seed mean within-step "
          "rho across runs exceeds 0; partial if either exceeds 0 under Holm's adjustment over the two; "
          "contradicted if either is significantly below 0. Reported, not judged: the shuffled-pairing null (each "
          "run given another run of its seed's final unification; the share of 1,999 seeded shufflings whose mean "
          f"final rho is as high), the rho pooled over runs x checkpoints and the partial rho given the step; "
          f"{STATISTICS}",
          "pooled over checkpoints, both quantities grow with training time, which alone produces a high rho; the "
          "two judged statistics compare runs at one step, which training time cannot produce. 0.5 is below the "
          "paper's 0.65 on Gemma",
          "replaced in #17 after the 3-seed results: the verdict was on the pooled rho. " + REREGISTERED + ". In "
          "#36 also: the partial rho given the step left the rule: a shared nonlinear saturation produces it (on "
          "chapter 3's runs with their pairing shuffled it read 0.49 against 0.54 observed; R3 passed 95.5% of "
          "those shufflings)")

R4_MIN_LEVELS = 4
R4_MAX_TREND = -0.5
R4_CONFOUNDED = ("parallel_fraction",)  # sweeps reported beside R4, not judged: they move more than information
R4 = Rule("R4", f"per sweep with at least {R4_MIN_LEVELS} levels: the per-seed Spearman trend of unification and "
          "of cross-lingual accuracy over the levels of rising information; reproduced if both trends lie below "
          f"{R4_MAX_TREND} (sign tests of trend + 0.5 < 0 over seeds), partial if one lies below 0 under Holm's "
          "adjustment over the two, contradicted if one lies significantly above 0. With 2 levels (R4, 2 levels): "
          "the per-seed difference (high - low information) of each, reproduced if both lie below 0, partial if "
          "one. Judged on the sweeps that move information alone (language association, attribute association); "
          f"the parallel-fraction sweep is reported beside them, not judged; {STATISTICS}",
          "monotone over >= 4 levels (science.md); a trend of -0.5 over 4 levels is a clear fall, not a tilt; a "
          "2-level comparison cannot show monotonicity and is labelled as a weaker claim. The parallel fraction "
          "moves the amount of parallel data with the information (R6's subject), so it cannot isolate R4's cause",
          "replaced in #17 after the 3-seed results: strict ordering of level means and a run-level rho. "
          + REREGISTERED + ". In #36 also: R4 read partial through the parallel-fraction sweep alone, while the two "
          "sweeps that isolate information went against the claim for transfer")

R4_REDESIGN = Rule("R4-redesign", "R4's rule and thresholds on the study information_low_parallel: the home-language "
                   "association sweep (b = 1/2 to 1) and the attribute-association sweep (lambda = 0 to 1 at b = 1) of "
                   "chapter 3 at the parallel fraction p = 0.2, where they move I(entity; L) and I(value; L) from 0 "
                   "to 0.35 bits (exact; the parallel-fraction sweep moves I(fact; L) from 0.11 to 0.67); "
                   "cross-lingual accuracy is chance-corrected against the answer prior, (acc - prior) / (1 - prior)",
                   "at p = 0.6 the two sweeps move their information by at most 0.05 bits, so a null there says "
                   "little; attribute association doubles the answer prior (0.05 -> 0.10), so raw accuracy would "
                   "credit the prior to transfer. p = 0.1 would move 0.56 bits, but its pilot (seeds 1000-1001, "
                   "never used for a verdict) sat at the floor: cross-lingual accuracy 0.10 at b = 1/2 (chance "
                   "0.05; chance-corrected 0.05) and below the prior at lambda = 1 (corrected -0.03), where no fall "
                   "could show; at p = 0.2 the pilot read 0.17-0.20 at b = 1/2 (corrected 0.13-0.16). The pilot's "
                   "b = 1 raised transfer at both fractions (0.17-0.18 at p = 0.1, 0.27 at p = 0.2), before any "
                   "default run",
                   REREGISTERED + "; it follows R4's re-registered rule",
                   redesign="the two sweeps run at p = 0.2 instead of 0.6 (their information moves 0.35 bits instead "
                   "of 0.05) and accuracy is chance-corrected")

R5_MIN_DIFF = 0.02  # unification-score units
R5 = Rule("R5", "cue arms: the per-seed difference in final unification (knob on - off, same seed) is beyond "
          f"{R5_MIN_DIFF} in the predicted direction (reproduced) or only beyond 0 (partial); the vocabulary sweep: "
          "the per-seed trend over vocabulary sizes is below 0 (reproduced). Entity overlap is a positive control "
          f"(a shared name gives identical inputs): reported, never evidence; {STATISTICS}",
          "0.02 is about a tenth of the unification range seen between settings",
          "replaced in #17 after the 3-seed results: entity overlap no longer counts towards R5. " + REREGISTERED)

R5_REDESIGN = Rule("R5-redesign", "R5's rule and thresholds, unchanged, on the study cue_isolation: a world in which "
                   "only the names tell the two languages apart (both in the Latin script, one word order, one "
                   "function word, no marker; BPE with 128 pieces). Each cue arm adds one cue back, alone (a language "
                   "marker; a function word per language; a word order per language; the second language in the "
                   "Cyrillic script, its names transliterated) and is predicted to lower final unification: the "
                   f"per-seed difference from the baseline beyond -{R5_MIN_DIFF} (reproduced) or below 0 (partial). "
                   "The vocabulary sweep (BPE with 96, 128 and 192 pieces in this world): the per-seed trend of "
                   "unification over the sizes below 0 (reproduced)",
                   "in the old design every language carried every cue at once, so that one cue more or less left "
                   "the language as easy to read (the probe read it at 1.0 in every setting). A pilot on seeds "
                   "1000-1001 (crosslingual sweep cue_isolation --seeds 2 --seed 1000; never used for a verdict) "
                   "read the language from the last layer at 0.68 in this world, and at 0.96-0.99 with a function "
                   "word per language; in-language accuracy 0.96-0.98, cross-lingual 0.14 (chance 0.05). The "
                   "pilot's unification differences from the baseline lay between -0.02 and +0.06 for the four "
                   "cue arms, before any default run. The second language's own order is relation-entity-function "
                   "word, which keeps the slot before the answer: with relation-function word-entity (the old "
                   "design's second language) the pilot's transfer rose to 0.24-0.31, a change of the task, not "
                   "of the cue",
                   REREGISTERED + "; it follows R5's re-registered rule",
                   redesign="the old arms change one of four redundant cues (script, names, word order, function "
                   "word); here the languages differ only in their names and each arm adds one cue back; the "
                   "vocabulary sweep compares BPE sizes in one script (the old one set BPE beside word-level tokens)")
R5_REDESIGN_CUE_SIGNS = {"language_marker": +1, "own_function_words": +1, "own_word_order": +1, "own_script": +1}

R6_MIN_ADVANTAGE = 0.1
R6 = Rule("R6", "reproduced if the per-seed trend of cross-lingual accuracy over the parallel fraction is above 0 "
          "and the per-seed mean advantage of parallel over its exposure-matched repeat control (same level, "
          f"same seed) exceeds {R6_MIN_ADVANTAGE} (sign tests over seeds); partial if the advantage exceeds 0 (the "
          f"claimed comparison: beyond exposure); contradicted if it lies significantly below 0; {STATISTICS}",
          "0.1 accuracy is twice the chance level of the default world (0.05)",
          REREGISTERED + ". In #36 also: 'partial if one of the two holds' passed every table where parallel and "
          "repeated data help alike (exposure only) through the trend; partial now needs the comparison with the "
          "exposure-matched control")

R7_MIN_GAIN = 0.02
R7 = Rule("R7", "reproduced if the per-seed gain in chance-corrected cross-lingual accuracy, (acc - prior) / (1 - "
          f"prior), over the arm's control (same seed) exceeds {R7_MIN_GAIN}; partial if it exceeds 0; the prior "
          f"is the best guess of the value given the relation and the entity's home language; {STATISTICS}",
          "balancing attributes changes the answer prior (0.10 -> 0.05 in the default world), so raw accuracies "
          "are not comparable between arms; 0.02 is a fortieth of the corrected scale",
          "chance correction added in #17 after the 3-seed results. " + REREGISTERED)

R7_REDESIGN = Rule("R7-redesign", "R7's rule and thresholds, unchanged, on the study cue_isolation: obfuscating a "
                   "cue is the cue-isolated world (only names tell the languages apart) against the same world with "
                   "that one cue added (no language marker, shared function words, shared word order, one script); "
                   f"the per-seed gain in chance-corrected cross-lingual accuracy beyond {R7_MIN_GAIN} (reproduced) "
                   "or beyond 0 (partial). Cognates (half of the entity and relation names share their stem with "
                   "their translation) against the cue-isolated world are reported beside them as the standard "
                   "method of shared subwords, not as one of the paper's interventions",
                   "the old arms removed one cue of several that each identify the language alone; here each "
                   "obfuscation removes the only cue beyond the names. Balancing attributes is not retested: its "
                   "old design did not suffer from redundant cues. The pilot (see R5-redesign) measured transfer "
                   "0.14 in the cue-isolated world and 0.24-0.29 with cognates, before any default run",
                   REREGISTERED + "; it follows R7's re-registered rule",
                   redesign="each obfuscation is the cue-isolated world against that world with one cue added, "
                   "instead of the baseline world (every cue) against it less one cue")
# intervention -> (arm, control) in the sweeps of studies/cue_isolation.yaml
R7_REDESIGN_COMPARISONS = {"no language marker": ("baseline", "language_marker"),
                           "shared function words": ("baseline", "own_function_words"),
                           "shared word order": ("baseline", "own_word_order"),
                           "one script": ("baseline", "own_script"),
                           "cognates": ("cognates", "baseline")}
R7_REDESIGN_CLAIMED = ("no language marker", "shared function words", "shared word order", "one script")

R8_MIN_LANGUAGES = 5
R8 = Rule("R8", f"over the language pairs of a real model (at least {R8_MIN_LANGUAGES} languages), reproduced if "
          f"Spearman's rho of pair unification and pair transfer is at least {R3_MIN_RHO} and the Mantel "
          "permutation test over languages is significant (one-sided, 0.05); partial if only significant; "
          "contradicted if the test in the other direction is significant. A description of that one model: the "
          "permutation test asks whether its languages' pairing could be chance, not whether models in general "
          "behave so",
          "pairs share languages and are not independent: permuting whole languages keeps that dependence; "
          "5 languages give 120 permutations, enough for p <= 0.05",
          "the Mantel test replaced a bootstrap over pairs in #17; in #36 the opposite direction reads "
          "contradicted and the verdict is labelled as describing one model")

RULES = {r.claim: r for r in (R1, R2, R2_REDESIGN, R3, R4, R4_REDESIGN, R5, R5_REDESIGN, R6, R7, R7_REDESIGN, R8)}
# What the paper reports for each claim, so the scoreboard can set our number beside theirs.
PAPER_FIGURES = {
    "R1": "qualitative (LLMs answer in the training language, fail in others)",
    "R2": "qualitative (a learning phase in synthetic training)",
    "R3": "correlation about 0.65 (Gemma-2-2B on ECLeKTic, from the reviews)",
    "R4": "qualitative",
    "R5": "qualitative",
    "R6": "not tested (a reviewers' question)",
    "R7": "qualitative: both help; no comparison with alignment methods",
    "R8": "correlation about 0.65 (Gemma-2-2B; the reviewers asked for more models)",
}


# ---------------------------------------------------------------------------------------------- R1
R1_STATEMENT = "in-language accuracy far exceeds cross-lingual accuracy"


def r1_cross_lingual_gap(final: pd.DataFrame) -> Verdict:
    """``final``: one row per run (``seed``, ``acc_in``, ``acc_xling``) of a setting where facts are
    language-specific."""
    n = n_seeds(final)
    if n < MIN_UNITS:
        return insufficient("R1", R1_STATEMENT, R1, n)
    gap = per_seed(final.assign(gap=final.acc_in - final.acc_xling), "gap")
    signed, sized = effect(gap), effect(gap, null=R1_MIN_GAP)
    return judged("R1", R1_STATEMENT, R1,
                  f"gap {signed.text()}; vs {R1_MIN_GAP}: {sized.agree}/{sized.n} seeds above, {p_text(sized.p)} "
                  f"(in-language {final.acc_in.mean():z.2f}, cross-lingual {final.acc_xling.mean():z.2f})",
                  {"gap": signed.median, "ci": signed.ci, "p": sized.p}, [sized], [signed])


# ---------------------------------------------------------------------------------------------- R2
R2_STATEMENT = "unification emerges in a learning phase, together with transfer"


def learning_phases(checkpoints: pd.DataFrame) -> pd.DataFrame:
    """Per run: the unification and transfer phases (crosslingual.claims.phases), their midpoints in decades of
    steps."""
    rows = []
    for (seed, run), d in checkpoints.sort_values("step").groupby(["seed", "run"], sort=True):
        u, x = fit_phase(d.step, d.unification), fit_phase(d.step, d.acc_xling)
        rows.append({"seed": seed, "run": run, "unification_phase": u.found and u.amplitude > 0,
                     "unification_mid": u.midpoint,
                     "unification_reason": u.reason or ("" if u.amplitude > 0 else "the phase falls"),
                     "transfer_phase": x.found and x.amplitude > 0, "transfer_mid": x.midpoint,
                     "transfer_after": int((np.log10(d.step.to_numpy() + 1.0) > x.end).sum()),
                     "unification_t90": rise_point(d.step, d.unification),
                     "transfer_t90": rise_point(d.step, d.acc_xling), "final_acc_xling": float(d.acc_xling.iloc[-1])})
    return pd.DataFrame(rows)


def rise_point(steps, values, share: float = 0.9) -> float:
    """log10(step + 1) of the first checkpoint where a curve has made ``share`` of its rise from the first checkpoint
    to the last (no fit, so any shape); NaN for a curve that does not rise."""
    steps, y = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    rise = y[-1] - y[0]
    if not np.isfinite(rise) or rise <= 0:
        return float("nan")
    return float(np.log10(steps[np.argmax(y - y[0] >= share * rise)] + 1))


def transfers(phases: pd.DataFrame, chance: float) -> pd.Series:
    """Which runs of ``learning_phases`` transfer (R2 judges those only): final cross-lingual accuracy at least
    ``R2_TRANSFERRING`` times chance."""
    return phases.final_acc_xling >= R2_TRANSFERRING * chance


def phase_counts(phases: pd.DataFrame, chance: float) -> dict[str, int]:
    """How many runs of ``learning_phases`` transfer, how many of those show a unification phase, how many runs
    show both phases, and how many transferring runs end before their transfer phase does (fewer than
    ``phases.MIN_PLATEAU`` checkpoints after its 90% point, ``unfinished``: the reason for R2's redesign)."""
    transferring = transfers(phases, chance)
    both = phases.unification_phase & phases.transfer_phase
    unfinished = transferring & (phases.transfer_after < MIN_PLATEAU)
    return {"transferring": int(transferring.sum()), "found": int(phases.unification_phase[transferring].sum()),
            "both": int(both.sum()), "unfinished": int(unfinished.sum())}


def r2_learning_phase(checkpoints: pd.DataFrame, chance: float, rule: Rule = R2) -> list[Verdict]:
    """``checkpoints``: one row per run x checkpoint with ``seed``, ``run``, ``step``, ``unification`` and
    ``acc_xling``. Returns R2 (phase), R2 (timing), R2 (ordering: a description) and R2, named after ``rule``
    (``R2_REDESIGN`` for the checkpoint-dense study: the same criteria on other runs)."""
    if rule not in (R2, R2_REDESIGN):
        raise ValueError(f"rule={rule.claim!r}: R2's check applies R2's rule or its redesign's")
    name = rule.claim
    n = n_seeds(checkpoints)
    if n < MIN_UNITS:
        parts = [insufficient(f"{name} (phase)", R2_STATEMENT, rule, n),
                 insufficient(f"{name} (timing)", R2_STATEMENT, rule, n),
                 insufficient(f"{name} (ordering)", R2_STATEMENT, rule, n, DESCRIPTION)]
        return [*parts, overall(name, R2_STATEMENT, parts)]
    phases = learning_phases(checkpoints)
    transferring = phases[transfers(phases, chance)]
    share = per_seed(transferring.assign(found=transferring.unification_phase.astype(float)), "found")
    found = effect(share, null=R2_MIN_SHARE)
    reasons = transferring[~transferring.unification_phase].unification_reason.str.split(" \\(").str[0]
    common = reasons.value_counts().index[0] if len(reasons) else ""
    if len(share) < MIN_UNITS:
        phase = Verdict(f"{name} (phase)", R2_STATEMENT, UNTESTABLE, rule.text,
                        f"runs reach twice chance in {len(share)} of {n} seeds; a phase of transfer needs transfer",
                        {"phases": phases})
    else:
        phase = judged(f"{name} (phase)", R2_STATEMENT, rule,
                       f"share of transferring runs with a rising unification phase {found.text()}"
                       + (f"; most common reason for none: {common}" if common else ""),
                       {"share": found.median, "ci": found.ci, "p": found.p, "phases": phases}, [found], [found], [])
    both = phases[phases.unification_phase & phases.transfer_phase]
    lag = per_seed(both.assign(lag=both.transfer_mid - both.unification_mid), "lag")
    if len(lag) == 0:  # no run shows both phases: there is no timing to judge
        timing = Verdict(f"{name} (timing)", R2_STATEMENT, UNTESTABLE, rule.text, "no run shows both phases")
    elif len(lag) < MIN_UNITS:  # too few independent units, as for any verdict
        timing = Verdict(f"{name} (timing)", R2_STATEMENT, INSUFFICIENT, rule.text,
                         f"both phases are found in runs of {len(lag)} of {n} seeds; timing needs {MIN_UNITS}",
                         {"n": len(lag)})
    else:
        after, before = effect(lag, sign=+1, null=-R2_MAX_LEAD), effect(lag, sign=-1, null=R2_MAX_LEAD)
        e = effect(lag)
        kind = "together" if after.significant and before.significant else "unification first" if e.significant \
            else "unification after transfer" if e.opposite else "undetermined"
        timing = judged(f"{name} (timing)", R2_STATEMENT, rule,
                        f"transfer midpoint - unification midpoint, decades: median {e.interval_text()} ({kind}; "
                        f"within +-{R2_MAX_LEAD}: {p_text(max(after.p, before.p))})",
                        {"lag": e.median, "ci": e.ci, "kind": kind}, [after, before], [], [])
    rising = transferring.dropna(subset=["unification_t90", "transfer_t90"])
    order = per_seed(rising.assign(order=rising.transfer_t90 - rising.unification_t90), "order")
    ahead = effect(order)
    ordering_claim, ordering = f"{name} (ordering)", ("unification saturates before transfer (what the data show; "
                                                       "not the paper's claim)")
    if len(order) >= MIN_UNITS:
        ordering = judged(ordering_claim, ordering, rule,
                          f"decades from unification's 90% point to transfer's {ahead.text()}",
                          {"order": ahead.median, "ci": ahead.ci, "p": ahead.p}, [ahead], [ahead], role=DESCRIPTION)
    else:
        ordering = insufficient(ordering_claim, ordering, rule, len(order), DESCRIPTION)
    return [phase, timing, ordering, overall(name, R2_STATEMENT, [phase, timing, ordering])]


# ---------------------------------------------------------------------------------------------- R3
R3_STATEMENT = "unification predicts cross-lingual transfer"


def correlation_statistics(checkpoints: pd.DataFrame) -> pd.DataFrame:
    """Per seed block: Spearman's rho of unification and cross-lingual accuracy across the block's runs at their
    final checkpoint (``final``), the partial rho over runs x checkpoints given the step (``partial``), the mean
    over steps of the rho across runs at that step (``within_step``, steps where either is constant left out),
    and the pooled rho (``pooled``, a description)."""
    rows = []
    # a run that belongs to two sweeps (their shared base point) comes twice: it is one run, counted once
    for seed, d in checkpoints.drop_duplicates(["run", "step"]).groupby("seed", sort=True):
        last = d[d.step == d.groupby("run").step.transform("max")]
        within = [spearman(s.unification, s.acc_xling) for _, s in d.groupby("step") if s.run.nunique() >= 3]
        within = [r for r in within if np.isfinite(r)]
        rows.append({"seed": seed, "runs": d.run.nunique(), "final": spearman(last.unification, last.acc_xling),
                     "partial": partial_spearman(d.unification, d.acc_xling, d.step),
                     "within_step": float(np.mean(within)) if within else float("nan"),
                     "pooled": spearman(d.unification, d.acc_xling)})
    return pd.DataFrame(rows)


R3_STATISTICS = {"final": "across runs, final checkpoint", "partial": "partial, given the step",
                 "within_step": "across runs, within a step"}


def layer_correlations(pooled: pd.DataFrame) -> pd.DataFrame:
    """R3's statistics at every layer and token position of ``pooled`` (rows of ``unification_vs_transfer`` with
    ``seed``): per statistic, the median over seeds of the per-seed value with its order-statistic interval."""
    rows = []
    for (layer, position), d in pooled.groupby(["layer", "position"], sort=True):
        stats = correlation_statistics(d)
        for name, label in R3_STATISTICS.items():
            e = effect(stats[name])
            rows.append({"layer": layer, "position": position, "statistic": label, "r": e.median, "lo": e.low,
                         "hi": e.high, "seeds": e.n})
    return pd.DataFrame(rows)


def r3_unification_predicts_transfer(checkpoints: pd.DataFrame) -> Verdict:
    """``checkpoints``: one row per run x checkpoint with ``seed``, ``run``, ``step``, ``unification`` and
    ``acc_xling``; the runs of one seed are its block (the settings of a study)."""
    n = n_seeds(checkpoints)
    if n < MIN_UNITS:
        return insufficient("R3", R3_STATEMENT, R3, n)
    stats = correlation_statistics(checkpoints)
    final, final_sized = effect(stats.final), effect(stats.final, null=R3_MIN_RHO)
    partial, within = effect(stats.partial), effect(stats.within_step)
    checkpoints = checkpoints.drop_duplicates(["run", "step"])  # each run once, whatever its sweeps
    pooled = spearman(checkpoints.unification, checkpoints.acc_xling)
    last = checkpoints[checkpoints.step == checkpoints.groupby("run").step.transform("max")]
    _, shuffled = shuffled_pairing_p([(d.unification.to_numpy(), d.acc_xling.to_numpy())
                                      for _, d in last.groupby("seed", sort=True)])
    numbers = {"rho": final.median, "ci": final.ci, "partial": partial.median, "within_step": within.median,
               "pooled": pooled, "per_seed": stats, "shuffled_p": shuffled}
    if final.n < MIN_UNITS and within.n < MIN_UNITS:
        return Verdict("R3", R3_STATEMENT, UNTESTABLE, R3.text, f"{int(stats.runs.min())} runs per seed: no "
                       "correlation across runs can be computed (a rank correlation needs 3)", numbers)
    across = (f"final rho across runs {final.text()} (vs {R3_MIN_RHO}: {final_sized.agree}/{final.n} seeds above, "
              f"{p_text(final_sized.p)}; shuffled pairing: {p_text(shuffled)})"
              if final.n >= MIN_UNITS else f"final rho across runs not computable ({int(stats.runs.min())} runs per "
              "seed; a rank correlation needs 3), so this design cannot reach 'reproduced'")
    evidence = (f"{across}; within-step rho {within.text()}; descriptions: partial rho given step "
                f"{partial.interval_text()}, pooled rho {pooled:z.2f} over {checkpoints.run.nunique()} runs")
    return judged("R3", R3_STATEMENT, R3, evidence, numbers, [final_sized, within], [final, within])


# ---------------------------------------------------------------------------------------------- R4
R4_STATEMENT = "more information in the language -> less unification and transfer"
R4_OVERALL = "more fact-language information -> less unification and less transfer"
R4_TWO_LEVELS = "R4, 2 levels"


def r4_information(final: pd.DataFrame, rule: Rule = R4) -> list[Verdict]:
    """``final``: one row per run with ``sweep``, ``seed``, ``information`` (the exact bits that sweep's knob
    moves), ``unification`` and ``acc_xling`` (and ``prior``, the answer prior, for R4-redesign, which judges
    chance-corrected accuracy). One verdict per sweep, then the rule's overall verdict. A sweep with 2 or 3
    levels is judged as a two-level comparison of its extremes and labelled so."""
    accuracy = "acc_corrected" if rule is R4_REDESIGN else "acc_xling"
    if accuracy == "acc_corrected":
        if "prior" not in final.columns:
            raise ValueError(f"{rule.claim} judges chance-corrected accuracy: its table needs a 'prior' column "
                             "(crosslingual.world.answer_prior of each run's world)")
        final = final.assign(acc_corrected=chance_corrected(final.acc_xling, final.prior))
    verdicts = []
    for sweep, data in final.groupby("sweep", sort=False):
        levels = np.sort(data.information.unique())
        n = n_seeds(data)
        two = len(levels) < R4_MIN_LEVELS
        claim = f"{rule.claim} ({sweep}{', 2 levels' if two else ''})"
        if n < MIN_UNITS:
            verdicts.append(insufficient(claim, R4_STATEMENT, rule, n,
                                         DESCRIPTION if rule is R4 and sweep in R4_CONFOUNDED else EVIDENCE))
            continue
        res, means = {}, data.groupby("information")[["unification", accuracy]].mean().round(3)
        for metric in ("unification", accuracy):
            if two:
                ends = data[data.information.isin(levels[[0, -1]])]
                wide = ends.pivot_table(index="seed", columns="information", values=metric)
                res[metric] = (effect(wide[levels[-1]] - wide[levels[0]], sign=-1),) * 2
            else:
                trend = trend_per_seed(data, "information", metric)
                res[metric] = (effect(trend, sign=-1, null=R4_MAX_TREND), effect(trend, sign=-1))
        what = "difference high - low" if two else "per-seed trend"
        evidence = "; ".join(f"{m}: level means {means[m].tolist()}, {what} {res[m][1].text()}" for m in res)
        confounded = rule is R4 and sweep in R4_CONFOUNDED
        verdicts.append(judged(claim, R4_STATEMENT + (" (a two-level comparison, weaker than a monotone trend)"
                                                      if two else "") + (
                                   " (reported, not judged: this sweep moves the amount of parallel data with the "
                                   "information)" if confounded else ""), rule, evidence,
                               {m: res[m][1].numbers() for m in res}, [res[m][0] for m in res],
                               [res[m][1] for m in res], role=DESCRIPTION if confounded else EVIDENCE))
    return [*verdicts, overall(rule.claim, R4_OVERALL, verdicts)]


# ---------------------------------------------------------------------------------------------- R5
# R5's cue arms (sweeps of studies/extractability.yaml): +1 if the knob makes the language easier to extract (so
# unification should fall), -1 if harder (so it should rise).
R5_CUE_SIGNS = {"language_marker": +1, "shared_function_words": -1}
R5_STATEMENT = "easier language extraction -> less unification"


def paired_by_seed(arm: pd.DataFrame, control: pd.DataFrame, metric: str) -> pd.Series:
    """Per seed: ``arm - control`` in ``metric`` (same seed = same world and initialisation apart from the knob),
    over the seeds present in both."""
    a, c = per_seed(arm, metric), per_seed(control, metric)
    common = a.index.intersection(c.index)
    return a[common] - c[common]


def r5_extractability(final: pd.DataFrame, cue_arms: dict[str, int], rule: Rule = R5,
                      trend_sweeps: tuple[str, ...] = ("vocabulary", "entity_overlap")) -> list[Verdict]:
    """``final``: one row per run of ``05_extractability`` with ``sweep``, ``level``, ``seed`` and
    ``unification`` (``vocabulary`` levels: BPE vocabulary size, 0 = word level). ``cue_arms``: sweep name
    -> +1 if the knob makes the language easier to extract (so unification should fall), -1 if harder.

    One verdict per manipulation -- a cue arm against the baseline (paired by seed), the vocabulary sweep's
    per-seed trend, and the entity-overlap sweep as a positive control (those of ``trend_sweeps``) -- then the
    rule's claim (R5, or R5-redesign on the cue-isolated world of ``cue_isolation``)."""
    base = final[final.sweep == "baseline"]
    verdicts = []
    for arm, sign in cue_arms.items():
        claim = f"{rule.claim} ({arm})"
        statement = (f"{arm.replace('_', ' ')} {'eases' if sign > 0 else 'hinders'} language extraction -> "
                     "unification " + ("falls" if sign > 0 else "rises"))
        diff = paired_by_seed(final[final.sweep == arm], base, "unification")
        if len(diff) < MIN_UNITS:
            verdicts.append(insufficient(claim, statement, rule, len(diff)))
            continue
        signed, sized = effect(diff, sign=-sign), effect(diff, sign=-sign, null=-sign * R5_MIN_DIFF)
        verdicts.append(judged(claim, statement, rule, f"difference {signed.text()} ({signed.direction})",
                               signed.numbers(), [sized], [signed]))
    for sweep, sign, role in (("vocabulary", -1, EVIDENCE), ("entity_overlap", +1, POSITIVE_CONTROL)):
        if sweep not in trend_sweeps:
            continue
        data = final[final.sweep == sweep]
        claim = f"{rule.claim} ({sweep})"
        statement = ("a larger vocabulary -> unification falls" if sweep == "vocabulary" else
                     "more entity-name sharing -> unification rises (true by construction: a positive control)")
        n = n_seeds(data)
        if n < MIN_UNITS:
            verdicts.append(insufficient(claim, statement, rule, n, role))
            continue
        trend = effect(trend_per_seed(data, "level", "unification"), sign=sign)
        means = data.groupby("level").unification.mean().round(3).tolist()
        verdicts.append(judged(claim, statement, rule, f"level means {means}, per-seed trend {trend.text()} "
                               f"({trend.direction})", {**trend.numbers(), "means": means}, [trend], [trend],
                               role=role))
    return [*verdicts, overall(rule.claim, R5_STATEMENT, verdicts)]


# ---------------------------------------------------------------------------------------------- R6
R6_STATEMENT = "parallel data helps, beyond the extra exposure it brings"


def r6_exposure_control(final: pd.DataFrame) -> Verdict:
    """``final``: one row per run with ``mode`` (``parallel`` or ``repeat``), ``level`` (the parallel fraction),
    ``seed`` and ``acc_xling``. Runs of the two modes with equal level and seed share their world."""
    n = n_seeds(final)
    if n < MIN_UNITS:
        return insufficient("R6", R6_STATEMENT, R6, n)
    par, rep = final[final["mode"] == "parallel"], final[final["mode"] == "repeat"]
    helps = effect(trend_per_seed(par, "level", "acc_xling"))
    exposure = effect(trend_per_seed(rep, "level", "acc_xling"))
    paired = par.merge(rep, on=["level", "seed"], suffixes=("_par", "_rep"))
    advantage = per_seed(paired.assign(diff=paired.acc_xling_par - paired.acc_xling_rep), "diff")
    adv, adv_sized = effect(advantage), effect(advantage, null=R6_MIN_ADVANTAGE)
    return judged("R6", R6_STATEMENT, R6,
                  f"parallel: per-seed trend {helps.text()}; repeat control: per-seed trend {exposure.text()}; "
                  f"parallel - repeat {adv.text()} (vs {R6_MIN_ADVANTAGE}: {adv_sized.agree}/{adv.n} seeds above, "
                  f"{p_text(adv_sized.p)})",
                  {"rho_parallel": helps.median, "rho_repeat": exposure.median, "advantage": adv.median,
                   "advantage_ci": adv.ci}, [helps, adv_sized], [adv], [adv])


# ---------------------------------------------------------------------------------------------- R7
R7_CLAIMED = ("balanced attributes", "shared function words", "no language marker")  # the paper's interventions
R7_STATEMENT = "balancing attributes and obfuscating language cues help without extra parallel data"
R7_REDESIGN_STATEMENT = "obfuscating language cues helps without extra parallel data"


def r7_interventions(final: pd.DataFrame, controls: dict[str, str | tuple[str, str]], rule: Rule = R7,
                     claimed: tuple[str, ...] = R7_CLAIMED) -> tuple[list[Verdict], pd.DataFrame]:
    """``final``: one row per run with ``arm``, ``seed``, ``acc_xling``, ``prior`` (the answer prior of its
    world, :func:`crosslingual.core.world.answer_prior`) and ``unification``; ``controls``: intervention -> its
    control arm, the intervention being the arm of that name ("" for arms that are only controls), or
    intervention -> (arm, control) where one arm is the intervention against several controls (R7-redesign:
    the cue-isolated baseline against each arm that adds a cue). Returns the verdicts (one per ``claimed``
    intervention, then the rule's claim) and a table of every intervention's paired gain in chance-corrected
    accuracy, largest first."""
    final = final.assign(acc_corrected=chance_corrected(final.acc_xling, final.prior))
    rows, verdicts = [], []
    for intervention, pair in controls.items():
        arm, control = (intervention, pair) if isinstance(pair, str) else pair
        if not control:
            continue
        a, c = final[final.arm == arm], final[final.arm == control]
        row = {"intervention": intervention, "control": control}
        for metric in ("acc_corrected", "unification"):
            e = effect(paired_by_seed(a, c, metric))
            row |= {f"{metric} gain": e.median, f"{metric} CI low": e.low, f"{metric} CI high": e.high,
                    f"{metric} p": e.p}
        gain = paired_by_seed(a, c, "acc_corrected")
        row["seeds"] = len(gain)
        rows.append(row)
        if intervention in claimed:
            claim = f"{rule.claim} ({intervention})"
            statement = f"{intervention} raises transfer without extra parallel data"
            if len(gain) < MIN_UNITS:
                verdicts.append(insufficient(claim, statement, rule, len(gain)))
                continue
            signed, sized = effect(gain), effect(gain, null=R7_MIN_GAIN)
            verdicts.append(judged(claim, statement, rule, f"gain in chance-corrected accuracy over '{control}' "
                                   f"{signed.text()} ({signed.direction})", row, [sized], [signed]))
    gains = pd.DataFrame(rows).sort_values("acc_corrected gain", ascending=False, ignore_index=True)
    combined = overall(rule.claim, _STATEMENTS[rule.claim], verdicts)
    best = gains.iloc[0]
    combined = replace(combined, evidence=f"{combined.evidence}; largest gain: {best.intervention} "
                       f"{best['acc_corrected gain']:z.2f} [{best['acc_corrected CI low']:z.2f}, "
                       f"{best['acc_corrected CI high']:z.2f}]")
    return [*verdicts, combined], gains


def not_run(rule: Rule, reason: str) -> Verdict:
    """The verdict of a redesign whose section this build left out (the notebook's parameter), so that the
    scoreboard says why."""
    return Verdict(rule.claim, _STATEMENTS[rule.claim], UNTESTABLE, rule.text, reason)


def first_design_not_run(rule: Rule, reason: str) -> Verdict:
    """The verdict of a first design (R5, R7) that this build did not judge: superseded by its redesign."""
    return verdicts.first_design_not_run(rule, _STATEMENTS[rule.claim], reason)


_STATEMENTS = {"R4-redesign": R4_OVERALL, "R5": R5_STATEMENT, "R5-redesign": R5_STATEMENT, "R7": R7_STATEMENT,
               "R7-redesign": R7_REDESIGN_STATEMENT}


# ---------------------------------------------------------------------------------------------- R8
R8_STATEMENT = "on a real model, language pairs that unify more transfer more"


def r8_not_run(reason: str = "no real model was given (-p hf_model DIR)") -> Verdict:
    """R8 needs a real model's weights; the book built without one says so on the scoreboard."""
    return Verdict("R8", R8_STATEMENT, UNTESTABLE, R8.text, f"{reason}: the claim is about a pretrained model")


def _complete_languages(pairs: pd.DataFrame) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Languages whose every pair has a finite transfer (dropping, one at a time, the language with the most
    missing pairs), and the symmetric unification and transfer matrices over them."""
    langs = sorted(set(pairs.a) | set(pairs.b))
    while True:
        idx = {lang: i for i, lang in enumerate(langs)}
        u, t = (np.full((len(langs), len(langs)), np.nan) for _ in range(2))
        for row in pairs.itertuples():
            if row.a in idx and row.b in idx:
                i, j = idx[row.a], idx[row.b]
                u[i, j] = u[j, i] = row.unification
                t[i, j] = t[j, i] = row.transfer
        missing = (~np.isfinite(t)).sum(1) - 1  # the diagonal is always missing
        if len(langs) < 2 or missing.max() == 0:
            return langs, u, t
        langs.pop(int(np.argmax(missing)))


def r8_real_model(pairs: pd.DataFrame) -> Verdict:
    """``pairs``: one row per language pair (``a``, ``b``) of a real model with ``unification`` (mean over the
    layers after the embeddings) and ``transfer`` (P(correct in b | correct in a), both directions averaged)."""
    langs, u, t = _complete_languages(pairs)
    if len(langs) < R8_MIN_LANGUAGES:
        return Verdict("R8", R8_STATEMENT, INSUFFICIENT, R8.text,
                       f"{len(langs)} languages with a transfer value for every pair; a verdict needs "
                       f"{R8_MIN_LANGUAGES}", {"rho": float("nan")})
    rho, p = permutation_correlation_p(u, t)
    _, p_less = permutation_correlation_p(u, t, alternative="less")
    verdict = CONTRADICTED if p_less <= ALPHA else REPRODUCED if p <= ALPHA and rho >= R3_MIN_RHO else \
        PARTIAL if p <= ALPHA else NOT_REPRODUCED
    return Verdict("R8", R8_STATEMENT, verdict, R8.text,
                   f"Spearman rho {rho:z.2f} over {len(langs) * (len(langs) - 1) // 2} pairs of {len(langs)} "
                   f"languages of one model (a single-model measurement), Mantel {p_text(p)}",
                   {"rho": rho, "p": p, "languages": langs},
                   p=p, p_opposite=p_less)

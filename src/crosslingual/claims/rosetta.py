"""*Beyond the Rosetta Stone* (R1-R8): the claims' rules, each with its thresholds and rationale, and the checks.

Every check reduces its table to one number per independent seed (``seed``: world and initialisation drawn
together) and tests that number over seeds (:mod:`crosslingual.claims.stats`): the exact sign-flip test, one-sided at
alpha = 0.05, for the verdict; the 95% t-interval for the figure shown. A rule's "minimum size" is tested, not
eyeballed: "the gap exceeds 0.3" means the sign-flip test of (gap - 0.3) > 0 is significant.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crosslingual.claims.phases import MIN_PLATEAU, fit_phase
from crosslingual.claims.stats import (
    MIN_UNITS,
    chance_corrected,
    effect,
    partial_spearman,
    per_seed,
    permutation_correlation_p,
    spearman,
    trend_per_seed,
)
from crosslingual.claims.verdicts import (
    EVIDENCE,
    INSUFFICIENT,
    NOT_REPRODUCED,
    PARTIAL,
    POSITIVE_CONTROL,
    REPRODUCED,
    UNTESTABLE,
    Rule,
    Verdict,
    insufficient,
    n_seeds,
    overall,
)

# ---------------------------------------------------------------------------------------------- the rules
R1_MIN_GAP = 0.3
R1 = Rule("R1", f"reproduced if the per-seed gap (in-language minus cross-lingual accuracy) exceeds {R1_MIN_GAP} "
          "(one-sided sign-flip test of gap - 0.3 > 0 over seeds, alpha 0.05); partial if it only exceeds 0",
          "0.3 is a gap no reader would call small on a 0-1 accuracy scale; the paper states the gap qualitatively")

R2_MAX_LEAD = 0.25  # decades of steps: |lag| below a factor 10^0.25 = 1.8 in steps counts as "together"
R2_MIN_SHARE = 0.5
R2_TRANSFERRING = 2.0  # a run "transfers" if its final cross-lingual accuracy is at least this multiple of chance
R2 = Rule("R2", "phase: reproduced if, per seed, more than half of the runs that transfer (final cross-lingual "
          f"accuracy >= twice chance) show a unification phase (crosslingual.phases: a sigmoid in log-step with "
          "both plateaus observed), share - 0.5 > 0 by the sign-flip test over seeds. Timing: the per-seed mean of "
          "(transfer midpoint - unification midpoint) in decades of steps over runs with both phases; reproduced "
          f"if its 95% t-interval lies within +-{R2_MAX_LEAD} (together), partial if it lies above 0 (unification "
          "first), not reproduced if below 0 (unification after transfer) or undetermined",
          "a linear trend, white noise and a constant must fail (unit tests); 0.25 decades is a factor 1.8 in "
          "steps, about one checkpoint interval of the default schedule",
          "replaced in #17 after the 3-seed results: the old criterion (share of the range in the 5 steepest "
          "intervals) passed a linear trend (0.84) and white noise (0.89); and after the first 5-seed builds, timing "
          "with both phases found in only 1-4 seeds became 'insufficient data' (it was 'untestable', which left it "
          "out of the overall verdict: R2 read 'reproduced' on its phase part alone)")
R2_REDESIGN = Rule("R2-redesign", "R2's rule and thresholds, unchanged, on the study learning_phase: the "
                   "baseline world of chapter 2 trained for twice the profile's steps with twice its log-spaced "
                   "checkpoints (default: 2,000 steps, n_checkpoints 48: 42 distinct steps), one run per seed",
                   "in the pooled design, transfer's upper plateau lay past the end of training (its 90% point "
                   "at 10^3.14 steps on average, the last checkpoint at 10^3) in 88 of 100 transferring runs, "
                   "so its phase could not be found; a pilot on seeds 1000-1001 (never used for a verdict; "
                   "crosslingual sweep learning_phase --seeds 2 --seed 1000) "
                   "placed the 90% point at 10^3.09-10^3.11 of 2,000 steps, with 12-14 of the 42 checkpoint "
                   "steps inside the transition and 3 after it (2 needed)",
                   redesign="the pooled runs of chapters 3-6 (1,000 steps, 24 checkpoints) are replaced by one "
                   "baseline-world run per seed trained for 2,000 steps with 48 checkpoints")

R3_MIN_RHO = 0.5
R3 = Rule("R3", "reproduced if, per seed, Spearman's rho across the seed's runs at their final checkpoint "
          f"exceeds {R3_MIN_RHO} (sign-flip test of rho - {R3_MIN_RHO} over seeds) and the partial rho over runs x "
          "checkpoints given the training step exceeds 0; partial if any of final rho, partial rho or the mean "
          "within-step rho across runs exceeds 0; the rho pooled over runs x checkpoints is a description only",
          "pooled over checkpoints, both quantities grow with training time, which alone produces a high rho; "
          "these three statistics cannot come from training time. 0.5 is below the paper's 0.65 on Gemma",
          "replaced in #17 after the 3-seed results: the verdict was on the pooled rho")

R4_MIN_LEVELS = 4
R4_MAX_TREND = -0.5
R4 = Rule("R4", f"per sweep with at least {R4_MIN_LEVELS} levels: the per-seed Spearman trend of unification and "
          "of cross-lingual accuracy over the levels of rising information; reproduced if both mean trends lie "
          f"below {R4_MAX_TREND} (sign-flip test of trend + 0.5 < 0 over seeds), partial if at least one lies "
          "below 0. With 2 levels (R4, 2 levels): the per-seed difference (high - low information) of each, "
          "reproduced if both lie below 0, partial if one",
          "monotone over >= 4 levels (science.md); a trend of -0.5 over 4 levels is a clear fall, not a tilt; a "
          "2-level comparison cannot show monotonicity and is labelled as a weaker claim",
          "replaced in #17 after the 3-seed results: strict ordering of level means and a run-level rho")

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
                   redesign="the two sweeps run at p = 0.2 instead of 0.6 (their information moves 0.35 bits instead "
                   "of 0.05) and accuracy is chance-corrected")

R5_MIN_DIFF = 0.02  # unification-score units
R5 = Rule("R5", "cue arms: the per-seed difference in final unification (knob on - off, same seed) is beyond "
          f"{R5_MIN_DIFF} in the predicted direction (reproduced) or only beyond 0 (partial); the vocabulary sweep: "
          "the per-seed trend over vocabulary sizes is below 0 (reproduced). Entity overlap is a positive control "
          "(a shared name gives identical inputs): reported, never evidence",
          "0.02 is about a tenth of the unification range seen between settings",
          "replaced in #17 after the 3-seed results: entity overlap no longer counts towards R5")

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
                   redesign="the old arms change one of four redundant cues (script, names, word order, function "
                   "word); here the languages differ only in their names and each arm adds one cue back; the "
                   "vocabulary sweep compares BPE sizes in one script (the old one set BPE beside word-level tokens)")
R5_REDESIGN_CUE_SIGNS = {"language_marker": +1, "own_function_words": +1, "own_word_order": +1, "own_script": +1}

R6_MIN_ADVANTAGE = 0.1
R6 = Rule("R6", "reproduced if the per-seed trend of cross-lingual accuracy over the parallel fraction is above 0 "
          "and the per-seed mean advantage of parallel over its exposure-matched repeat control (same level, "
          f"same seed) exceeds {R6_MIN_ADVANTAGE} (sign-flip tests over seeds); partial if one of the two holds",
          "0.1 accuracy is twice the chance level of the default world (0.05)")

R7_MIN_GAIN = 0.02
R7 = Rule("R7", "reproduced if the per-seed gain in chance-corrected cross-lingual accuracy, (acc - prior) / (1 - "
          f"prior), over the arm's control (same seed) exceeds {R7_MIN_GAIN}; partial if it exceeds 0; the prior "
          "is the best guess of the value given the relation and the entity's home language",
          "balancing attributes changes the answer prior (0.10 -> 0.05 in the default world), so raw accuracies "
          "are not comparable between arms; 0.02 is a fortieth of the corrected scale",
          "chance correction added in #17 after the 3-seed results")

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
          "permutation test over languages is significant (one-sided, 0.05); partial if only significant",
          "pairs share languages and are not independent: permuting whole languages keeps that dependence; "
          "5 languages give 120 permutations, enough for p <= 0.05",
          "the Mantel test replaced a bootstrap over pairs in #17")

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


def _grade(sized, signed) -> str:
    """reproduced if the test against the minimum size is significant, partial if only the sign, else not."""
    return REPRODUCED if sized.significant else PARTIAL if signed.significant else NOT_REPRODUCED


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
    return Verdict("R1", R1_STATEMENT, _grade(sized, signed), R1.text,
                   f"gap {signed.text()}, vs {R1_MIN_GAP}: p = {sized.p:.3f} (in-language {final.acc_in.mean():.2f}, "
                   f"cross-lingual {final.acc_xling.mean():.2f})", {"gap": signed.mean, "ci": signed.ci, "p": sized.p})


# ---------------------------------------------------------------------------------------------- R2
R2_STATEMENT = "unification emerges in a learning phase, together with transfer"


def learning_phases(checkpoints: pd.DataFrame) -> pd.DataFrame:
    """Per run: the unification and transfer phases (crosslingual.claims.phases), their midpoints in decades of
    steps."""
    rows = []
    for (seed, run), d in checkpoints.sort_values("step").groupby(["seed", "run"], sort=True):
        u, x = fit_phase(d.step, d.unification), fit_phase(d.step, d.acc_xling)
        rows.append({"seed": seed, "run": run, "unification_phase": u.found, "unification_mid": u.midpoint,
                     "unification_reason": u.reason, "transfer_phase": x.found, "transfer_mid": x.midpoint,
                     "transfer_after": int((np.log10(d.step.to_numpy() + 1.0) > x.end).sum()),
                     "final_acc_xling": float(d.acc_xling.iloc[-1])})
    return pd.DataFrame(rows)


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
    ``acc_xling``. Returns R2 (phase), R2 (timing) and R2, named after ``rule`` (``R2_REDESIGN`` for the
    checkpoint-dense study: the same criteria on other runs)."""
    if rule not in (R2, R2_REDESIGN):
        raise ValueError(f"rule={rule.claim!r}: R2's check applies R2's rule or its redesign's")
    name = rule.claim
    n = n_seeds(checkpoints)
    if n < MIN_UNITS:
        parts = [insufficient(f"{name} (phase)", R2_STATEMENT, rule, n),
                 insufficient(f"{name} (timing)", R2_STATEMENT, rule, n)]
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
        phase = Verdict(f"{name} (phase)", R2_STATEMENT, REPRODUCED if found.significant else NOT_REPRODUCED,
                        rule.text,
                        f"share of transferring runs with a unification phase {found.text()} vs {R2_MIN_SHARE}"
                        + (f"; most common reason for none: {common}" if common else ""),
                        {"share": found.mean, "ci": found.ci, "p": found.p, "phases": phases})
    both = phases[phases.unification_phase & phases.transfer_phase]
    lag = per_seed(both.assign(lag=both.transfer_mid - both.unification_mid), "lag")
    if len(lag) == 0:  # no run shows both phases: there is no timing to judge
        timing = Verdict(f"{name} (timing)", R2_STATEMENT, UNTESTABLE, rule.text, "no run shows both phases")
    elif len(lag) < MIN_UNITS:  # too few independent units, as for any verdict
        timing = Verdict(f"{name} (timing)", R2_STATEMENT, INSUFFICIENT, rule.text,
                         f"both phases are found in runs of {len(lag)} of {n} seeds; timing needs {MIN_UNITS}",
                         {"n": len(lag)})
    else:
        e = effect(lag)
        together = e.low >= -R2_MAX_LEAD and e.high <= R2_MAX_LEAD
        kind = "together" if together else "unification first" if e.low > 0 else \
            "unification after transfer" if e.high < 0 else "undetermined"
        timing = Verdict(f"{name} (timing)", R2_STATEMENT, {"together": REPRODUCED, "unification first": PARTIAL}.get(
            kind, NOT_REPRODUCED), rule.text, f"transfer midpoint - unification midpoint {e.text()} decades ({kind})",
            {"lag": e.mean, "ci": e.ci, "kind": kind})
    return [phase, timing, overall(name, R2_STATEMENT, [phase, timing])]


# ---------------------------------------------------------------------------------------------- R3
R3_STATEMENT = "unification predicts cross-lingual transfer"


def correlation_statistics(checkpoints: pd.DataFrame) -> pd.DataFrame:
    """Per seed block: Spearman's rho of unification and cross-lingual accuracy across the block's runs at their
    final checkpoint (``final``), the partial rho over runs x checkpoints given the step (``partial``), the mean
    over steps of the rho across runs at that step (``within_step``, steps where either is constant left out),
    and the pooled rho (``pooled``, a description)."""
    rows = []
    for seed, d in checkpoints.groupby("seed", sort=True):
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
    ``seed``): per statistic, the mean over seeds of the per-seed value with its 95% t-interval."""
    rows = []
    for (layer, position), d in pooled.groupby(["layer", "position"], sort=True):
        stats = correlation_statistics(d)
        for name, label in R3_STATISTICS.items():
            e = effect(stats[name])
            rows.append({"layer": layer, "position": position, "statistic": label, "r": e.mean, "lo": e.low,
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
    pooled = spearman(checkpoints.unification, checkpoints.acc_xling)
    numbers = {"rho": final.mean, "ci": final.ci, "partial": partial.mean, "within_step": within.mean,
               "pooled": pooled, "per_seed": stats}
    if final.n < MIN_UNITS and partial.n < MIN_UNITS:
        return Verdict("R3", R3_STATEMENT, UNTESTABLE, R3.text, f"{int(stats.runs.min())} runs per seed: no "
                       "correlation across runs can be computed", numbers)
    verdict = REPRODUCED if final_sized.significant and partial.significant else \
        PARTIAL if final.significant or partial.significant or within.significant else NOT_REPRODUCED
    across = (f"final rho across runs {final.text()} (vs {R3_MIN_RHO}: p = {final_sized.p:.3f})"
              if final.n >= MIN_UNITS else f"final rho across runs not computable ({int(stats.runs.min())} runs per "
              "seed; a rank correlation needs 3), so this design cannot reach 'reproduced'")
    evidence = (f"{across}; partial rho given step {partial.text()}; within-step rho {within.text()}; pooled rho "
                f"{pooled:.2f} (description) over {checkpoints.run.nunique()} runs")
    return Verdict("R3", R3_STATEMENT, verdict, R3.text, evidence, numbers)


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
            verdicts.append(insufficient(claim, R4_STATEMENT, rule, n))
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
        strong = [m for m in res if res[m][0].significant]
        weak = [m for m in res if res[m][1].significant]
        verdict = REPRODUCED if len(strong) == 2 else PARTIAL if weak else NOT_REPRODUCED
        what = "difference high - low" if two else "per-seed trend"
        evidence = "; ".join(f"{m}: level means {means[m].tolist()}, {what} {res[m][1].text()}" for m in res)
        verdicts.append(Verdict(claim, R4_STATEMENT + (" (a two-level comparison, weaker than a monotone trend)"
                                                       if two else ""), verdict, rule.text, evidence,
                                {m: {"mean": res[m][1].mean, "ci": res[m][1].ci, "p": res[m][1].p} for m in res}))
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
        verdicts.append(Verdict(claim, statement, _grade(sized, signed), rule.text,
                                f"difference {signed.text()} ({signed.direction})", signed.numbers()))
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
        verdicts.append(Verdict(claim, statement, REPRODUCED if trend.significant else NOT_REPRODUCED, rule.text,
                                f"level means {means}, per-seed trend {trend.text()} ({trend.direction})",
                                {**trend.numbers(), "means": means}, role))
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
    ok_helps, ok_beyond = helps.significant, adv_sized.significant
    verdict = REPRODUCED if ok_helps and ok_beyond else PARTIAL if ok_helps or ok_beyond else NOT_REPRODUCED
    return Verdict("R6", R6_STATEMENT, verdict, R6.text,
                   f"parallel: per-seed trend {helps.text()}; repeat control: per-seed trend {exposure.text()}; "
                   f"parallel - repeat {adv.text()} (vs {R6_MIN_ADVANTAGE}: p = {adv_sized.p:.3f})",
                   {"rho_parallel": helps.mean, "rho_repeat": exposure.mean, "advantage": adv.mean,
                    "advantage_ci": adv.ci})


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
            row |= {f"{metric} gain": e.mean, f"{metric} CI low": e.low, f"{metric} CI high": e.high,
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
            verdicts.append(Verdict(claim, statement, _grade(sized, signed), rule.text,
                                    f"gain in chance-corrected accuracy over '{control}' {signed.text()} "
                                    f"({signed.direction})", row))
    gains = pd.DataFrame(rows).sort_values("acc_corrected gain", ascending=False, ignore_index=True)
    combined = overall(rule.claim, _STATEMENTS[rule.claim], verdicts)
    best = gains.iloc[0]
    combined = Verdict(combined.claim, combined.statement, combined.verdict, combined.rule,
                       f"{combined.evidence}; largest gain: {best.intervention} {best['acc_corrected gain']:.2f} "
                       f"[{best['acc_corrected CI low']:.2f}, {best['acc_corrected CI high']:.2f}]")
    return [*verdicts, combined], gains


def not_run(rule: Rule, reason: str) -> Verdict:
    """The verdict of a redesign whose study this build left out (``chapters.cpu_budget_skips``, or the
    notebook's parameter), so that the scoreboard says why."""
    return Verdict(rule.claim, _STATEMENTS[rule.claim], UNTESTABLE, rule.text, reason)


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
    verdict = REPRODUCED if p <= 0.05 and rho >= R3_MIN_RHO else PARTIAL if p <= 0.05 else NOT_REPRODUCED
    return Verdict("R8", R8_STATEMENT, verdict, R8.text,
                   f"Spearman rho {rho:.2f} over {len(langs) * (len(langs) - 1) // 2} pairs of {len(langs)} "
                   f"languages, Mantel p = {p:.3f}", {"rho": rho, "p": p, "languages": langs})

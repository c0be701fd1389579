"""*Unveiling Linguistic Regions* (G1-G4): the claims' rules and checks, on one number per seed (see
:mod:`crosslingual.claims.rosetta` for the statistics)."""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

import pandas as pd

from crosslingual.claims import designs as real
from crosslingual.claims.designs import G4_REDESIGN_FRACTIONS, G4_REDESIGN_LR
from crosslingual.claims.stats import ALPHA, MIN_UNITS, effect, fixed, holm, measurement, per_seed
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
)

G1_MIN_RISE = 0.5  # nats per token: exp(0.5) = 1.65x the perplexity, a large drop in a language
G1_MIN_RATIO = 5.0  # the core must hurt at least this many times more than the larger control
G1 = Rule("G1", f"per evaluated language: the per-seed loss rise from zeroing the core 1% exceeds {G1_MIN_RISE} nats "
          f"(sign test of rise - {G1_MIN_RISE} > 0 over seeds) and is at least {G1_MIN_RATIO:g}x the seed's larger "
          f"control's (bottom or random 1%; sign test of core - {G1_MIN_RATIO:g} x control > 0); a language holds if "
          f"both do; reproduced if every language holds, partial if at least half do; {STATISTICS}",
          "0.5 nats is 1.65x the perplexity; 5x separates 'breaks' from 'also hurts'",
          REREGISTERED + ". In #36 also: the ratio to the control was read off the means, untested")
G2_MIN_RATIO = 2.0
G2 = Rule("G2", "per selected language: the per-seed excess (own-language rise minus the mean rise on the others) "
          f"exceeds 0 and the own rise is at least {G2_MIN_RATIO:g}x the others' (sign tests over seeds of both; a "
          "language holds if both do, its p the larger); reproduced if every language holds, partial if some does "
          "under Holm's adjustment over the languages, contradicted if some language's excess lies significantly "
          f"below 0; {STATISTICS}", "twice the damage is the smallest 'much more' we would name",
          REREGISTERED + ". In #36 also: the ratio was read off the means, untested, and 'partial if for some' "
          "counted each language at 0.05 (7-12.5% of null tables passed)")
G3_BREAK = 1.0  # nats per token: exp(1) = 2.7x the perplexity
G3_MIN_RATIO = 10.0  # outlier vs the median typical dimension
OUTLIER_MIN_RATIO = 10.0  # a dimension is an outlier when its magnitude is 10x its norm's median
G3 = Rule("G3", f"untestable unless some seed's largest norm-weight dimension is at least {OUTLIER_MIN_RATIO:g}x its "
          f"norm's median (an outlier dimension exists); then reproduced if the per-seed rise from scaling it exceeds "
          f"{G3_BREAK} nat and is {G3_MIN_RATIO:g}x the seed's median typical dimension's (sign tests over seeds of "
          f"rise - {G3_BREAK} and of rise - {G3_MIN_RATIO:g} x typical); partial if only the ratio holds; "
          f"{STATISTICS}", "the paper's outlier (LLaMA-2 dimension 2100) dwarfs the others; 1 nat is 2.7x "
          "the perplexity", "'untestable' replaced 'not reproduced' for models without an outlier in #17. "
          + REREGISTERED + ". In #36 also: the ratio branch had no test (22.5% of tables with both rises noise "
          "around 0 read partial)")
G4 = Rule("G4", "reproduced if the per-seed forgetting (loss rise on the old languages) with the core frozen is "
          "smaller than with full training and than with a random region of the same size frozen (sign tests of "
          "each paired difference over seeds); partial if one holds under Holm's adjustment over the two, "
          f"contradicted if one lies significantly below 0; {STATISTICS}", "the claim is a direction",
          "forgetting measured on the answer loss after a first look (the full loss was dominated by near-"
          "irreducible positions). " + REREGISTERED)
G4_REDESIGN = Rule("G4-redesign", "the study regions' models (G4's base runs) trained further on the new language "
                   "only (a fifth of their steps, batches of 128, AdamW at a constant learning rate of "
                   f"{G4_REDESIGN_LR:g} with weight decay 0.1), in 7 arms: everything trains, and at each of 1%, 5% "
                   "and 20% the core region (the top share of every tensor by importance summed over the four "
                   "selection languages) or a seeded random region of the same size is frozen; regions are chosen "
                   "among every parameter alike (the blocks, the embeddings, the final norm and the LM head; "
                   "crosslingual.regions.units(outer=True)). Forgetting = the mean over the six old languages of "
                   "the answer-loss rise as a share of the gap between the unigram answer loss and the trained "
                   "model's (crosslingual.regions_study.forgetting_shares). Per seed: the mean over the three "
                   "shares of (full - core frozen) and of (random frozen - core frozen); reproduced if both exceed "
                   "0 (sign tests over seeds), partial if one under Holm's adjustment, contradicted if one lies "
                   f"significantly below 0; the per-share differences are reported; {STATISTICS}",
                   "the old design's blockers: at G4's learning rate (3e-4) the old languages' answer loss rose by "
                   "about 1% of what the model knew, too little for any region to protect; the frozen 1% held "
                   "block entries only, while the forgetting sat in the LM head and embeddings, which every arm "
                   "trained; and one share. A pilot on seeds 1000-1001 (never used for a verdict) measured the "
                   "forgetting share at learning rates 3e-4, 1e-3, 2e-3 and 3e-3: 0.006-0.013, 0.03-0.11, "
                   "0.21-0.39 and 0.57-1.00 over the arms; 2e-3 is the rate where forgetting is large and not "
                   "saturated. There, full - core frozen averaged 0.06 and 0.07 over the shares, random frozen - "
                   "core frozen 0.03 and 0.06; the 7 arms took 41-55 s per seed on 2 cores (G4's 3 arms: 15-22 s)",
                   REREGISTERED + ". Its verdict at 5 seeds hinged on one seed: 'not reproduced' on a 2-core AMD EPYC, "
                   "'reproduced' on a 2-core Intel Xeon, same commit and seeds; the page now marks such a verdict "
                   "fragile",
                   redesign="a 1% block-only region at a learning rate that barely forgets is replaced by regions of "
                   "1%, 5% and 20% over every parameter alike at a rate that forgets a fifth to two fifths, scored "
                   "as a share of the unigram-to-trained gap")
# G1/G3-redesign: what a pre-trained LLM has and the study regions' models lack (studies/regions_large.yaml)
_LARGE = ("the study regions_large's models: the study regions' seven languages (the seventh held out), a LLaMA-like "
          "model of twice the profile's width and depth (d_model 128, 4 layers at default), weight decay 0.1, four "
          "facts packed into every training sequence (batches of a quarter of the profile's sequences: the same "
          "facts per step) and 4.5x the profile's steps. Every rise is measured on the answer loss as a share of "
          "the language's gap between its unigram answer loss and the trained model's "
          "(crosslingual.regions_study.analyse with score='answer'), so 1 is a language that lost everything it "
          "knew beyond the answers' frequencies")
G1_REDESIGN_MIN_SHARE = 0.5  # half of what a language knew beyond the unigram: G1's 0.5 nats, as a share
G3_REDESIGN_BREAK = 0.5
_LARGE_BLOCKERS = ("the old design's blockers: 1% of the study regions' 2-layer, d-64 model is about 1,000 "
                   "block entries; weight decay 1.0 keeps every weight small and five-token sequences give no "
                   "position to spend on attention sinks, so no outlier dimension forms (the largest is 5x its "
                   "norm's median); and the full next-token loss is dominated by near-irreducible positions (the "
                   "entity and relation of a random fact), so its rise in nats says little about what a "
                   "language lost")
G1_REDESIGN = Rule("G1-redesign", f"{_LARGE}. Regions as in G1: the core is the top 1% of every block tensor by "
                   "the full loss's importance summed over the four selection languages; the controls are the "
                   "bottom and a seeded random 1%. Per evaluated language: the per-seed share lost by zeroing the "
                   f"core exceeds {G1_REDESIGN_MIN_SHARE} (sign test of share - {G1_REDESIGN_MIN_SHARE} > 0 "
                   f"over seeds) and is at least {G1_MIN_RATIO:g}x the seed's larger control's (sign test); "
                   f"reproduced if in every language, partial if in at least half; {STATISTICS}",
                   f"{G1_REDESIGN_MIN_SHARE} of the gap is G1's 0.5 nats as a share; {G1_MIN_RATIO:g}x as in G1. "
                   + _LARGE_BLOCKERS + ". A pilot on seeds 1000-1001 (never used for a verdict) trained the design in "
                   "402 s for both on 2 cores (about 98 ms a step on one thread): in-language accuracy 1.00, "
                   "cross-lingual 0.75 and 0.80. Zeroing the core 1% cost 0.002-0.077 of the gap per language "
                   "(0.01-0.46 nats of answer loss), the bottom and random 1% nothing (at most 0.001 nats); the "
                   "analysis took 11 s per run",
                   REREGISTERED + "; the ratio is tested, as in G1",
                   redesign="a 2-layer model with weight decay 1.0 on one-fact sequences, judged in nats of the full "
                   "loss, is replaced by a 4-layer model twice as wide with weight decay 0.1 on packed four-fact "
                   "sequences, trained 3x longer, judged as a share of the unigram-to-trained answer-loss gap")
G3_REDESIGN = Rule("G3-redesign", f"{_LARGE}. Untestable unless some seed's largest norm-input dimension (mean "
                   "|activation| at the input of a block's norm, as in G3) is at least "
                   f"{OUTLIER_MIN_RATIO:g}x its norm's median; then reproduced if the per-seed share lost (mean over "
                   "the six languages) from scaling that norm-weight entry by 4 exceeds "
                   f"{G3_REDESIGN_BREAK} and is {G3_MIN_RATIO:g}x the seed's median typical dimension's (sign tests "
                   f"over seeds); partial if only the ratio holds; {STATISTICS}. Massive activations (the largest single "
                   "|activation| of the residual stream over its median, on training-shaped packed sequences: "
                   "crosslingual.regions_study.massive) are reported, not judged",
                   f"G3's thresholds, {G3_REDESIGN_BREAK} of the gap in place of 1 nat. " + _LARGE_BLOCKERS
                   + ". The pilot (seeds 1000-1001, as for G1-redesign) found what the old design lacked: an "
                   "outlier dimension (blocks.3.ln2's input, 37x and 44x its norm's median, from block 2 on) and, "
                   "on that same dimension, massive activations (the largest residual entry 2,150-2,500, about 290x "
                   "the median, at the BOS token of a packed fact, from block 1's output on, as Sun et al. 2024 "
                   "describe). Scaling the outlier's norm-weight entry by 0, 2, 4 or 10 moved the answer loss by "
                   "less than 1e-6 of the gap. Explored on the pilot only, not part of the rule: the same dimension's "
                   "entry in every block norm by 4 cost at most 0.0003 of the gap; by 10, up to 0.16 in block 0's "
                   "first norm and 0.12 in block 1's second, where the dimension is not yet an outlier",
                   REREGISTERED + "; the ratio is tested, as in G3", redesign=G1_REDESIGN.redesign)
# The same claims on one pretrained model (crosslingual.analysis.regions_pretrained): one set of weights, so the
# units are windows of held-out text, the thresholds are those above.
_LENGTH, _SELECT, _EVALUATE = real.DESIGNS["default"]
_REAL = (f"{real.MODEL} (dequantised from GGUF Q4_1), regions chosen on the selection side of Sphinx's message "
         f"catalogues in {', '.join(real.SELECTED)}, judged on the evaluation side (messages the selection never "
         f"saw, in any language) in {len(real.EVALUATED)} languages; the units are windows of held-out text, "
         f"{_EVALUATE} per language of {_LENGTH} tokens at the default profile ({_SELECT} per selected language "
         "for importance; other profiles: crosslingual.regions_pretrained.DESIGNS)")
_REAL_AMENDED = ("re-registered in #36 before judging any run: sign-flip tests over the windows of one model "
                 "treated them as independent units (8 per language); one model is one unit (science.md 5), so the "
                 "verdict is now a description of that model, and the ratios are read off intervals, not means")
G1_REAL = Rule("G1 (smollm2-135m)", f"{_REAL}. Per evaluated language: the interval over windows of the median loss "
               f"rise from zeroing the core 1% lies above {G1_MIN_RISE} nats and that of the median window's core "
               f"rise minus {G1_MIN_RATIO:g}x the larger control's (bottom or random 1%) above 0; reproduced if in "
               f"every language, partial if in at least half; {SINGLE_MODEL}",
               "G1's thresholds; the windows share one model, so the interval describes the spread over text, and "
               "a quantised model makes the agreement qualitative", _REAL_AMENDED)
G2_REAL = Rule("G2 (smollm2-135m)", f"{_REAL}. Per selected language: the per-window excess (own-language rise "
               "minus the mean rise of the other evaluated languages' windows of the same index) and the own rise "
               f"minus {G2_MIN_RATIO:g}x the others': reproduced if the intervals over windows of both lie above 0 "
               "for every selected language, partial if for some, contradicted if the excess lies below 0 for some; "
               f"{SINGLE_MODEL}", "G2's thresholds, windows as items of one model", _REAL_AMENDED)
G3_REAL = Rule("G3 (smollm2-135m)", f"{_REAL}. Untestable unless the model's largest norm-input dimension (mean "
               f"|activation| over the evaluation windows) is at least {OUTLIER_MIN_RATIO:g}x its norm's median; "
               f"then reproduced if the interval over windows of the rise (mean over languages) from scaling that "
               f"norm-weight entry by {real.FACTOR:g} lies above {G3_BREAK} nat and that of the rise minus "
               f"{G3_MIN_RATIO:g}x the median of {real.N_TYPICAL} typical dimensions' (those nearest the norm's "
               f"median) above 0; partial if only the ratio holds; {SINGLE_MODEL}",
               "G3's thresholds, windows as items of one model", _REAL_AMENDED)
# Gemma 3 270M: the same rules on another family, the model's description in place of SmolLM2's
_REAL_GEMMA = (_REAL.replace(f"{real.MODEL} (dequantised from GGUF Q4_1)",
                             f"{real.GEMMA} (dequantised from GGUF Q4_K_M, token embeddings Q8_0)")
               + "; Gemma's norms multiply by 1 + w, so a zeroed norm entry leaves gain 1 there and scaling a "
                 "dimension's entry scales its gain 1 + w (crosslingual.regions.scaled)")
G1_GEMMA = Rule("G1 (gemma-3-270m)", G1_REAL.text.replace(_REAL, _REAL_GEMMA), G1_REAL.rationale, _REAL_AMENDED)
G2_GEMMA = Rule("G2 (gemma-3-270m)", G2_REAL.text.replace(_REAL, _REAL_GEMMA), G2_REAL.rationale, _REAL_AMENDED)
G3_GEMMA = Rule("G3 (gemma-3-270m)", G3_REAL.text.replace(_REAL, _REAL_GEMMA), G3_REAL.rationale, _REAL_AMENDED)
# model -> claim -> its rule on that model
REAL_RULES = {real.MODEL: {"G1": G1_REAL, "G2": G2_REAL, "G3": G3_REAL},
              real.GEMMA: {"G1": G1_GEMMA, "G2": G2_GEMMA, "G3": G3_GEMMA}}
RULES = {r.claim: r for r in (G1, G2, G3, G4, G4_REDESIGN, G1_REDESIGN, G3_REDESIGN, G1_REAL, G2_REAL, G3_REAL,
                              G1_GEMMA, G2_GEMMA, G3_GEMMA)}
# What the paper reports for each claim, so the scoreboard can set our number beside theirs.
PAPER_FIGURES = {
    "G1": "qualitative (LLaMA-2: core 1% removal breaks 30 languages; bottom / random 1% do not)",
    "G2": "qualitative (monolingual regions exist; removal hurts their language)",
    "G3": "Chinese perplexity 257.7 (x4 on dimension 2100) vs 5.86 (dimension 4200)",
    "G4": "qualitative (freezing the core mitigates forgetting in further pre-training)",
    G4_REDESIGN.claim: "qualitative (freezing the core mitigates forgetting in further pre-training)",
    G1_REDESIGN.claim: "qualitative (LLaMA-2: core 1% removal breaks 30 languages; bottom / random 1% do not)",
    G3_REDESIGN.claim: "Chinese perplexity 257.7 (x4 on dimension 2100) vs 5.86 (dimension 4200)",
    G1_REAL.claim: "qualitative (LLaMA-2-7B/13B: core 1% removal breaks 30 languages; bottom / random 1% do not)",
    G2_REAL.claim: "qualitative (LLaMA-2: monolingual regions exist; removal hurts their language)",
    G3_REAL.claim: "LLaMA-2: Chinese perplexity 257.7 (x4 on dimension 2100) vs 5.86 (dimension 4200)",
    G1_GEMMA.claim: "qualitative (LLaMA-2-7B/13B: core 1% removal breaks 30 languages; bottom / random 1% do not)",
    G2_GEMMA.claim: "qualitative (LLaMA-2: monolingual regions exist; removal hurts their language)",
    G3_GEMMA.claim: "LLaMA-2: Chinese perplexity 257.7 (x4 on dimension 2100) vs 5.86 (dimension 4200)",
}


def _language(lang) -> str:
    """A language's name in a verdict: our models' languages are numbers (L0, L1, ...), real ones locales."""
    return f"L{lang}" if isinstance(lang, (int, float)) or str(lang).isdigit() else str(lang)

def _model(rule: Rule) -> str:
    """The pretrained model a rule on one model names: "G1 (smollm2-135m)" -> "smollm2-135m"."""
    return rule.claim.split("(", 1)[1].rstrip(")") if "(" in rule.claim else rule.claim


G1_STATEMENT = "zeroing the core region hurts every language far more than bottom or random regions"


def g1_core_region(ablation: pd.DataFrame, rule: Rule = G1, unit: str = "seed", min_rise: float = G1_MIN_RISE,
                   measure: str = "rise") -> Verdict:
    """``ablation``: one row per ``unit`` (seed; a window of text on a pretrained model, ``rule`` G1_REAL) x
    region (``core``, ``bottom``, ``random``) x language with ``rise`` (loss after zeroing the region minus
    before; G1-redesign: its share of the gap, named ``measure`` in the evidence, judged against ``min_rise``),
    at the paper's size (1%) and over every evaluated language."""
    n = n_seeds(ablation, unit)
    if n < MIN_UNITS:
        return insufficient(rule.claim, G1_STATEMENT, rule, n)
    ok, parts, fragile = [], [], False
    table = ablation.groupby([unit, "language", "region"]).rise.mean().unstack(["language", "region"])
    for lang in sorted(table.columns.unique("language")):
        wide = table[lang].dropna(how="all")
        core, control = wide["core"], wide.drop(columns="core").max(axis=1).clip(lower=0.0)
        if unit == "seed":
            sized, ratio = effect(core, null=min_rise), effect(core - G1_MIN_RATIO * control)
            ok.append(sized.significant and ratio.significant)
            fragile |= sized.fragile or ratio.fragile
            parts.append(f"{_language(lang)} {sized.interval_text(3)} ({sized.agree}/{sized.n} above {min_rise:g}) "
                         f"vs control {control.median():z.3f} ({ratio.agree}/{ratio.n} seeds above "
                         f"{G1_MIN_RATIO:g}x)")
        else:  # windows of one model: a description of that model
            sized = measurement(core, "windows", _model(rule))
            ratio = measurement(core - G1_MIN_RATIO * control, "windows", _model(rule))
            ok.append(sized.beyond(min_rise) and ratio.beyond(0.0))
            parts.append(f"{_language(lang)} {sized.median:z.3f} [{sized.low:z.3f}, {sized.high:z.3f}] vs control "
                         f"{control.median():z.3f}")
    verdict = REPRODUCED if all(ok) else PARTIAL if 2 * sum(ok) >= len(ok) else NOT_REPRODUCED
    what = ("per seed" if unit == "seed" else
            f"median over {n} windows of one model with its interval over them (a single-model measurement)")
    return Verdict(rule.claim, G1_STATEMENT, verdict, rule.text,
                   f"{sum(ok)}/{len(ok)} languages; core {measure}, {what}, vs the larger control: "
                   + "; ".join(parts), {"languages_ok": int(sum(ok)), "languages": len(ok)}, fragile=fragile)


G2_STATEMENT = "zeroing a monolingual region hurts its own language much more than the others"


def g2_monolingual_regions(ablation: pd.DataFrame, rule: Rule = G2, unit: str = "seed") -> Verdict:
    """``ablation``: one row per ``unit`` (seed, or window index) x ``owner`` (the language whose monolingual
    region is zeroed) x ``language`` (evaluated) with ``rise``; a unit's others are the mean of its rows in the
    other languages."""
    n = n_seeds(ablation, unit)
    if n < MIN_UNITS:
        return insufficient(rule.claim, G2_STATEMENT, rule, n)
    ok, against, p, p_opposite, parts, fragile = [], [], [], [], [], False
    table = (ablation.assign(own=ablation.language == ablation.owner).groupby([unit, "owner", "own"]).rise.mean()
             .unstack(["owner", "own"]))
    for owner in sorted(table.columns.unique("owner")):
        own, others = table[(owner, True)].dropna(), table[(owner, False)].dropna()
        excess, ratio = own - others, own - G2_MIN_RATIO * others.clip(lower=0.0)
        if unit == "seed":
            e_excess, e_ratio = effect(excess), effect(ratio)
            ok.append(e_excess.significant and e_ratio.significant)
            p.append(max(e_excess.p, e_ratio.p))  # both must hold: an intersection-union test
            p_opposite.append(e_excess.p_reverse)
            fragile |= e_excess.fragile or e_ratio.fragile
            shown = f"{e_excess.text(3)}; {e_ratio.agree}/{e_ratio.n} seeds at least {G2_MIN_RATIO:g}x the others"
        else:
            m_excess = measurement(excess, "windows", _model(rule))
            ok.append(m_excess.beyond(0.0) and measurement(ratio, "windows", _model(rule)).beyond(0.0))
            against.append(m_excess.beyond(0.0, sign=-1))
            shown = (f"median {fixed(m_excess.median, 3)} [{fixed(m_excess.low, 3)}, {fixed(m_excess.high, 3)}] "
                     f"over {n} windows")
        parts.append(f"{_language(owner)} own {fixed(own.median(), 3)} vs others {fixed(others.median(), 3)} "
                     f"(excess {shown})")
    if unit == "seed":
        holds, opposite = holm(p), holm(p_opposite)
        verdict = CONTRADICTED if (opposite <= ALPHA).any() else REPRODUCED if all(ok) else \
            PARTIAL if (holds <= ALPHA).any() else NOT_REPRODUCED
    else:  # a description of one model
        verdict = CONTRADICTED if any(against) else REPRODUCED if all(ok) else PARTIAL if any(ok) else NOT_REPRODUCED
    what = "" if unit == "seed" else f" (medians over {n} windows of one model: a single-model measurement)"
    return Verdict(rule.claim, G2_STATEMENT, verdict, rule.text,
                   f"{sum(ok)}/{len(ok)} languages{what}: " + "; ".join(parts), {"languages_ok": int(sum(ok))},
                   fragile=fragile)


G3_STATEMENT = ("scaling one parameter by {factor:g} on an outlier dimension breaks the model; on a typical "
                "dimension it does not")


def g3_outlier_dimension(scaling: pd.DataFrame, outlier_ratios: pd.Series, factor: float = 4.0, rule: Rule = G3,
                         unit: str = "seed", breaks: float = G3_BREAK, measure: str = "rise") -> Verdict:
    """``scaling``: one row per ``unit`` (seed, or window index) x ``kind`` (``outlier`` or ``typical``) x
    dimension x ``factor`` with ``rise`` (mean loss over languages after scaling one norm-weight entry, minus
    before; G3-redesign: the mean share of the gap, named ``measure``, judged against ``breaks``);
    ``outlier_ratios``: per model (seed), the candidate outlier's magnitude over its norm's median."""
    statement = G3_STATEMENT.format(factor=factor)
    n = n_seeds(scaling, unit)
    if n < MIN_UNITS:
        return insufficient(rule.claim, statement, rule, n)
    largest = float(outlier_ratios.max())
    if largest < OUTLIER_MIN_RATIO:
        return Verdict(rule.claim, statement, UNTESTABLE, rule.text,
                       f"no outlier dimension: the largest norm-weight dimension is {largest:z.1f}x its norm's "
                       f"median (an outlier needs {OUTLIER_MIN_RATIO:g}x)", {"largest_ratio": largest})
    at = scaling[scaling.factor == factor]
    outlier = per_seed(at[at.kind == "outlier"], "rise", unit)
    typical = at[at.kind == "typical"].groupby(unit).rise.median().reindex(outlier.index)
    ratio = outlier - G3_MIN_RATIO * typical.clip(lower=0.0)
    numbers = {"typical": float(typical.median()), "largest_ratio": largest}
    if unit != "seed":  # windows of one model: a description of that model
        m, r = measurement(outlier, "windows", _model(rule)), measurement(ratio, "windows", _model(rule))
        verdict = REPRODUCED if m.beyond(breaks) and r.beyond(0.0) else PARTIAL if r.beyond(0.0) else NOT_REPRODUCED
        return Verdict(rule.claim, statement, verdict, rule.text,
                       f"outlier {measure} {m.text(4)} vs typical median {typical.median():z.4f}",
                       {"outlier": m.median, "ci": m.ci, **numbers})
    sized, dependent = effect(outlier, null=breaks), effect(ratio)
    return judged(rule.claim, statement, rule,
                  f"outlier {measure} {sized.text(4)} vs typical median {typical.median():z.4f} "
                  f"({dependent.agree}/{dependent.n} seeds above {G3_MIN_RATIO:g}x it)",
                  {"outlier": sized.median, "ci": sized.ci, **numbers}, [sized, dependent], [dependent], [])


class RegionTables(Protocol):
    """What G1-G3 read of a regions analysis (``crosslingual.analysis.regions_study.RegionAnalysis`` has it): the
    claims take tables, and import no analysis."""

    ablation: pd.DataFrame
    monolingual: pd.DataFrame
    scaling: pd.DataFrame
    outlier: dict


def regions_real_model(analysis: RegionTables, model: str = real.MODEL) -> list[Verdict]:
    """G1-G3 on a pretrained model's analysis (:func:`crosslingual.analysis.regions_pretrained.analyse_pretrained`), by
    that model's rules (``REAL_RULES``), with the windows of held-out text (column ``sequence``) as the units."""
    rules, unit = _real_rules(model), "sequence"
    return [g1_core_region(analysis.ablation[[unit, "region", "language", "rise"]], rules["G1"], unit),
            g2_monolingual_regions(analysis.monolingual[[unit, "owner", "language", "rise"]], rules["G2"], unit),
            g3_outlier_dimension(analysis.scaling, pd.Series([analysis.outlier["ratio"]]), real.FACTOR,
                                 rules["G3"], unit)]


def regions_real_not_run(reason: str, model: str = real.MODEL) -> list[Verdict]:
    """G1-G3 on a pretrained model, when the book is built without it (not installed, or skipped): untestable,
    with the reason, so that the scoreboard still lists the three rows."""
    statements = {"G1": G1_STATEMENT, "G2": G2_STATEMENT, "G3": G3_STATEMENT.format(factor=real.FACTOR)}
    return [Verdict(rule.claim, statements[c], UNTESTABLE, rule.text, reason) for c, rule in _real_rules(model).items()]


def _real_rules(model: str) -> dict[str, Rule]:
    if model not in REAL_RULES:
        raise ValueError(f"model={model!r}: G1-G3 have rules for {', '.join(REAL_RULES)} only")
    return REAL_RULES[model]


G4_STATEMENT = "freezing the core region while training on a new language reduces forgetting"


def g4_core_freezing(final: pd.DataFrame) -> Verdict:
    """``final``: one row per seed x ``arm`` (``full``, ``core frozen``, ``random frozen``) with ``forgetting``
    (mean loss rise on the old languages after continued training on the new one, at equal sequence counts)
    and ``new_loss`` (the new language's loss then)."""
    n = n_seeds(final)
    if n < MIN_UNITS:
        return insufficient("G4", G4_STATEMENT, G4, n)
    core = per_seed(final[final.arm == "core frozen"], "forgetting")
    diffs = {ctrl: effect(per_seed(final[final.arm == ctrl], "forgetting") - core) for ctrl in ("full",
                                                                                           "random frozen")}
    means = final.groupby("arm")[["forgetting", "new_loss"]].mean()
    return judged("G4", G4_STATEMENT, G4,
                  "; ".join(f"{ctrl} - core frozen {e.text(4)}" for ctrl, e in diffs.items())
                  + "; forgetting / new-language loss: " + ", ".join(
                      f"{arm} {r.forgetting:z.3f} / {r.new_loss:z.3f}" for arm, r in means.iterrows()),
                  {ctrl: e.median for ctrl, e in diffs.items()}, [*diffs.values()], [*diffs.values()])


G4_REDESIGN_STATEMENT = ("freezing the core region while training on a new language reduces forgetting (regions "
                         "over every parameter, 1-20%, at a rate that forgets)")


def g4_redesign(shares: pd.DataFrame) -> Verdict:
    """``shares``: ``regions_study.forgetting_shares`` of every seed, one row per seed x ``arm`` x ``fraction``
    (``full`` at 0) with ``forgetting_share``. The unit is the seed: its two differences averaged over the
    fractions, so that three shares do not make three tests."""
    needed = [("full", 0.0), *((a, f) for a in ("core frozen", "random frozen") for f in G4_REDESIGN_FRACTIONS)]
    arms = set(zip(shares.arm, shares.fraction))
    if arms != set(needed):
        raise ValueError(f"g4_redesign needs the arms full and core / random frozen at {G4_REDESIGN_FRACTIONS}; "
                         f"got {sorted(arms)}")
    # a seed whose model is no better than the unigram on every old language has no share (NaN): left out
    every = shares.pivot(index="seed", columns=["arm", "fraction"], values="forgetting_share")[needed]
    wide = every.dropna()
    n, no_gap = len(wide), len(every) - len(wide)
    if n < MIN_UNITS:
        short = insufficient(G4_REDESIGN.claim, G4_REDESIGN_STATEMENT, G4_REDESIGN, n)
        return replace(short, evidence=short.evidence + (
            f" ({no_gap} seed{'s' if no_gap != 1 else ''} left out: no old language's answer loss below the "
            "unigram's, so forgetting has no gap to be a share of)" if no_gap else ""))
    fractions = sorted(G4_REDESIGN_FRACTIONS)
    core = wide["core frozen"][fractions]
    per_fraction = {"full": core.rsub(wide[("full", 0.0)], axis=0),
                    "random frozen": wide["random frozen"][fractions] - core}
    diffs = {ctrl: effect(d.mean(axis=1)) for ctrl, d in per_fraction.items()}
    by_fraction = {ctrl: {f: effect(d[f]) for f in fractions} for ctrl, d in per_fraction.items()}
    means = shares[shares.seed.isin(wide.index)].groupby(["arm", "fraction"]).forgetting_share.mean()
    return judged(G4_REDESIGN.claim, G4_REDESIGN_STATEMENT, G4_REDESIGN,
                  "; ".join(f"{ctrl} - core frozen, mean over shares {e.text(3)} (per share, median over seeds: "
                            + ", ".join(f"{f:z.0%} {x.median:+z.3f}" for f, x in by_fraction[ctrl].items()) + ")"
                            for ctrl, e in diffs.items())
                  + "; forgetting share: " + ", ".join(f"{arm}{'' if arm == 'full' else f' {f:z.0%}'} {v:z.3f}"
                                                       for (arm, f), v in means.items()),
                  {**{ctrl: {"median": e.median, "ci": e.ci, "p": e.p,
                             "per_fraction": {f: x.median for f, x in by_fraction[ctrl].items()}}
                      for ctrl, e in diffs.items()},
                   "shares": {f"{arm} {f:g}": float(v) for (arm, f), v in means.items()}},
                  [*diffs.values()], [*diffs.values()])


def g4_not_run(reason: str) -> Verdict:
    """G4's first design (one fraction frozen, the continued training of ``forgetting``), not judged in this
    build: superseded by G4-redesign."""
    return first_design_not_run(G4, G4_STATEMENT, reason)


def g4_redesign_not_run(reason: str) -> Verdict:
    """A build that left G4-redesign's continued training out says so on the scoreboard (untestable, with why)."""
    return Verdict(G4_REDESIGN.claim, G4_REDESIGN_STATEMENT, UNTESTABLE, G4_REDESIGN.text, reason)


def _with_gap(table: pd.DataFrame, rule: Rule, statement: str) -> tuple[pd.DataFrame, Verdict | None]:
    """G1/G3-redesign's rows that have a share (a language no better than its unigram has none), with ``rise``
    set to it; or, where fewer than MIN_UNITS seeds have one, the insufficient verdict that says why."""
    kept = table.dropna(subset=["share"]).assign(rise=lambda d: d.share)
    n, no_gap = n_seeds(kept), n_seeds(table) - n_seeds(kept)
    if n >= MIN_UNITS:
        return kept, None
    short = insufficient(rule.claim, statement, rule, n)
    return kept, replace(short, evidence=short.evidence + (
        f" ({no_gap} seed{'s' if no_gap != 1 else ''} left out: no language's answer loss below the unigram's)"
        if no_gap else ""))


def g1_redesign(ablation: pd.DataFrame) -> Verdict:
    """``ablation``: the 1% rows (regions core, bottom, random) of ``regions_study.analyse(score="answer")`` on
    every seed of the study regions_large, with ``share``; G1's test on the shares."""
    kept, short = _with_gap(ablation, G1_REDESIGN, G1_STATEMENT)
    return short or g1_core_region(kept, G1_REDESIGN, min_rise=G1_REDESIGN_MIN_SHARE, measure="share of the gap")


def g3_redesign(scaling: pd.DataFrame, outlier_ratios: pd.Series) -> Verdict:
    """``scaling`` of ``regions_study.analyse(score="answer")`` on every seed of the study regions_large (with
    ``share``) and each seed's outlier ratio; G3's test on the shares."""
    kept, short = _with_gap(scaling, G3_REDESIGN, G3_STATEMENT.format(factor=4.0))
    return short or g3_outlier_dimension(kept, outlier_ratios, 4.0, G3_REDESIGN, breaks=G3_REDESIGN_BREAK,
                                         measure="share of the gap")


def g13_redesign_not_run(reason: str) -> list[Verdict]:
    """A build that left the study regions_large out says so on the scoreboard (untestable, with why)."""
    return [Verdict(rule.claim, statement, UNTESTABLE, rule.text, reason)
            for rule, statement in ((G1_REDESIGN, G1_STATEMENT), (G3_REDESIGN, G3_STATEMENT.format(factor=4.0)))]

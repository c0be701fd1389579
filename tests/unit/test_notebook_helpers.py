"""The helpers every chapter calls instead of repeating its plumbing (``crosslingual.render.notebook``: the set-up
call, the figure context, the marker of a section left out) and the sentences it glues
(``crosslingual.render.sentences``), each pinned on hand-made inputs."""

from __future__ import annotations

import json
import math
import re

import matplotlib
import matplotlib.pyplot as plt
import myst_nb
import pandas as pd
import pytest

from crosslingual.claims.verdicts import INSUFFICIENT, UNTESTABLE, Verdict
from crosslingual.errors import ConfigError
from crosslingual.render import sentences
from crosslingual.render.notebook import figure, section_not_run, set_up_chapter

matplotlib.use("Agg")


def _verdict(claim: str, verdict: str = "reproduced", evidence: str = "the evidence", **numbers) -> Verdict:
    return Verdict(claim, "a statement", verdict, "a rule", evidence, numbers)


@pytest.fixture
def glued(monkeypatch) -> dict:
    """What the helpers glue, by name (``myst_nb.glue`` is looked up when they are called)."""
    out: dict = {}

    def glue(name, value, display=True):
        assert display is False, "a chapter shows a glued value where its text refers to it, not where it is made"
        out[name] = value

    monkeypatch.setattr(myst_nb, "glue", glue)
    return out


# ------------------------------------------------------------------------------ set_up_chapter


def _chapter(**values) -> dict:
    """A kernel namespace after a chapter's parameters cell declared the shared parameters (no ``In``: outside a
    kernel nothing tells what papermill injected, so only the declared names and types are checked)."""
    declared = {"profile": str, "seeds": int, "seed": int, "workers": int}
    return {"__annotations__": declared, "profile": "smoke", "seeds": 5, "seed": 0, "workers": 0, **values}


def test_set_up_returns_none_for_one_worker_per_core_and_the_count_otherwise():
    assert set_up_chapter(_chapter()) is None
    assert set_up_chapter(_chapter(workers=3)) == 3
    assert set_up_chapter(_chapter(seeds=2, workers=256), min_seeds=2) == 256


def test_set_up_checks_only_what_the_chapter_declares_and_sets_the_house_style():
    plt.rcParams["figure.dpi"] = 50
    namespace = {"__annotations__": {"profile": str, "seed": int}, "profile": "default", "seed": 7}
    assert set_up_chapter(namespace) is None  # chapter 1: no seeds, no workers
    assert plt.rcParams["figure.dpi"] == 110


@pytest.mark.parametrize("values, min_seeds, message", [
    ({"profile": "huge"}, 1, "profile='huge' is not allowed: choose one of 'smoke', 'default', 'paper'"),
    ({"seeds": 0}, 1, "seeds=0 is out of range: allowed [1, 100]"),
    ({"seeds": 101}, 1, "seeds=101 is out of range: allowed [1, 100]"),
    ({"seeds": 1}, 2, "seeds=1 is out of range: allowed [2, 100]"),
    ({"seed": -1}, 1, "seed=-1 is out of range: allowed [0, 2147483647]"),
    ({"workers": -1}, 1, "workers=-1 is out of range: allowed [0, 256]"),
    ({"workers": 257}, 1, "workers=257 is out of range: allowed [0, 256]"),
    ({"workers": 2.0}, 1, "workers=2.0 must be an integer, not float"),  # the type check comes first
])
def test_set_up_refuses_a_bad_value_in_one_line_naming_it_and_what_is_allowed(values, min_seeds, message):
    with pytest.raises(ConfigError) as err:
        set_up_chapter(_chapter(**values), min_seeds=min_seeds)
    assert str(err.value) == message


def test_set_up_refuses_an_undeclared_parameter_that_papermill_injected():
    namespace = _chapter(In=["# Parameters\nprofile = 'smoke'\nworker = 2\n"], worker=2)
    with pytest.raises(ConfigError, match=r"^unknown parameter 'worker' \(did you mean 'workers'\?\)"):
        set_up_chapter(namespace)


# ------------------------------------------------------------------------------ figure


def test_a_figure_is_laid_out_glued_under_its_name_and_closed(glued):
    with figure("fig_x", 1, 2, figsize=(4, 2), sharey=True) as (fig, axes):
        assert len(axes) == 2 and tuple(fig.get_size_inches()) == (4, 2)
        axes[0].plot([0, 1], [0, 1])
        before = fig.subplotpars.left
    assert glued == {"fig_x": fig}
    assert not plt.fignum_exists(fig.number)
    assert fig.subplotpars.left != before  # laid out (tight_layout moves the margins) before it was glued


def test_a_figure_whose_body_raises_is_closed_and_not_glued(glued):
    with pytest.raises(ValueError, match="half drawn"):
        with figure("fig_x") as (fig, ax):
            ax.plot([0, 1], [0, 1])
            raise ValueError("half drawn")
    assert glued == {}
    assert not plt.fignum_exists(fig.number)


def test_texts_that_overlap_once_laid_out_are_found_and_the_figure_warns_of_them(glued):
    """Two panels' titles too long for their width run into each other: ``overlapping_texts`` names the pair, and
    ``figure`` warns with it (the smoke book's test finds the warning in the executed chapter); a plain figure has
    none."""
    from crosslingual.render.notebook import OVERLAP_WARNING
    from crosslingual.render.plots import overlapping_texts

    with pytest.warns(UserWarning, match=f"{OVERLAP_WARNING} fig_crowded: 'a title far too long") as caught:
        with figure("fig_crowded", 1, 2, figsize=(6, 2)) as (fig, axes):
            axes[0].set_title("a title far too long for half of a narrow figure", loc="left")
            axes[1].set_title("and the title of its neighbour", loc="left")
    assert len(caught) == 1 and "'and the title of its neighbour'" in str(caught[0].message)
    plain, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot([0, 1], [0, 1], label="a line")
    ax.set(title="a title", xlabel="x", ylabel="y")
    ax.legend()
    plain.tight_layout()
    assert overlapping_texts(plain) == []
    plt.close(plain)


def test_turned_labels_overlap_only_where_their_turned_rectangles_do():
    """Labels turned by 70 degrees under spaced bars do not touch, although their upright boxes cover each other;
    the same labels turned by 20 degrees under a narrow axis run into each other."""
    from crosslingual.render.plots import legible, overlapping_texts

    def bars(width: float, angle: float) -> list:
        fig, ax = plt.subplots(figsize=(width, 3.6))
        ax.bar(range(12), range(12))
        ax.set_xticks(range(12), [f"CATEGORY{i}" for i in range(12)], rotation=angle)
        legible(fig)
        fig.tight_layout()
        found = overlapping_texts(fig)
        plt.close(fig)
        return found

    assert bars(7, 70) == []
    assert ("CATEGORY0", "CATEGORY1") in bars(3, 20)


# ------------------------------------------------------------------------------ section_not_run


@pytest.fixture
def marked(monkeypatch) -> list:
    """The absence markers the helpers display (``IPython.display.display`` is looked up when they are called)."""
    import IPython.display

    out: list = []
    monkeypatch.setattr(IPython.display, "display", lambda data, raw, metadata: out.append((data, metadata)))
    return out


def test_a_section_left_out_marks_its_figure_absent_and_glues_its_reading(glued, marked):
    verdicts = [_verdict("R4-redesign", UNTESTABLE, "not run in this build: -p r4_redesign no")]
    section_not_run(verdicts, "fig_r4_redesign", "r4r_reading", parameter="r4_redesign=yes")
    assert "fig_r4_redesign" not in glued  # no blank figure: the page shows one admonition instead
    [(data, metadata)] = marked
    assert metadata == {"scrapbook": {"name": "crosslingual-absent:fig_r4_redesign",
                                      "mime_prefix": "application/papermill.record/"}}
    assert list(data) == ["application/papermill.record/text/plain"]  # JSON text: a notebook's data are strings
    assert json.loads(data["application/papermill.record/text/plain"]) == {
        "claims": [["R4-redesign", "a statement"]], "reason": "not run in this build: -p r4_redesign no",
        "parameter": "r4_redesign=yes", "first_design": False}
    assert glued["r4r_reading"].data == "*R4-redesign: untestable, not run in this build: -p r4_redesign no.*"


def test_a_section_left_out_may_word_its_reading_itself(glued, marked):
    section_not_run([_verdict("R8", UNTESTABLE, "why")], "fig_hf", "hf_reading", reading="No model.")
    assert glued["hf_reading"].data == "No model."
    assert json.loads(marked[0][0]["application/papermill.record/text/plain"])["reason"] == "No model."


# ------------------------------------------------------------------------------ sentences: what did not run


def test_the_sentences_of_what_did_not_run():
    g1, g3 = _verdict("G1-redesign", UNTESTABLE, "too slow here"), _verdict("G3-redesign", UNTESTABLE, "too slow here")
    assert sentences.not_run([g1, g3]) == "*G1-redesign and G3-redesign: untestable, too slow here.*"
    assert sentences.not_installed("m-1") == "m-1 is not installed (`make models`)"
    assert sentences.skipped("m-1", "m-2") == "this build skipped m-1 (pretrained='m-2')"
    assert sentences.skipped("m-1", "", ("m-1", "m-2")) == \
        "this build skipped m-1 (pretrained=''; `-p pretrained \"m-1 m-2\"` runs it)"
    assert sentences.missing_models(["m-1", "m-2"]) == \
        "m-1, m-2 did not run in this build (installed: `make models`; parameter pretrained)"
    assert sentences.model_not_run("m-1", "why") == "*m-1: not run: why.*"
    assert sentences.comparison_not_run("why") == "*Not run: why.*"


# ------------------------------------------------------------------------------ sentences: chapters 03 to 08


def test_r4_redesign_words_each_sweeps_trends_and_quotes_r4s_threshold():
    verdicts = [_verdict("R4-redesign (language_association)", "partial", unification={"median": -0.614},
                         acc_corrected={"median": 0.025}),
                _verdict("R4-redesign (attribute_association)", "not reproduced", unification={"median": 0.1},
                         acc_corrected={"median": -0.996}),
                _verdict("R4-redesign", "partial")]
    assert sentences.r4_redesign(verdicts, 0.2) == (
        "At p = 0.2, the median seed's trend over the information each knob moves is language association: -0.61 in "
        "unification and +0.03 in chance-corrected accuracy (partial); attribute association: +0.10 in unification "
        "and -1.00 in chance-corrected accuracy (not reproduced) (R4 predicts both below -0.5). "
        "R4-redesign: **partial**.")


@pytest.mark.parametrize("numbers, start", [
    ({"ci": (0.05, 0.4)}, "Here smaller vocabularies made the task harder"),
    ({"ci": (-0.05, 0.4)}, "Here smaller vocabularies did not lower unification"),
    ({}, "Here smaller vocabularies did not lower unification"),  # too few seeds: no interval
])
def test_r5_vocabulary_reads_the_sign_of_the_interval(numbers, start):
    assert sentences.r5_vocabulary(_verdict("R5 (vocabulary)", **numbers)).startswith(start)


def test_r5_redesign_words_the_probe_each_cue_and_the_vocabulary_trend():
    arms = ("language_marker", "own_function_words", "own_word_order", "own_script")
    verdicts = [_verdict(f"R5-redesign ({arm})", median=m) for arm, m in zip(arms, (-0.0214, 0.003, -0.1, 0.0))]
    verdicts += [_verdict("R5-redesign (vocabulary)", median=0.456), _verdict("R5-redesign", "not reproduced")]
    means = pd.DataFrame({"language_probe": [0.5149, 0.996]}, index=["names only", "+ function words"])
    assert sentences.r5_redesign(verdicts, means) == (
        "With only names to tell the languages apart, the probe reads the language from the last layer with "
        "accuracy 0.51; with a function word per language, 1.00. Against the world with names only, final "
        "unification changes in the median seed by -0.021 (+ marker), +0.003 (+ function words), -0.100 (+ word "
        "order), +0.000 (+ script); along the vocabulary sweep the median seed's trend is +0.46. R5-redesign: "
        "**not reproduced**.")


def test_r7_redesign_words_each_cues_gain_and_the_cognates():
    gains = pd.DataFrame({"intervention": ["one script", "cognates", "no language marker", "shared word order",
                                           "shared function words"],
                          "acc_corrected gain": [0.0004, -0.25, 0.012, 0.3, -0.02]})
    assert sentences.r7_redesign([_verdict("R7-redesign", "partial")], gains) == (
        "In the cue-isolated world, removing the only cue changes chance-corrected cross-lingual accuracy by +0.012 "
        "(marker), -0.020 (function words), +0.300 (word order) and +0.000 (script); cognates change it by -0.250. "
        "R7-redesign: **partial**.")


def test_the_sentences_of_chapter_8():
    assert sentences.majority_baseline(4, 4) == (
        "The models beat that baseline in 4 of 4 runs. Their cross-lingual answers are more than a guess from the "
        "answers' frequencies.")
    assert sentences.majority_baseline(1, 4) == (
        "The models beat that baseline in 1 of 4 runs. Where they do not, their cross-lingual answers are no better "
        "than a guess from the answers' frequencies: read the R3 and R4 verdicts with that in mind.")
    assert sentences.r8("tiny", _verdict("R8", "not reproduced", "rho -0.10 over 3 pairs"),
                        pd.Series({"exact": 0.125, "normalised": 0.5})) == (
        "On `tiny` R8 is **not reproduced**: rho -0.10 over 3 pairs. Mean accuracy over languages is 0.50 "
        "(normalised) and 0.12 (exact).")
    assert sentences.r8_missing_model("gemma-3-270m") == "gemma-3-270m is not installed (`make models`)"
    assert sentences.r8_missing_model("") == "no real model was given"
    assert sentences.r8_not_run("no real model was given") == (
        "R8 was not run in this build (no real model was given); nothing is downloaded, ever. `make models` "
        "installs the pretrained weights, and `-p hf_model /path/to/model` points this section at a local model "
        "instead.")


# ------------------------------------------------------------------------------ sentences: chapter 09


def test_h1_redesign_words_the_final_separability_and_the_peak():
    verdict = _verdict("H1-redesign", "not reproduced", separability=0.6149, ci=(0.5, 0.73), margin=0.114,
                       peak=0.81, peak_step=1199.6)
    assert sentences.h1_redesign(verdict, 87, 12000) == (
        "Over the 87 input pieces of the first seed's world, 12,000 steps: at the final checkpoint the scripts "
        "separate with accuracy 0.61 in the median seed (order-statistic interval of the median over seeds 0.50 to "
        "0.73), and the median seed's margin over the shuffled-label probe is 0.11 (H1-redesign: **not "
        "reproduced**). The mean over seeds is highest, 0.81, at step 1200 of the saved checkpoints.")


def test_h2_redesign_words_both_measures_against_chance_and_their_correlations():
    scripts = {"mean": 1.5, "chance": 1.25, "most_unified": 2.0, "rho": 0.4, "ci": (-0.1, 0.9), "p": 0.0312}
    translations = {"mean": 0.1234, "chance": 0.01, "most_unified": 0.5, "rho": -0.2, "ci": (-0.5, 0.1), "p": 0.5}
    verdict = _verdict("H2-redesign", "partial", unification={"min": -0.1, "max": 0.555},
                       neighbor_categories=scripts, translation_precision=translations)
    assert sentences.h2_redesign(verdict, 40) == (
        "Over the 40 names of each world, unification ranges from -0.10 to 0.56. A name's three nearest names span "
        "1.50 scripts on average (shuffled labels: 1.25; in each seed's most unified run 2.00), and 0.123 of the "
        "names have a translation among them (shuffled: 0.010; most unified run 0.500). Per-seed Spearman's rho "
        "with unification, the median seed's: 0.40 (order-statistic interval of the median -0.10 to 0.90, "
        "p = 0.031) for the scripts, -0.20 (-0.50 to 0.10, p = 0.500) for translations (H2-redesign: **partial**).")


def test_the_sentences_of_the_pretrained_models_in_chapter_9():
    summary = {"tokens": 250002, "categories": 12, "separability": 0.98765, "neighbor_categories": 1.6789,
               "neighbor_categories_sd": 0.5}
    assert sentences.h1_real("e5", summary) == (
        "**e5**: over its 250,002 text pieces, 12 script categories have at least 500 tokens; their mean "
        "one-vs-rest accuracy is **0.9877**, and numNeighborCategory@50 over a random 1% of the pieces is 1.68 "
        "(SD 0.50).")
    assert sentences.HF_MODEL_NOT_GIVEN == (
        "*No `hf_model` given: this section was skipped. Run the notebook with `-p hf_model /path/to/model` to "
        "analyse a local model.*")
    assert sentences.hf_geometry("/m", summary) == (
        "`/m`: 250,002 tokens; mean separability 0.9877 over 12 categories; numNeighborCategory@50 1.68 (SD 0.50).")
    means = pd.DataFrame({"precision": [0.25, 0.5], "cross_share": [0.0099, 1.0]}, index=["g", "e"])
    assert sentences.h2_real(["e", "g"], 7, ["hi", "ja"], means, 10, 20) == (
        "The units are the 7 languages where both models hold at least 20 pairs (hi, ja had fewer and are left "
        "out). In them, e finds the translation among the 10 neighbours for 50.0% of the English words, and 100.0% "
        "of a translation's neighbours are in another script (means over languages). In them, g finds the "
        "translation among the 10 neighbours for 25.0% of the English words, and 1.0% of a translation's "
        "neighbours are in another script (means over languages).")
    assert sentences.h2_real(["g"], 1, [], means, 3, 2).startswith(
        "The units are the 1 languages where both models hold at least 2 pairs. In them, g finds")
    cross = {"shared": 123456, "chance": 0.0000812, "categories": 5, "overlap_min": 0.0123, "overlap_max": 0.4567,
             "canonical": 0.99, "canonical_random": 0.5}
    assert sentences.h3_real(cross) == (
        "The two vocabularies share 123,456 pieces, so chance is 0.00008. Over 5 script categories the two models "
        "have in common a share of the neighbours from 0.012 to 0.457. The largest canonical cosine between the two "
        "embeddings is 0.990, against 0.500 for random matrices of the same shapes.")


# ------------------------------------------------------------------------------ sentences: chapter 10


def test_g3_and_g4_read_the_verdicts_and_quote_the_owners_thresholds():
    assert sentences.g3(_verdict("G3", UNTESTABLE)) == (
        "Our small models have no dimension that dwarfs the others (none reaches 10 times its norm's median), so "
        "there is no outlier for a single parameter to act on: G3 is untestable here.")
    assert sentences.g3(_verdict("G3", "not reproduced", outlier=0.1234, typical=0.00012)) == (
        "In the median seed, scaling its entry by 4 raises the loss by 0.123 nats, a typical dimension's by 0.0001: "
        "G3 is **not reproduced**. Our models do develop a dominant dimension, so the effect can be judged on its "
        "own terms.")


def test_r2_redesign_timing_quotes_the_lag_or_says_why_there_is_none():
    """No "nan decades" on the page when no run shows both phases."""
    assert sentences.r2_redesign_timing(_verdict("R2-redesign (timing)", UNTESTABLE, "no run shows both phases")) == (
        "There is no lag to time: no run shows both phases (R2-redesign (timing): **untestable**).")
    assert sentences.r2_redesign_timing(_verdict("R2-redesign (timing)", "not reproduced", lag=0.87,
                                                 ci=(0.81, 0.94))) == (
        "In the median seed, transfer's midpoint lies 0.87 decades of steps after unification's (order-statistic "
        "interval of the median over seeds 0.81 to 0.94; R2 calls the two together within 0.25 decades).")
    assert sentences.g4(_verdict("G4", full=0.01)) == (
        "Freezing the core *reduced* forgetting relative to full training.")
    for numbers in ({"full": 0.0}, {"full": -0.2}, {}):
        assert sentences.g4(_verdict("G4", **numbers)).startswith("Freezing the core did not reduce forgetting")
    assert sentences.g4_learning(0.0499) == (
        "The new language ends with the same loss in all three arms (spread 0.050 nats, middle panel): with a small "
        "region fixed, the rest of the model and the embeddings carry both the learning and the forgetting.")
    assert sentences.g4_learning(0.05) == (  # SAME_LOSS_SPREAD is 0.05: at it, the losses differ
        "The arms end with different losses on the new language (spread 0.050 nats, middle panel), so freezing also "
        "changed how well the new language was learnt.")


def test_g4_redesign_words_both_differences_or_says_why_there_are_none():
    verdict = _verdict("G4-redesign", "partial", "full > core", shares={"full 0": 0.3333},
                       full={"median": 0.1, "ci": (0.01, 0.2), "p": 0.04},
                       **{"random frozen": {"median": -0.02, "ci": (-0.1, 0.05), "p": 0.5}})
    assert sentences.g4_redesign(verdict) == (
        "With nothing frozen the old languages lose 0.33 of the gap. Freezing the core instead lowers that by 0.100 "
        "on average over the three shares in the median seed (order-statistic interval of the median 0.010 to "
        "0.200, p = 0.040); against a random region of the same size the difference is -0.020 (-0.100 to 0.050, "
        "p = 0.500). G4-redesign: **partial** (full > core).")
    few = _verdict("G4-redesign", INSUFFICIENT, "1 independent seed; a verdict needs at least 2", n=1)
    assert sentences.g4_redesign(few) == (
        "*G4-redesign: insufficient data, 1 independent seed; a verdict needs at least 2.*")


def test_g13_redesign_words_the_models_the_massive_activations_and_both_verdicts():
    numbers = pd.DataFrame({"min": [1234.5, 150.2, 0.0, 0.9, 0.1], "max": [5678.9, 990.7, 1.0, 1.0, 0.3],
                            "mean": [3000.0, 500.0, 0.6, 0.95, 0.2]},
                           index=["top", "ratio", "same_dimension", "acc_in", "acc_xling"])
    assert sentences.g13_redesign(_verdict("G1-redesign", evidence="a"), _verdict("G3-redesign", UNTESTABLE, "b"),
                                  numbers, [0, 3]) == (
        "The models know their facts: in-language accuracy 0.950, cross-lingual 0.200. The largest residual entry "
        "of a seed is 1,234 to 5,679 in magnitude, 150 to 991 times the median, at token slot 0, 3 of a packed "
        "fact (0 is its BOS), and in 60% of the seeds on the dimension G3 finds as its outlier. G1-redesign: "
        "**reproduced** (a). G3-redesign: **untestable** (b).")


def test_g_real_words_the_core_the_controls_and_the_outlier():
    numbers = {"core_min": 1.234, "core_max": 5.678, "control_max": 0.0123, "outlier_dimension": 123,
               "outlier_param": "layers.3.norm.weight", "outlier_ratio": 45.67, "outlier_gain": 0.0456,
               "outlier_rise": 2.345, "typical_rise": math.pi / 1000}
    assert sentences.g_real("m", numbers, 11) == (
        "**m**: zeroing the core 1% raises the loss by 1.23 to 5.68 nats per token across the 11 languages, while "
        "no control raises any language's loss by more than 0.012. The largest norm input is dimension 123 of "
        "`layers.3.norm.weight`, 45.7 times its norm's median, where the norm's gain is 0.046; scaling that gain "
        "by 4 raises the loss by 2.345 nats, a typical dimension's by 0.0031.")


# ------------------------------------------------------------------------------ sentences: the first designs


def _superseded(claim: str, verdict: str, by: str, **numbers) -> Verdict:
    from dataclasses import replace

    return replace(_verdict(claim, verdict, **numbers), superseded_by=by)


def test_chapter_5_s_first_design_reading_quotes_each_part_and_names_its_redesign():
    parts = [_verdict("R5 (language_marker)", "not reproduced", median=-0.0123),
             _verdict("R5 (shared_function_words)", "contradicted", median=0.2),
             _verdict("R5 (entity_overlap)", "reproduced", median=0.81),
             _verdict("R5 (vocabulary)", "not reproduced", median=0.5, ci=[0.1, 0.9]),
             _superseded("R5", "not reproduced", "R5-redesign")]
    means = pd.DataFrame({"acc_xling": [0.25, 0.75, 0.5, 0.5], "language_probe": [0.5, 0.5, 0.99, 0.6]},
                         index=["BPE 96, one script", "word level", "language marker", "baseline"])
    text = sentences.ch05_first_design(parts, means, 0.3456)
    assert text.startswith("On our worlds R5 is **not reproduced** in this design (superseded by R5-redesign).")
    assert "a language marker changes final unification by -0.012 (**not reproduced**)" in text
    assert "shared function words by +0.200 (**contradicted**)" in text and "rho is 0.81 (**reproduced**" in text
    assert "from 0.25 with 96 BPE pieces to 0.75 with word-level tokens" in text
    assert "smaller vocabularies made the task harder" in text  # the vocabulary trend's interval lies above 0
    assert "accuracy 0.99 with a marker and 0.60 without" in text and text.endswith("is 0.35.")


def test_chapter_6_s_first_design_reading_quotes_each_intervention_and_the_largest_gain():
    gains = pd.DataFrame({"intervention": ["code-switching", "balanced attributes", "shared function words",
                                           "no language marker"],
                          "acc_corrected gain": [0.3, 0.01, -0.02, 0.0],
                          "acc_corrected CI low": [0.2, -0.1, -0.1, -0.1],
                          "acc_corrected CI high": [0.4, 0.1, 0.1, 0.1]})
    text = sentences.ch06_first_design([_superseded("R7", "partial", "R7-redesign")], gains,
                                       pd.Series({"code-switching": 0.876}))
    assert text.startswith("On our worlds R7 is **partial** in this design (superseded by R7-redesign).")
    assert "by +0.010 (balancing attributes), -0.020 (shared function words) and +0.000 (removing" in text
    assert "**code-switching**: +0.300 (order-statistic interval of the median +0.200 to +0.400)" in text
    assert text.endswith("Code-switching's in-language accuracy is 0.88.")


def test_chapter_9_s_first_design_readings_quote_h1_s_parts_and_h2_s_rhos():
    h1 = [_verdict("H1 (word)", "not reproduced", separability=0.51),
          _verdict("H1 (BPE, two scripts)", "reproduced", separability=0.97),
          _superseded("H1", "partial", "H1-redesign")]
    assert sentences.ch09_first_h1(h1) == (
        "With word-level tokens the median seed's one-vs-rest accuracy is 0.51; with BPE in two scripts it is 0.97. "
        "Overall, H1 is **partial** in this design (superseded by H1-redesign).")
    h2 = _superseded("H2", "not reproduced", "H2-redesign", translation_precision={"rho": 0.1},
                     cross_script_share={"rho": -0.25})
    text = sentences.ch09_first_h2(h2, 1.96)
    assert text.startswith("In every run numNeighborCategory's mean is at least 1.96 of a possible 2")
    assert text.endswith("translation precision is 0.10 and between unification and the cross-script share -0.25: "
                         "H2 is **not reproduced** in this design (superseded by H2-redesign).")


def test_chapter_10_s_first_design_reading_quotes_each_arm_s_forgetting():
    g4 = _superseded("G4", "not reproduced", "G4-redesign", full=-0.01)
    means = pd.DataFrame({"forgetting": [0.5, 0.52, 0.49]}, index=["full", "core frozen", "random frozen"])
    text = sentences.ch10_first_g4(g4, means, 0.001)
    assert text.startswith("After continued training, the old languages' answer loss has risen on average over "
                           "seeds by 0.500 nats with everything trained, 0.520 with the core frozen and 0.490 with a "
                           "random region frozen. Freezing the core did not reduce forgetting")
    assert "G4 is **not reproduced** in this design (superseded by G4-redesign)." in text
    assert "The new language ends with the same loss in all three arms" in text


def test_a_chapter_shows_its_verdicts_in_three_columns_with_the_rules_folded():
    """Claim, verdict (with its role and robustness) and evidence fit the text column; the statements and rules,
    long sentences, are under one toggle; every text is escaped."""
    from crosslingual.render.notebook import verdicts_html

    verdicts = [Verdict("R4 (p)", "More information <less> unification.", "reproduced", "rho < 0 & p < 0.05",
                        "median rho -0.80 [-0.90, -0.50] over 5 seeds", fragile=True),
                Verdict("R5 (overlap)", "Shared names unify", "reproduced", "the rule", "ev", role="positive control")]
    html = verdicts_html(verdicts)
    table, folded = html.split("<details>")
    assert table.count("<th>") == 3 and all(f"<th>{name}</th>" in table for name in ("claim", "verdict", "evidence"))
    assert "<td>reproduced, fragile</td>" in table and "<td>reproduced (positive control)</td>" in table
    assert "<em>Fragile</em>: one seed crossing its null would change the verdict" in table
    assert 'text-align: right' not in table
    assert "median rho -0.80 [-0.90, -0.50] over 5 seeds" in table and "the rule" not in table
    assert ("<dt>R4 (p)</dt><dd>More information &lt;less&gt; unification. <em>Rule:</em> rho &lt; 0 &amp; p &lt; "
            "0.05</dd>") in folded


def test_a_data_table_reads_as_the_book_prints_it(monkeypatch):
    """Row labels become columns, names are words, counts are integers, no negative zero, a dash for a gap."""
    import IPython.display

    from crosslingual.render.notebook import MISSING, show_table, tidy_table

    table = pd.DataFrame({"sweep": ["a", "a", "b"], "level": [0.0, 0.5, 1.0], "information": [-1e-17, 0.2, 1 / 3],
                          "n_runs": [178.0, 26.0, float("nan")], "acc_xling": [0.5, float("nan"), 0.25]}
                         ).set_index(["sweep", "level"])
    tidy = tidy_table(table)
    assert list(tidy.columns) == ["sweep", "level", "information", "n runs", "cross-lingual accuracy"]
    assert str(tidy["n runs"].dtype) == "Int64" and tidy["n runs"].tolist()[:2] == [178, 26]
    assert math.copysign(1, tidy.information[0]) == 1 and tidy.information[2] == 0.333
    assert str(tidy_table(pd.DataFrame({"acc": [1.0, 1.0, 0.0]})).acc.dtype) == "float64"  # a share, not a count
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda html: shown.append(html.data))
    show_table(table)
    cells = re.findall(r"<td>(.*?)</td>", shown[0])
    assert cells[:5] == ["a", "0.000", "0.000", "178", "0.500"] and cells[9] == MISSING and cells[13] == MISSING
    assert "nan" not in shown[0].lower() and "-0.000" not in shown[0] and "<th></th>" not in shown[0]
    assert list(tidy_table(pd.Series({"x": 1.5}, name="fact set")).columns) == ["", "fact set"]
    labels = tidy_table(pd.DataFrame({"sweep": ["attribute_association", None], "n": [0.5, 0.25]}))
    assert labels.sweep[0] == "attribute association" and labels.n.tolist() == [0.5, 0.25]  # a label that wraps


# ------------------------------------------------------------------------------ the house style: legible fonts


def test_a_wide_figure_s_fonts_grow_with_its_width_and_none_is_below_the_floor():
    from crosslingual.render.plots import BASE_WIDTH, MIN_POINTS, legible

    wide, ax = plt.subplots(figsize=(2 * BASE_WIDTH, 3))
    small = ax.set_title("a title", fontsize=6)
    large = ax.set_xlabel("an axis label", fontsize=12)
    ax.tick_params(labelsize=5)
    legible(wide)
    assert small.get_fontsize() == 2 * MIN_POINTS and large.get_fontsize() == 24
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])  # ticks made after the call take the size too
    wide.canvas.draw()
    assert {t.get_fontsize() for t in ax.get_xticklabels() + ax.get_yticklabels()} == {2 * MIN_POINTS}
    narrow, ax = plt.subplots(figsize=(BASE_WIDTH / 2, 3))
    kept = ax.set_ylabel("a label", fontsize=11)
    legible(narrow)
    assert kept.get_fontsize() == 11  # a figure at most the column's width is shown at its size
    plt.close(wide)
    plt.close(narrow)


def test_the_canonical_angle_note_gives_the_value_or_why_there_is_none():
    assert sentences.canonical_angle(None, 60, 64) == ("with 60 input pieces in 64 dimensions there are too few "
                                                       "pieces per dimension, so it is not computed")
    assert sentences.canonical_angle(0.9312, 4000, 64) == ("over 4000 input pieces in 64 dimensions the largest "
                                                           "cosine is 0.93")


def test_a_share_axis_starts_just_below_the_lowest_value_and_shows_chance_where_it_reaches():
    from crosslingual.render.plots import share_axis

    fig, ax = plt.subplots()
    share_axis(ax, [0.91, 0.97, 0.88], chance=0.5)
    assert ax.get_ylim() == pytest.approx((0.85, 1.0)) and not ax.lines  # chance is off the axis
    share_axis(ax, [0.45, 0.9], chance=0.5)
    assert ax.get_ylim() == pytest.approx((0.4, 1.0)) and len(ax.lines) == 1
    share_axis(ax, [0.01, 0.9])
    assert ax.get_ylim()[0] == 0.0
    plt.close(fig)


def test_ordered_levels_take_colours_that_differ_in_lightness_from_end_to_end():
    from crosslingual.render import plots

    def luminance(colours):
        return [0.2126 * r + 0.7152 * g + 0.0722 * b for r, g, b, *_ in colours]

    three = luminance(plots.ordered(3))  # a 2-layer model's layers 0, 1, 2
    assert three[1] - three[0] > 0.3 and three[2] - three[1] > 0.3  # seaborn's own sampling: 0.15 and 0.2 apart
    five = luminance(plots.ordered(5))
    assert all(b - a > 0.12 for a, b in zip(five, five[1:]))
    assert plots.ordered(1) == [plt.get_cmap(plots.SEQUENTIAL)(0.0)]


def test_a_point_apart_from_its_line_is_labelled_where_it_is_not_in_a_legend():
    from crosslingual.render import plots

    fig, ax = plt.subplots()
    data = pd.DataFrame({"level": [178.0] * 3, "unification": [0.2, 0.5, 0.4]})
    plots.direct_label(ax, data, "level", "unification", "word level")
    (label,) = ax.texts
    assert label.get_text() == "word level" and label.xy == (178.0, 0.4)  # at the median seed
    assert ax.get_legend() is None
    plt.close(fig)


def test_a_table_too_wide_for_whole_words_is_laid_out_at_the_column_s_width():
    from crosslingual.render.notebook import too_wide_for_words

    narrow = pd.DataFrame({"claim": ["R1"], "verdict": ["reproduced"], "seeds": ["5"]})
    assert not too_wide_for_words(narrow)
    # chapter 06's eleven-column gains table ran 911 px wide in a 686 px column with whole words
    gains = pd.DataFrame({name: ["0.123"] for name in [
        "intervention", "control", "acc corrected gain", "acc corrected CI low", "acc corrected CI high",
        "acc corrected p", "unification gain", "unification CI low", "unification CI high", "unification p", "seeds"]})
    gains["intervention"] = ["shared function words"]
    assert too_wide_for_words(gains)
    # hyphens break a word: "cross-lingual" counts as its longest piece
    assert not too_wide_for_words(pd.DataFrame({"cross-lingual-cross-lingual-cross-lingual": ["1"]}))

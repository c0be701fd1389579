"""Every registered rule, calibrated on null tables (``science.md`` 5): fed tables with no effect (noise with seed
effects and skewed noise, a shared training-time trend, linear or saturating, the opposite sign, no effect in any
part) it passes (reproduced or partial) in at most 5% of them, within Monte-Carlo error; and it passes its positive
scenario. The simulators are :mod:`crosslingual.claims.nulls`; a rule registered without one fails here.

The bound: with R tables per scenario a rule whose true pass rate is 5% exceeds 0.05 + 2.33 sqrt(0.05 x 0.95 / R)
in 1% of suites; R is 60 for most rules (bound 0.116), 30 or 20 for the checks that fit curves or read windows of
text (bound 0.143 or 0.164), which the suite's time allows. The pass rates measured with three times as many
tables are in ``book/method.md``. The rates are computed once for the module, on two processes (the suite
otherwise uses one of the machine's two cores here).
"""

import hashlib
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from crosslingual.claims import RULES
from crosslingual.claims.nulls import CALIBRATIONS, POSITIVE, pass_rate
from crosslingual.claims.verdicts import registry


def _rates(claim: str) -> dict[str, float]:
    return {scenario: pass_rate(claim, scenario) for scenario in (*CALIBRATIONS[claim].nulls, POSITIVE)}


@pytest.fixture(scope="module")
def rates() -> dict[str, dict[str, float]]:
    claims = sorted(set(RULES) & set(CALIBRATIONS), key=lambda c: -CALIBRATIONS[c].replicates)
    with ProcessPoolExecutor(max_workers=2) as pool:
        return dict(zip(claims, pool.map(_rates, claims)))


def test_every_registered_rule_has_a_calibration():
    assert set(RULES) - set(CALIBRATIONS) == set(), "a registered rule needs its null calibration"
    assert set(CALIBRATIONS) - set(RULES) == set(), "a calibration for a rule that is not registered"


@pytest.mark.parametrize("claim", sorted(RULES))
def test_rule_passes_no_null_and_its_positive_scenario(claim, rates):
    calibration = CALIBRATIONS[claim]
    bound = 0.05 + 2.33 * np.sqrt(0.05 * 0.95 / calibration.replicates)
    nulls = {scenario: rate for scenario, rate in rates[claim].items() if scenario != POSITIVE}
    assert max(nulls.values()) <= bound, f"{claim} passes null tables: {nulls} (bound {bound:.3f})"
    assert rates[claim][POSITIVE] >= 0.9, f"{claim} fails its positive scenario"


def test_every_rule_text_is_registered():
    """A rule's text is pinned by its digest in registered_rules.json, so that changing it (directly, or through a
    constant it quotes) changes that file in the same commit: the scoreboard dates each rule by the last commit of
    its registration, and a change after a look at data cannot pass unnoticed."""
    digests = {claim: hashlib.sha256(rule.text.encode()).hexdigest()[:16] for claim, rule in RULES.items()}
    assert {claim: entry["sha256"] for claim, entry in registry().items()} == digests

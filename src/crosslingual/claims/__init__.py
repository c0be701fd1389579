"""The papers' claims as automated checks, one module per paper, each rule with its thresholds and rationale
fixed in code before the runs it judges (:mod:`.rosetta`, :mod:`.hyperpolyglot`, :mod:`.linguistic_regions`);
the designs those rules quote in :mod:`.designs`; the verdict kinds and how parts combine in :mod:`.verdicts`;
the statistics in :mod:`.stats` and the learning-phase criterion in :mod:`.phases`.

The package's face holds what every chapter shares (the verdict vocabulary, and the rules of all three papers
by claim); a paper's checks are imported from its module (``from crosslingual.claims import rosetta``), so that a
new claim is added in its paper's module alone.
"""

from crosslingual.claims import hyperpolyglot, linguistic_regions, rosetta
from crosslingual.claims.verdicts import (
                                          CLAIMS_LOG,
                                          INSUFFICIENT,
                                          KINDS,
                                          NOT_REPRODUCED,
                                          PARTIAL,
                                          POSITIVE_CONTROL,
                                          REPRODUCED,
                                          UNTESTABLE,
                                          Rule,
                                          Verdict,
                                          overall,
                                          record,
                                          verdict_table,
)

PAPERS = {"Beyond the Rosetta Stone": rosetta, "Hyperpolyglot LLMs": hyperpolyglot,
          "Unveiling Linguistic Regions": linguistic_regions}
RULES = {claim: rule for module in PAPERS.values() for claim, rule in module.RULES.items()}
PAPER_FIGURES = {claim: text for module in PAPERS.values() for claim, text in module.PAPER_FIGURES.items()}

__all__ = ["CLAIMS_LOG", "INSUFFICIENT", "KINDS", "NOT_REPRODUCED", "PAPERS", "PAPER_FIGURES", "PARTIAL",
           "POSITIVE_CONTROL", "REPRODUCED", "RULES", "UNTESTABLE", "Rule", "Verdict", "overall", "record",
           "verdict_table"]

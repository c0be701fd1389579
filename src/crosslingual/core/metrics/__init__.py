"""Metrics of transfer and representation: accuracy, unification, retrieval, checkerboard, language probe."""

from crosslingual.core.metrics.accuracy import answer_accuracy, answer_loss
from crosslingual.core.metrics.probe import language_probe_accuracy
from crosslingual.core.metrics.unification import checkerboard, retrieval_at_1, unification_score

__all__ = ["answer_accuracy", "answer_loss", "checkerboard", "language_probe_accuracy",
           "retrieval_at_1", "unification_score"]

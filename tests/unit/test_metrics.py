import math

import pytest
import torch

from crosslingual.core.metrics import (
    answer_accuracy,
    answer_loss,
    checkerboard,
    language_probe_accuracy,
    retrieval_at_1,
    unification_score,
)

# Two languages x two facts of one relation, in 2-D (worked by hand in the docstrings below).
H = torch.tensor([[[1.0, 0.0], [1.0, 1.0]],   # language 0: fact 0, fact 1
                  [[1.0, 0.0], [0.0, 1.0]]])  # language 1
REL = torch.tensor([0, 0])


def test_unification_raw_hand_computed():
    """same = (cos(e1, e1) + cos(e1+e2, e2)) / 2 = (1 + 1/sqrt2) / 2;
    baseline = (cos(e1, e1+e2) [lang 0] + cos(e1, e2) [lang 1]) / 2 = (1/sqrt2 + 0) / 2; U = 1/2."""
    assert unification_score(H, REL, center=False).item() == pytest.approx(0.5, abs=1e-6)


def test_unification_centred_hand_computed():
    """Centre by the mean row (3/4, 1/2): lang 0 rows (1/4, -1/2), (1/4, 1/2); lang 1 rows (1/4, -1/2),
    (-3/4, 1/2). same = (1 + 0.0625 / (sqrt(5)/4 * sqrt(13)/4)) / 2; baseline = (-0.6 + cos_1) / 2 with
    cos_1 = -0.4375 / (sqrt(5)/4 * sqrt(13)/4)."""
    norm = math.sqrt(5) / 4 * math.sqrt(13) / 4
    same = (1 + 0.0625 / norm) / 2
    base = (-0.6 + -0.4375 / norm) / 2
    assert unification_score(H, REL).item() == pytest.approx(same - base, abs=1e-6)


def test_unification_baselines_differ_only_in_the_negatives():
    # fact 2 has another relation: ignored by the same-relation baseline, used by the any-fact one
    h = torch.cat([H, torch.tensor([[[0.0, -1.0]], [[0.0, -1.0]]])], dim=1)
    rel = torch.tensor([0, 0, 1])
    same_rel = unification_score(h, rel, center=False)
    # only facts 0 and 1 have same-relation negatives -> identical to the two-fact case
    assert same_rel.item() == pytest.approx(0.5, abs=1e-6)
    anyf = unification_score(h, rel, center=False, baseline="any")
    # same over all 3 facts: (1 + 1/sqrt2 + 1) / 3; baseline: mean over languages and facts of the mean cosine
    s2 = 1 / math.sqrt(2)
    lang0 = [(s2 + 0) / 2, (s2 - s2) / 2, (0 - s2) / 2]
    lang1 = [(0 + 0) / 2, (0 - 1) / 2, (0 - 1) / 2]
    expected = (2 + s2) / 3 - (sum(lang0) / 3 + sum(lang1) / 3) / 2
    assert anyf.item() == pytest.approx(expected, abs=1e-6)


def test_identical_languages_unify_and_batch_dims_broadcast():
    h = torch.randn(40, 16, generator=torch.Generator().manual_seed(0))
    same = torch.stack([h, h], dim=0)  # [K=2, F=40, d]
    rel = torch.arange(40) % 4
    u = unification_score(torch.stack([same, same]), rel)
    assert u.shape == (2,)
    assert (u > 0.9).all()
    with pytest.raises(ValueError, match="baseline"):
        unification_score(same, rel, baseline="other")


def test_retrieval_hand_computed():
    # language 1 swaps the two facts: every nearest neighbour is the wrong fact
    swapped = torch.stack([H[0], H[0].flip(0)])
    assert retrieval_at_1(swapped, center=False).item() == 0.0
    assert retrieval_at_1(torch.stack([H[0], H[0]]), center=False).item() == 1.0
    # L0 -> L1: (1,0) is nearest to (1,0) = fact 1 (wrong); (0,1) is nearest to (1,.1) = fact 0 (wrong).
    # L1 -> L0: (1,.1) is nearest to (1,0) = fact 0 (right); (1,0) is nearest to (1,0) = fact 0 (wrong).
    h = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.1], [1.0, 0.0]]])
    assert retrieval_at_1(h, center=False).item() == pytest.approx(0.25)


def test_checkerboard_is_fact_major_with_languages_interleaved():
    c = checkerboard(H, center=False)
    assert c.shape == (4, 4)
    # row 2f + k is fact f in language k
    assert c[0, 1].item() == pytest.approx(1.0)  # fact 0 in L0 vs fact 0 in L1
    assert c[2, 3].item() == pytest.approx(1 / math.sqrt(2), abs=1e-6)  # fact 1: (1,1) vs (0,1)
    assert c[1, 3].item() == pytest.approx(0.0, abs=1e-6)  # fact 0 L1 (1,0) vs fact 1 L1 (0,1)
    torch.testing.assert_close(c, c.T)


def test_language_probe_separable_and_random():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 100, 8, generator=g)
    separable = x.clone()
    separable[1, :, 0] += 20.0
    assert language_probe_accuracy(separable).item() == 1.0
    acc = language_probe_accuracy(x).item()
    assert 0.3 < acc < 0.7
    stacked = language_probe_accuracy(torch.stack([separable, x]))
    assert stacked.shape == (2,) and stacked[0].item() == 1.0
    with pytest.raises(ValueError, match="n_folds"):
        language_probe_accuracy(x[:, :3])


def test_accuracy_and_loss_hand_computed():
    tokens = torch.tensor([[0, 5, 2], [0, 5, 1]])
    logits = torch.zeros(2, 4)  # the logits that predict each sequence's last token
    logits[0, 2] = 10.0  # predicts 2: correct
    logits[1, 3] = 10.0  # predicts 3, the answer is 1: wrong
    assert answer_accuracy(logits, tokens).tolist() == [True, False]
    expected = (-torch.log_softmax(logits[0], -1)[2] - torch.log_softmax(logits[1], -1)[1]) / 2
    assert answer_loss(logits, tokens).item() == pytest.approx(expected.item())

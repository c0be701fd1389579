"""How informative the language is about facts, entities and values: exact and empirical, in bits.

*Exact* values are population quantities of the generating distribution (the limit of a world with infinitely
many entities and relations per entity): a training sequence is drawn uniformly from the corpus, so parallel
facts are weighted by their copies. With parallel fraction p, association b, K languages of which the first
K_t are trained (the rest held out), and balanced homes, a fact of home h yields in expectation

    w(h, l) = (p + (1 - p) q(l | h)) [l < K_t]   sequences in language l,
    q(h | h) = b,  q(l != h | h) = (1 - b) / (K - 1)

so P(h, l) = w(h, l) / sum(w), and I(fact; L) = H(L) - P(parallel sequence) log K_t, since a non-parallel fact
occurs in exactly one language (or, assigned to a held-out language, in none).
*Empirical* values are plug-in estimates from the realised training corpus; for entities and values they are
biased upwards in small worlds (finitely many facts per entity), which the dataset table shows side by side.
"""

from __future__ import annotations

import numpy as np

from crosslingual.core.config import WorldConfig


def entropy_bits(p: np.ndarray) -> float:
    p = np.asarray(p, dtype=float).ravel()
    p = p[p > 0] / p.sum()
    return float(-(p * np.log2(p)).sum())


def mutual_information_bits(joint: np.ndarray) -> float:
    """I(X; Y) of a 2-D table of joint counts or probabilities."""
    joint = np.asarray(joint, dtype=float)
    return entropy_bits(joint.sum(1)) + entropy_bits(joint.sum(0)) - entropy_bits(joint)


def _parallel_share(cfg: WorldConfig) -> float:
    """The share of facts written in every language (none in the repeat control, whose repeated facts keep
    their one language and so leave every language distribution as at p = 0)."""
    return cfg.parallel_fraction if cfg.parallel_mode == "parallel" else 0.0


def _sequence_weights(cfg: WorldConfig) -> np.ndarray:
    """Expected training sequences per fact of home h in language l, ``[home, language]``: ``p + (1 - p) q(l | h)``
    in each training language, none in a held-out one (its facts are not in the corpus). Normalised, the joint
    P(home, language) of a sequence drawn uniformly from the corpus."""
    K, b, p = cfg.n_languages, cfg.language_association, _parallel_share(cfg)
    q = np.full((K, K), (1 - b) / (K - 1))
    np.fill_diagonal(q, b)
    trained = np.arange(K) < K - cfg.held_out_languages
    return (p + (1 - p) * q) * trained[None, :]


def _value_given_home(cfg: WorldConfig) -> np.ndarray:
    K, V, lam = cfg.n_languages, cfg.n_values, cfg.attribute_association
    group = np.arange(V) % K
    in_group = group[None, :] == np.arange(K)[:, None]  # [home, value]
    return lam * in_group / in_group.sum(1, keepdims=True) + (1 - lam) / V


def exact_information(cfg: WorldConfig) -> dict[str, float]:
    """Population I(fact; L), I(entity; L), I(value; L | relation) in bits, over the training corpus (held-out
    languages excluded)."""
    K, p = cfg.n_languages, _parallel_share(cfg)
    k_train = K - cfg.held_out_languages
    weights = _sequence_weights(cfg)
    joint = weights / weights.sum()  # [home, language]
    home = joint.sum(1)
    h_l = entropy_bits(joint.sum(0))
    share_parallel_seqs = K * p * k_train / weights.sum()  # a parallel fact's sequences, k_train per fact
    joint_lv = np.einsum("hl,hv->lv", joint, _value_given_home(cfg))
    return {
        "I(fact;L)": h_l - share_parallel_seqs * np.log2(k_train),
        "I(entity;L)": h_l - float(sum(home[h] * entropy_bits(joint[h]) for h in range(K) if home[h] > 0)),
        "I(value;L)": mutual_information_bits(joint_lv),
    }


def empirical_information(world) -> dict[str, float]:
    """Plug-in estimates of the same quantities from the world's training corpus."""
    fact, lang = world.train_pairs
    cfg = world.cfg
    K, R, V = cfg.n_languages, cfg.n_relations, cfg.n_values
    ent = fact // R
    value = (fact % R) * V + world.values.reshape(-1)[fact]

    def table(x: np.ndarray, n: int) -> np.ndarray:
        return np.bincount(x * K + lang, minlength=n * K).reshape(n, K)

    return {
        "I(fact;L)": mutual_information_bits(table(fact, world.n_facts)),
        "I(entity;L)": mutual_information_bits(table(ent, cfg.n_entities)),
        "I(value;L)": mutual_information_bits(table(value, R * V)),
    }


def answer_prior(cfg: WorldConfig) -> float:
    """The accuracy of the best guess of a fact's value from its relation and its entity's home language alone
    (which a model can learn without knowing the fact): max_v P(v | home), averaged over homes. 1 / V without
    attribute association; with lambda = 1 and K = 2, twice that (the value comes from the home's half of the
    values). Chance-corrected accuracy is measured against it."""
    K = cfg.n_languages
    return float(np.full(K, 1.0 / K) @ _value_given_home(cfg).max(1))

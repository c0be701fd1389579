"""How informative the language is about facts, entities and values: exact and empirical, in bits.

*Exact* values are population quantities of the generating distribution (the limit of a world with infinitely
many entities and relations per entity): a training sequence is drawn uniformly from the corpus, so parallel
facts are weighted by their K copies. With parallel fraction p, association b, K languages and balanced homes

    P(l | home h) = (p + (1 - p) q(l | h)) / (pK + 1 - p),   q(h | h) = b,  q(l != h | h) = (1 - b) / (K - 1)

and I(fact; L) = H(L) - P(parallel sequence) log K, since a non-parallel fact occurs in exactly one language.
*Empirical* values are plug-in estimates from the realised training corpus; for entities and values they are
biased upwards in small worlds (finitely many facts per entity), which the dataset table shows side by side.
"""

from __future__ import annotations

import numpy as np

from crosslingual.config import WorldConfig


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


def _language_given_home(cfg: WorldConfig) -> np.ndarray:
    K, b, p = cfg.n_languages, cfg.language_association, _parallel_share(cfg)
    q = np.full((K, K), (1 - b) / (K - 1))
    np.fill_diagonal(q, b)
    return (p + (1 - p) * q) / (p * K + 1 - p)  # [home, language]


def _value_given_home(cfg: WorldConfig) -> np.ndarray:
    K, V, lam = cfg.n_languages, cfg.n_values, cfg.attribute_association
    group = np.arange(V) % K
    in_group = group[None, :] == np.arange(K)[:, None]  # [home, value]
    return lam * in_group / in_group.sum(1, keepdims=True) + (1 - lam) / V


def exact_information(cfg: WorldConfig) -> dict[str, float]:
    """Population I(fact; L), I(entity; L), I(value; L | relation) in bits."""
    K, p = cfg.n_languages, _parallel_share(cfg)
    home = np.full(K, 1.0 / K)
    l_given_h = _language_given_home(cfg)
    h_l = entropy_bits(home @ l_given_h)
    share_parallel_seqs = p * K / (p * K + 1 - p)
    joint_lv = np.einsum("h,hl,hv->lv", home, l_given_h, _value_given_home(cfg))
    return {
        "I(fact;L)": h_l - share_parallel_seqs * np.log2(K),
        "I(entity;L)": h_l - float(sum(home[h] * entropy_bits(l_given_h[h]) for h in range(K))),
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

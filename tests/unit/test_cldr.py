import json
import time

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("babel")

from crosslingual.cli import main  # noqa: E402
from crosslingual.data.cldr import LANGUAGES, RELATION_WORDS, _current_currency, _main_official_language, facts  # noqa: E402


def test_current_currency_and_official_language_rules_hand_computed():
    assert _current_currency([("ESP", (1873, 1, 1), (2002, 2, 28), True), ("EUR", (1999, 1, 1), None, True)]) == "EUR"
    assert _current_currency([("PAB", (1903, 1, 1), None, True), ("USD", (1903, 1, 1), None, True)]) is None
    assert _current_currency([("XYZ", (1999, 1, 1), None, False)]) is None  # not legal tender
    official = {"de": {"population_percent": 90.0, "official_status": "official"},
                "tr": {"population_percent": 2.0, "official_status": None}}
    assert _main_official_language(official) == "de"
    tied = {"a": {"population_percent": 50.0, "official_status": "official"},
            "b": {"population_percent": 50.0, "official_status": "official"}}
    assert _main_official_language(tied) is None and _main_official_language({}) is None


def test_the_fact_set_builds_offline_in_under_a_minute_and_every_fact_is_parallel(tmp_path):
    start = time.perf_counter()
    assert main(["cldr", "--out", str(tmp_path / "facts.parquet")]) == 0
    assert time.perf_counter() - start < 60
    stats = json.loads((tmp_path / "facts.stats.json").read_text())
    assert stats["languages"] == len(LANGUAGES) and stats["facts"] > 300
    assert stats["entity_name_script"]["ru"] == "CYRILLIC" and stats["entity_name_script"]["el"] == "GREEK"
    table = facts()
    assert (table.groupby(["territory", "relation"]).language.nunique() == len(LANGUAGES)).all()
    assert table.groupby(["territory", "relation"]).value.nunique().max() == 1
    de = table[(table.territory == "DE") & (table.relation == "currency")].set_index("language")
    assert de.loc["en", "value_name"].casefold() == "euro" and de.loc["ru", "entity_name"] == "Германия"
    assert de.loc["fr", "prompt"] == f"Allemagne\n{RELATION_WORDS['currency']['fr']}:"
    assert not table.territory.isin(["EU", "ZZ", "001"]).any()  # no groupings or regions


def test_json_output(tmp_path):
    assert main(["cldr", "--out", str(tmp_path / "facts.json")]) == 0
    rows = json.loads((tmp_path / "facts.json").read_text())
    assert {"territory", "relation", "value", "language", "entity_name", "value_name", "prompt"} <= set(rows[0])


def test_sample_facts_asks_the_same_facts_in_every_language_and_is_seeded():
    from crosslingual.data.cldr import sample_facts

    table = facts()
    langs = list(LANGUAGES)[:3]
    a = sample_facts(table, 7, langs, seed=3)
    assert set(a.language) == set(langs)
    keys = a.groupby("language").apply(lambda d: frozenset(zip(d.territory, d.relation)), include_groups=False)
    assert len(set(keys)) == 1 and len(keys.iloc[0]) == 7
    assert a.equals(sample_facts(table, 7, langs, seed=3))
    assert not a.equals(sample_facts(table, 7, langs, seed=4))
    assert len(sample_facts(table, 10**9, langs, seed=0)) == len(table[table.language.isin(langs)])
    with pytest.raises(ValueError, match="n=0"):
        sample_facts(table, 0, langs, seed=0)


def test_the_cldr_dictionary_pairs_one_word_names_and_finds_them_as_single_pieces():
    from crosslingual.data.dictionary import pairs, piece_rows

    table = pairs(("fr", "ru"))
    assert set(table.language) == {"fr", "ru"} and set(table.kind) == {"month", "weekday", "territory", "language"}
    assert {"english": "Germany", "word": "Allemagne"} in table[table.language == "fr"][["english", "word"]].to_dict(
        "records")
    assert not table.english.str.contains(" ").any() and not table.word.str.contains(" ").any()
    assert (table.english != table.word).all()
    rows = piece_rows(["x", "▁janvier", "janvier", "lundi"], pd.Series(["janvier", "lundi", "mars"]))
    assert rows.iloc[:2].tolist() == [1.0, 3.0] and np.isnan(rows.iloc[2])  # the word mark first, else the bare word
    with pytest.raises(ValueError, match="other than 'en'"):
        pairs(("en",))

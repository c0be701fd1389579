"""A real-strings parallel fact set from the Unicode CLDR data that the ``babel`` package ships (no network).

Facts are ``territory -> currency`` (the one current legal tender) and ``territory -> official language`` (the
official language with the largest share of speakers), each written in every chosen language with CLDR's own
localised names: "Germany / Allemagne / Германия / ドイツ" and "euro / евро / ユーロ". Territories whose answer is
ambiguous (two current tenders, tied official languages) or missing a name in some language are left out, so
every fact is parallel across all languages.

Prompts are infobox lines, ``"{entity}\\n{relation}:"``, with the relation word written in each language (our
choice: a key-value line needs no grammar of country names, articles or case, which differ per language and
would otherwise have to be written by hand for every territory). The answer is the value's CLDR name.

    crosslingual cldr --out cldr_facts.parquet      # the table, and cldr_facts.stats.json beside it
"""

from __future__ import annotations

import io
import json
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from crosslingual.errors import ConfigError
from crosslingual.files import write_atomic, write_errors

# locale -> its script (the first word of its letters' Unicode names, as crosslingual.analysis.geometry labels tokens)
LANGUAGES = {"en": "LATIN", "de": "LATIN", "fr": "LATIN", "es": "LATIN", "ru": "CYRILLIC", "el": "GREEK",
             "ar": "ARABIC", "he": "HEBREW", "hi": "DEVANAGARI", "th": "THAI", "ka": "GEORGIAN", "hy": "ARMENIAN",
             "ja": "KATAKANA", "zh": "CJK", "ko": "HANGUL"}
RELATIONS = ("currency", "official_language")
RELATION_WORDS = {
    "currency": {"en": "Currency", "de": "Währung", "fr": "Monnaie", "es": "Moneda", "ru": "Валюта",
                 "el": "Νόμισμα", "ar": "العملة", "he": "מטבע", "hi": "मुद्रा", "th": "สกุลเงิน", "ka": "ვალუტა",
                 "hy": "Արժույթ", "ja": "通貨", "zh": "货币", "ko": "통화"},
    "official_language": {"en": "Official language", "de": "Amtssprache", "fr": "Langue officielle",
                          "es": "Idioma oficial", "ru": "Официальный язык", "el": "Επίσημη γλώσσα",
                          "ar": "اللغة الرسمية", "he": "שפה רשמית", "hi": "आधिकारिक भाषा", "th": "ภาษาราชการ",
                          "ka": "ოფიციალური ენა", "hy": "Պաշտոնական լեզու", "ja": "公用語", "zh": "官方语言",
                          "ko": "공용어"},
}
TEMPLATE = "{entity}\n{relation}:"
# The languages of a CLDR world (``WorldConfig(names="cldr")``) are the first n_languages of this order, which
# puts distinct scripts first: two languages are English and Russian, three add French (Latin, like English).
WORLD_ORDER = ("en", "ru", "fr", "el", "ar", "de", "he", "hi", "ka", "hy")


def _current_currency(history: list[tuple]) -> str | None:
    current = [code for code, _start, end, tender in history if end is None and tender]
    return current[0] if len(current) == 1 else None


def _main_official_language(languages: dict) -> str | None:
    official = sorted(((info["population_percent"], lang) for lang, info in languages.items()
                       if info.get("official_status") == "official"), reverse=True)
    if not official or (len(official) > 1 and official[0][0] == official[1][0]):
        return None
    return official[0][1].split("_")[0]


def facts() -> pd.DataFrame:
    """One row per (territory, relation, language): codes, localised names and the prompt."""
    return _facts().copy()


@lru_cache(maxsize=1)
def _facts() -> pd.DataFrame:
    from babel import Locale
    from babel.core import get_global

    locales = {lang: Locale.parse(lang) for lang in LANGUAGES}
    values = {"currency": {t: _current_currency(h) for t, h in get_global("territory_currencies").items()},
              "official_language": {t: _main_official_language(v)
                                    for t, v in get_global("territory_languages").items()}}
    names = {"currency": lambda loc, code: loc.currencies.get(code),
             "official_language": lambda loc, code: loc.languages.get(code)}
    rows = []
    for territory in sorted(locales["en"].territories):
        if not (len(territory) == 2 and territory.isalpha()) or territory in ("ZZ", "XA", "XB", "XK", "EU", "UN", "EZ"):
            continue  # countries and dependencies only: no regions, pseudo-territories or groupings
        entity = {lang: loc.territories.get(territory) for lang, loc in locales.items()}
        if not all(entity.values()):
            continue
        for relation in RELATIONS:
            value = values[relation].get(territory)
            if value is None:
                continue
            value_names = {lang: names[relation](loc, value) for lang, loc in locales.items()}
            if not all(value_names.values()):
                continue
            for lang in LANGUAGES:
                rows.append({"territory": territory, "relation": relation, "value": value, "language": lang,
                             "script": LANGUAGES[lang], "entity_name": entity[lang], "value_name": value_names[lang],
                             "prompt": TEMPLATE.format(entity=entity[lang], relation=RELATION_WORDS[relation][lang])})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class WorldData:
    """What a CLDR world needs: territories that have every relation, each relation's value codes, and names."""

    territories: tuple[str, ...]
    values: tuple[tuple[str, ...], ...]  # per relation, sorted value codes
    value_index: dict  # (territory, relation index) -> index into values[relation]
    entity: dict  # (language, territory) -> name
    value: dict  # (language, relation index, value code) -> name
    relation: dict  # (language, relation index) -> word


@lru_cache(maxsize=16)
def world_data(n_languages: int, n_relations: int) -> WorldData:
    """The facts of the first ``n_relations`` relations for the territories that have all of them, with their
    names in the first ``n_languages`` languages of :data:`WORLD_ORDER`."""
    languages, relations = WORLD_ORDER[:n_languages], RELATIONS[:n_relations]
    table = _facts()
    table = table[table.language.isin(languages) & table.relation.isin(relations)]
    complete = table.groupby("territory").relation.nunique() == len(relations)
    table = table[table.territory.isin(complete[complete].index)]
    # a territory named like a value in some language ("Tuvalu" is also the English name of its language) could
    # not be told apart from that value by a word-level model: such territories are left out
    value_names = set(zip(table.language, table.value_name))
    clash = {row.territory for row in table.itertuples() if (row.language, row.entity_name) in value_names}
    table = table[~table.territory.isin(clash)]
    values = tuple(tuple(sorted(table[table.relation == r].value.unique())) for r in relations)
    index = {r: {v: i for i, v in enumerate(vs)} for r, vs in zip(relations, values)}
    return WorldData(
        territories=tuple(sorted(table.territory.unique())), values=values,
        value_index={(row.territory, relations.index(row.relation)): index[row.relation][row.value]
                     for row in table[table.language == languages[0]].itertuples()},
        entity={(row.language, row.territory): row.entity_name for row in table.itertuples()},
        value={(row.language, relations.index(row.relation), row.value): row.value_name for row in table.itertuples()},
        relation={(lang, i): RELATION_WORDS[r][lang] for lang in languages for i, r in enumerate(relations)})


def sample_facts(table: pd.DataFrame, n: int, languages: list[str], seed: int) -> pd.DataFrame:
    """Every language's rows of ``n`` (territory, relation) facts drawn with ``seed``, so that a real model is
    asked the same facts in each of ``languages`` (all of them when ``n`` exceeds the facts)."""
    if n < 1:
        raise ValueError(f"sample_facts: n={n} must be at least 1")
    keys = table[["territory", "relation"]].drop_duplicates().sort_values(["territory", "relation"])
    keep = keys.sample(min(n, len(keys)), random_state=seed)
    subset = table.merge(keep, on=["territory", "relation"])
    return subset[subset.language.isin(languages)]


def _script(text: str) -> str:
    for ch in text:
        if unicodedata.category(ch).startswith("L"):
            return unicodedata.name(ch, "UNKNOWN").split()[0]
    return "NONE"


def statistics(table: pd.DataFrame) -> dict:
    """Counts and real cross-language string overlap: the share of facts whose entity (or value) name is
    written identically in two languages, averaged over language pairs, and the scripts the names use."""
    langs = sorted(table.language.unique())
    wide = table.pivot_table(index=["territory", "relation"], columns="language",
                             values=["entity_name", "value_name"], aggfunc="first")

    def identical(field: str, fold: bool = False) -> float:
        pairs = [(a, b) for i, a in enumerate(langs) for b in langs[i + 1:]]
        col = wide[field].apply(lambda s: s.str.casefold()) if fold else wide[field]
        return float(sum((col[a] == col[b]).mean() for a, b in pairs) / len(pairs))

    scripts = table.assign(found=table.entity_name.map(_script)).groupby("language").found.agg(lambda s: s.mode()[0])
    return {
        "languages": len(langs), "territories": int(table.territory.nunique()),
        "facts": int(len(wide)), "facts_per_relation": table.groupby("relation").territory.nunique().to_dict(),
        "distinct_values": table.groupby("relation").value.nunique().to_dict(),
        "rows": int(len(table)),
        "identical_entity_names_between_two_languages": round(identical("entity_name"), 4),
        "identical_value_names_between_two_languages": round(identical("value_name"), 4),
        "identical_value_names_ignoring_case": round(identical("value_name", fold=True), 4),
        "mean_entity_name_chars": table.groupby("language").entity_name.agg(lambda s: round(s.str.len().mean(), 2))
        .to_dict(),
        "entity_name_script": scripts.to_dict(),
    }


def write(out: Path) -> tuple[Path, Path]:
    """Write the fact table (``.parquet`` or ``.json``: the extension decides, anything else is refused) and its
    statistics (``<stem>.stats.json``), each atomically."""
    out = Path(out)
    if out.suffix not in (".parquet", ".json"):
        raise ConfigError(f"--out {out}: the extension decides the format; use .parquet or .json")
    table = facts()
    if out.suffix == ".json":
        data = table.to_json(orient="records", force_ascii=False, indent=1).encode()
    else:
        buffer = io.BytesIO()
        table.to_parquet(buffer, index=False)
        data = buffer.getvalue()
    stats = out.with_name(f"{out.stem}.stats.json")
    with write_errors(out, "--out", "choose a directory you can write", output=True):
        out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(out, data)
        write_atomic(stats, json.dumps(statistics(table), ensure_ascii=False, indent=1).encode())
    return out, stats

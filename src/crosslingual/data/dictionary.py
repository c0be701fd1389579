"""Bilingual word lists from the Unicode CLDR data that ``babel`` ships (no network): the English name of a month,
a weekday, a country or a language beside its name in another language ("Germany / Allemagne / Германия",
"Monday / lundi / 月曜日").

They are the ground truth of translation precision@k on pretrained vocabularies (H2): a pair counts for a
model only where both names are single pieces of its vocabulary (:func:`piece_rows`). CLDR names are what a
locale's software shows, so they are common words of every language; the pairs are one-to-one by
construction (one CLDR key, one name per locale), which a hand-made dictionary would not guarantee.
"""

from __future__ import annotations

from functools import lru_cache

import pandas as pd

# target languages, in ten scripts; English is the source of every pair
LANGUAGES = ("de", "fr", "es", "ru", "el", "ar", "he", "hi", "th", "ja", "zh", "ko")
KINDS = ("month", "weekday", "territory", "language")
WORD_MARK = "\u2581"  # SentencePiece's word mark: a word after a space is the piece "▁word"


def _names(locale: str) -> dict[tuple[str, object], str]:
    """(kind, CLDR key) -> the locale's name: wide month and weekday names (format context), the names of
    two-letter territories (countries, not regions such as '001') and of two-letter (ISO 639-1) languages."""
    import babel

    loc = babel.Locale.parse(locale)
    out: dict[tuple[str, object], str] = {("month", m): n for m, n in loc.months["format"]["wide"].items()}
    out.update({("weekday", d): n for d, n in loc.days["format"]["wide"].items()})
    out.update({("territory", c): n for c, n in loc.territories.items() if len(c) == 2 and c.isalpha()})
    out.update({("language", c): n for c, n in loc.languages.items() if len(c) == 2 and c.isalpha()})
    return out


@lru_cache(maxsize=None)
def pairs(languages: tuple[str, ...] = LANGUAGES) -> pd.DataFrame:
    """One row per (language, CLDR key) whose English and target names are each one word (no space) and differ:
    ``language``, ``kind``, ``english``, ``word``."""
    unknown = [lang for lang in languages if lang == "en" or not isinstance(lang, str)]
    if unknown or not languages:
        raise ValueError(f"languages={languages!r}: name one or more CLDR locales other than 'en'")
    english = _names("en")
    rows = []
    for lang in languages:
        names = _names(lang)
        for key, source in english.items():
            word = names.get(key)
            if word and word != source and " " not in word and " " not in source:
                rows.append({"language": lang, "kind": key[0], "english": source, "word": word})
    return pd.DataFrame(rows, columns=["language", "kind", "english", "word"])


def piece_rows(pieces: list[str], words: pd.Series) -> pd.Series:
    """The vocabulary row of each word as a single piece: the word after a space (``▁word``) where the vocabulary
    has it, else the bare word (scripts written without spaces); NaN where it is no single piece."""
    index: dict[str, int] = {}
    for i, piece in enumerate(pieces):
        index.setdefault(piece, i)
    return words.map(lambda w: index.get(WORD_MARK + w, index.get(w))).astype("float")

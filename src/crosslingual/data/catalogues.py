"""Real multilingual text that ships offline: the gettext message catalogues of Sphinx (BSD-2-Clause), which
the book's toolchain installs anyway (``jupyter-book`` depends on it; ``requirements.txt`` pins the version).

Sphinx's catalogues translate its own user-facing messages ("path to output directory", "no changes in version
%s.") into 67 locales; the languages below are those with several hundred translated messages, in nine
scripts. A language's text is its translated messages, one per line; English is the source strings (the
``msgid``s) of the messages any of these catalogues translates. Placeholders (``%s``, ``%(name)r``, ``{0}``)
are dropped: they are the same in every language and would be the easiest tokens of all.

Every message falls on one *side*, ``select`` or ``evaluate``, by a hash of its English source, the same in every
language: regions chosen on the selection side are judged on text whose content (in any language) they never
saw. The text is used for language-modelling losses (chapter 10's regions on a pretrained model); it is
technical, short-sentence text, not prose, which the chapter says.
"""

from __future__ import annotations

import gettext
import hashlib
import importlib.util
import re
from functools import lru_cache
from pathlib import Path

import torch

# locale -> its script (the first word of its letters' Unicode names, as crosslingual.analysis.geometry labels tokens)
LANGUAGES = {"en": "LATIN", "fr": "LATIN", "es": "LATIN", "ru": "CYRILLIC", "el": "GREEK", "hi": "DEVANAGARI",
             "fa": "ARABIC", "ka": "GEORGIAN", "ko": "HANGUL", "ja": "HIRAGANA", "zh_CN": "CJK"}
SIDES = ("select", "evaluate")
LICENCE = "BSD-2-Clause (Sphinx's message catalogues)"
_PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[sdirfx]|%[-#0 +]*\d*(?:\.\d+)?[sdirfx%]|\{[\w.!:]*\}")
_SPACE = re.compile(r"\s+")
_CONTEXT = "\x04"  # gettext joins a message's context and its source with this character


def locale_dir() -> Path:
    """Where the installed Sphinx keeps its catalogues (``sphinx/locale/<lang>/LC_MESSAGES/sphinx.mo``)."""
    spec = importlib.util.find_spec("sphinx")
    if spec is None or spec.origin is None:
        raise LookupError("Sphinx is not installed: its message catalogues are the text source (pip install sphinx)")
    return Path(spec.origin).parent / "locale"


def clean(message: str) -> str:
    """One message as text: placeholders dropped, whitespace collapsed."""
    return _SPACE.sub(" ", _PLACEHOLDER.sub("", message)).strip()


def read_catalogue(path: Path) -> dict[str, str]:
    """source -> translation of a compiled catalogue (``.mo``): singular messages only (a plural's forms are
    not parallel sentences), the context dropped, untranslated or empty entries left out."""
    with open(path, "rb") as f:
        catalogue = gettext.GNUTranslations(f)._catalog
    out = {}
    for source, translation in catalogue.items():
        if not isinstance(source, str) or not source:
            continue  # plural forms are keyed (source, n); the empty key is the header
        source, translation = clean(source.split(_CONTEXT)[-1]), clean(translation)
        if source and translation and translation != source:
            out[source] = translation
    return out


@lru_cache(maxsize=None)
def messages(language: str, root: Path | None = None) -> dict[str, str]:
    """source -> text of ``language`` (``LANGUAGES``); English maps every source any listed catalogue
    translates to itself."""
    if language not in LANGUAGES:
        raise ValueError(f"language={language!r} has no catalogue here: choose one of {', '.join(LANGUAGES)}")
    root = root or locale_dir()
    if language == "en":
        return {s: s for lang in LANGUAGES if lang != "en" for s in messages(lang, root)}
    path = root / language / "LC_MESSAGES" / "sphinx.mo"
    if not path.exists():
        raise LookupError(f"no Sphinx catalogue for {language!r} at {path}")
    return read_catalogue(path)


def side(source: str) -> str:
    """The side of one message, from a hash of its English source: the same in every language."""
    return SIDES[hashlib.sha256(source.encode()).digest()[0] % 2]


def text(language: str, which: str, root: Path | None = None) -> str:
    """The language's messages on side ``which``, one per line, in the order of their sources (stable)."""
    if which not in SIDES:
        raise ValueError(f"which={which!r} is not a side: choose one of {', '.join(SIDES)}")
    table = messages(language, root)
    return "\n".join(table[s] for s in sorted(table) if side(s) == which)


def sequences(tokenizer, text: str, length: int, n: int, bos_id: int | None = None) -> torch.Tensor:
    """The first ``n`` consecutive windows of ``length`` tokens of ``text`` (``[n, length]``, no padding, so
    every position is a real token); with ``bos_id`` each window starts with it and holds ``length - 1`` text
    tokens. A clear error if the text is too short for ``n`` windows."""
    if length < 2 or n < 1:
        raise ValueError(f"sequences needs length >= 2 and n >= 1; got length={length}, n={n}")
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    body = length - (bos_id is not None)
    if len(ids) < n * body:
        raise ValueError(f"the text has {len(ids):,} tokens, fewer than the {n} x {body} that n={n} windows of "
                         f"length={length} need: lower n or length")
    windows = torch.tensor(ids[:n * body]).view(n, body)
    if bos_id is not None:
        windows = torch.cat([torch.full((n, 1), bos_id), windows], dim=1)
    return windows


def statistics(root: Path | None = None) -> list[dict]:
    """Per language: its script and its messages and characters on each side (the book's table of the source)."""
    rows = []
    for language, script in LANGUAGES.items():
        row = {"language": language, "script": script}
        for which in SIDES:
            body = text(language, which, root)
            row[f"{which}_messages"], row[f"{which}_characters"] = body.count("\n") + bool(body), len(body)
        rows.append(row)
    return rows

"""Writing systems and their syllable inventories.

Each script gives consonant and vowel letters (vowel signs for abugidas); a syllable is consonant + vowel.
Names are built from per-language syllable subsets, so two languages that share a script share letters and
some syllables but not whole names, which is what a subword tokenizer needs to see realistic overlap.
The first word of each letter's Unicode name is the script label used by the embedding-geometry analyses.
"""

from __future__ import annotations


def _chars(first: int, last: int, skip: str = "") -> list[str]:
    return [chr(c) for c in range(first, last + 1) if chr(c) not in skip]


# script name -> (consonants, vowels); all letters are Unicode category L* (or Mn vowel signs for abugidas).
SCRIPTS: dict[str, tuple[list[str], list[str]]] = {
    "latin": (list("bcdfghklmnprstvz"), list("aeiou")),
    "cyrillic": (list("бвгджзклмнпрстфх"), list("аеиоу")),
    "greek": (list("βγδζθκλμνξπρστφχ"), list("αειου")),
    "armenian": (_chars(0x0562, 0x0570, skip="\u0565\u0567\u0568\u056b"), list("աեիոը")),
    "georgian": (list("ბგდვზთკლმნპჟრსტფქ"), list("აეიოუ")),
    "hebrew": (list("בגדזחטכלמנסעפצקרש"), list("אוי")),
    "cherokee": (_chars(0x13A0, 0x13BF), _chars(0x13C0, 0x13C5)),
    "ethiopic": (_chars(0x1200, 0x1206) + _chars(0x1208, 0x120E), _chars(0x1210, 0x1214)),
    "devanagari": (list("कखगघचजटडतदनपबमयरलवसह"), ["\u093e", "\u093f", "\u0940", "\u0941", "\u0947"]),
    "thai": (list("กขคงจชซดตถทนบปพฟมยรลวส"), ["\u0e31", "\u0e34", "\u0e35", "\u0e36", "\u0e38"]),
}

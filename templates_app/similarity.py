"""How close a sent reply is to the saved reply it came from (DOMAIN.md,
"Saved replies and their overuse").

A sent reply is *unedited* when its normalized text (case-folded, white space
collapsed, signature left out) is at least 0.90 similar to the rendered saved
reply. The signature is left out because signing is expected of every reply
and says nothing about whether the agent adapted the answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from difflib import SequenceMatcher
from functools import lru_cache

# DOMAIN.md: "≥ 0.90 similar". Compared with >=, so exactly 0.90 is unedited.
UNEDITED_THRESHOLD = 0.90

# Closing formulas that may precede the signing name on the same line
# ("Cordialement, Marie"); the whole clause is part of the signature.
_CLOSINGS = (
    "bien cordialement",
    "cordialement",
    "bien à vous",
    "bonne fin de journée",
    "bonne journée",
    "bonne soirée",
    "belle journée",
    "excellente journée",
    "bon week-end",
    "bon weekend",
    "à très bientôt",
    "à très vite",
    "à bientôt",
    "merci beaucoup",
    "merci encore",
    "merci",
    "best regards",
    "kind regards",
    "regards",
    "thank you",
    "thanks",
    "cheers",
    "sincerely",
    "best",
)


def _phrase(words: str) -> str:
    """A regex for a phrase, tolerant of any white space between its words."""
    return r"\s+".join(re.escape(word) for word in words.split())


@lru_cache(maxsize=256)
def _signature_pattern(names: tuple[str, ...]) -> re.Pattern[str] | None:
    if not names:
        return None
    # Longest first, so "Marie Boutique" wins over "Marie".
    name_alternatives = "|".join(_phrase(name) for name in sorted(names, key=len, reverse=True))
    # A closing formula starts a clause, and either shares the name's line or
    # has a line of its own after some content: in "Merci !\n— Marie" and
    # "Merci !\nMarie" the "Merci !" is the reply itself, not a closing.
    closing = "(?:{})[ \\t]*[,.!]?[ \\t]*".format(
        "|".join(_phrase(closing) for closing in _CLOSINGS)
    )
    return re.compile(
        rf"""
        (?:
            (?:^|(?<=[\n.!?…,;:]))[ \t]*{closing}   # "… merci. Bonne journée, Marie"
          | (?<=\n)[ \t]*{closing}\n\s*            # "…\nCordialement,\nMarie", after content
          | (?:^|(?<=\s))[\u2014\u2013-]+\s*         # "— Marie", "- Marie", "-- Marie"
          | (?:^|(?<=[\n.!?…,;:]))\s*               # "Marie" on its own line or after a sentence
        )
        (?:l['\u2019]\s*équipe\s+(?:de\s+|d['\u2019]\s*)?)?  # "— L'équipe Boutique Lumière"
        (?P<name>{name_alternatives})
        \W*\Z                                        # then only punctuation or emoji
        """,
        re.IGNORECASE | re.VERBOSE,
    )


def split_signature(text: str, names: Iterable[str]) -> tuple[str, str | None]:
    """Split a trailing signature off ``text``.

    Returns the text before the signature and the name it was signed with, as
    spelled in ``names``; or ``(text, None)`` when the text does not end with a
    signature by one of ``names``. A dash or a closing formula before the name
    marks a signature ("— Marie", "Bonne journée, Marie"); a bare name counts
    only on its own line or after punctuation ("…merci. Marie"), so "chez
    Boutique Lumière" ending a sentence is not taken for a signature.
    """
    # lower(), not casefold(): the pattern matches with IGNORECASE, which
    # compares simple case folds, and casefold("ß") == "ss" would never match.
    by_key = {" ".join(name.split()).lower(): name for name in names if name.strip()}
    pattern = _signature_pattern(tuple(sorted(by_key)))
    match = pattern.search(text) if pattern is not None else None
    if match is None:
        return text, None
    signed_as = by_key[" ".join(match.group("name").split()).lower()]
    return text[: match.start()], signed_as


def normalize(text: str, *, signature_names: Iterable[str] = ()) -> str:
    """Case-folded, white space collapsed and stripped, trailing signature by
    one of ``signature_names`` left out."""
    body, _ = split_signature(text, signature_names)
    return " ".join(body.casefold().split())


def similarity(a: str, b: str, *, signature_names: Iterable[str] = ()) -> float:
    """Similarity of two texts in [0, 1], after ``normalize``.

    ``difflib.SequenceMatcher.ratio`` (2 * matching characters / total
    characters): it is in the standard library, it is order-aware (the same
    words shuffled into another answer are not "the same reply"), and its
    behaviour is well understood and easy to reason about at the 0.90 edge —
    two 100-character texts differing in 10 characters score exactly 0.90.

    ``autojunk`` is off: on texts of 200 characters or more it would treat
    frequent characters (spaces, "e") as junk and under-count matches, making
    long replies look edited when they are not.
    """
    names = tuple(signature_names)
    return SequenceMatcher(
        None,
        normalize(a, signature_names=names),
        normalize(b, signature_names=names),
        autojunk=False,
    ).ratio()


def is_unedited(sent: str, rendered: str, signature_names: Iterable[str] = ()) -> bool:
    """True when ``sent`` is at least ``UNEDITED_THRESHOLD`` similar to the
    rendered saved reply it came from."""
    return similarity(sent, rendered, signature_names=signature_names) >= UNEDITED_THRESHOLD

"""What the composer tells an agent before a reply is sent (DOMAIN.md:
"Saved replies and their overuse", "Composer guidance", "Meta's messaging
rules that the composer enforces").

Pure functions over plain values: the Django layer fetches the history (the
texts this contact already received, the counts of the last 24 h…), calls
these, and turns each ``Warning`` into one translated sentence from its ``id``
and ``params``. Thresholds are parameters whose defaults are DOMAIN.md's, so
per-Page settings can be passed in later without touching the rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from functools import lru_cache
from typing import Literal

from templates_app.similarity import UNEDITED_THRESHOLD, similarity, split_signature

WarningId = Literal[
    "repeat_contact",
    "unedited",
    "hot_template",
    "agent_reliance",
    "public_repeat",
    "too_long",
    "signature",
    "sensitive_public",
    "window",
]
# confirm: the agent must confirm before sending; warn: shown, never blocks;
# refuse: the send is not possible; info: a suggestion.
WarningKind = Literal["confirm", "warn", "refuse", "info"]


# Shadows the built-in Warning inside this module only: it is the composer's
# word for these, and nothing here raises or filters Python warnings.
@dataclass(frozen=True)
class Warning:
    id: WarningId
    kind: WarningKind
    params: dict[str, object] = field(default_factory=dict)


# --- Overuse of saved replies ----------------------------------------------

REPEAT_CONTACT_DAYS = 30  # the Django layer's look-back; here only for the message
HOT_TEMPLATE_THRESHOLD = 10  # sends of one saved reply on a Page in 24 h
AGENT_RELIANCE_SHARE = Fraction(3, 10)  # exact, so 15/50 is not "over 30 %" by float drift
AGENT_RELIANCE_LAST_N = 50
PUBLIC_REPEAT_THRESHOLD = 2  # similar public replies already under the post in 24 h


def _similar_count(draft: str, texts: Iterable[str], signature_names: Iterable[str]) -> int:
    names = tuple(signature_names)
    return sum(
        1 for text in texts if similarity(draft, text, signature_names=names) >= UNEDITED_THRESHOLD
    )


def check_repeat_contact(
    draft: str,
    previous_texts: Iterable[str],
    *,
    signature_names: Iterable[str] = (),
) -> Warning | None:
    """*confirm* when this contact already received this saved reply.

    ``previous_texts``: what was sent to this contact from this saved reply in
    the last ``REPEAT_CONTACT_DAYS`` days (the caller's query). One of them at
    least 0.90 similar to the draft is enough.
    """
    count = _similar_count(draft, previous_texts, signature_names)
    if count == 0:
        return None
    return Warning("repeat_contact", "confirm", {"count": count, "days": REPEAT_CONTACT_DAYS})


def check_unedited(
    draft: str, rendered: str, *, signature_names: Iterable[str] = ()
) -> Warning | None:
    """*warn* when the draft is still the rendered saved reply (≥ 0.90)."""
    score = similarity(draft, rendered, signature_names=signature_names)
    if score < UNEDITED_THRESHOLD:
        return None
    return Warning("unedited", "warn", {"percent": int(score * 100)})


def check_hot_template(
    sent_count_24h: int, threshold: int = HOT_TEMPLATE_THRESHOLD
) -> Warning | None:
    """*warn* when this saved reply was sent ``threshold`` times or more on
    this Page in the last 24 h."""
    if sent_count_24h < threshold:
        return None
    return Warning("hot_template", "warn", {"count": sent_count_24h, "hours": 24})


def check_agent_reliance(
    last_replies_unedited_flags: Sequence[bool],
    share: Fraction = AGENT_RELIANCE_SHARE,
    last_n: int = AGENT_RELIANCE_LAST_N,
) -> Warning | None:
    """*warn* when strictly more than ``share`` of the agent's last ``last_n``
    replies were unedited saved replies.

    ``last_replies_unedited_flags``: one flag per reply of the agent, most
    recent first (as a ``-sent_at`` query returns them); only the first
    ``last_n`` count. An agent with fewer replies is judged on those they have.
    Compared in integers: 15 of 50 is exactly 30 % and does not warn.
    """
    window = last_replies_unedited_flags[:last_n]
    unedited = sum(1 for flag in window if flag)
    if not window or unedited * share.denominator <= share.numerator * len(window):
        return None
    return Warning(
        "agent_reliance",
        "warn",
        {"unedited": unedited, "replies": len(window), "percent": int(share * 100)},
    )


def check_public_repeat(
    draft: str,
    same_post_public_texts_24h: Iterable[str],
    threshold: int = PUBLIC_REPEAT_THRESHOLD,
    *,
    signature_names: Iterable[str] = (),
) -> Warning | None:
    """*warn* when ``threshold`` or more public replies at least 0.90 similar
    to the draft were already posted under the same post in 24 h: one more
    reads as a bot."""
    count = _similar_count(draft, same_post_public_texts_24h, signature_names)
    if count < threshold:
        return None
    return Warning("public_repeat", "warn", {"count": count, "hours": 24})


# --- Length ------------------------------------------------------------------

TOO_LONG_LIMIT = 640  # Facebook's advice to Pages: be useful but brief
# Send API: "text must be UTF-8 and under 2000 characters" — 2000 is refused.
MAX_TEXT_LENGTH = 2000


def check_too_long(text: str, limit: int = TOO_LONG_LIMIT) -> Warning | None:
    """*warn* above ``limit`` characters (640 is fine, 641 is not)."""
    if len(text) <= limit:
        return None
    return Warning("too_long", "warn", {"length": len(text), "limit": limit})


def fits_send_api(text: str) -> bool:
    """Whether Meta's Send API accepts ``text`` as a private message: under
    ``MAX_TEXT_LENGTH`` characters. Public comments have no such limit here."""
    return len(text) < MAX_TEXT_LENGTH


def check_message_length(text: str) -> Warning | None:
    """*refuse* a private message the Send API would reject for its length."""
    if fits_send_api(text):
        return None
    return Warning("too_long", "refuse", {"length": len(text), "limit": MAX_TEXT_LENGTH - 1})


# --- Signature -----------------------------------------------------------------


def check_signature(
    text: str,
    *,
    agent_first_name: str,
    page_name: str,
    company_names: Iterable[str] = (),
) -> Warning | None:
    """Replies are signed with the agent's first name (called only when the
    Page has signing on, its default).

    - *warn* when the text is signed with the Page or a company name and not
      by the agent ("— Boutique Lumière"); "Marie, Boutique Lumière" is the
      agent's signature with the Page beside it and is fine.
    - *info* when the text is not signed at all: DOMAIN.md only warns about the
      wrong name, but a reply with no name misses the same point, so the
      composer suggests signing without raising a warning.
    """
    agent_key = agent_first_name.strip().lower()
    brand_names = [
        name for name in (page_name, *company_names) if name.strip().lower() != agent_key
    ]
    rest, brand = split_signature(text, brand_names)
    agent_names = [agent_first_name] if agent_key else []
    _, agent = split_signature(rest, agent_names)
    if agent is not None:
        return None
    if brand is not None:
        return Warning(
            "signature", "warn", {"signed_as": brand, "agent_first_name": agent_first_name}
        )
    if not agent_key:
        return None
    return Warning("signature", "info", {"agent_first_name": agent_first_name})


# --- Personal data in public ------------------------------------------------

FindingKind = Literal["email", "phone", "iban", "order_number", "address"]


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    start: int
    end: int


# When two findings overlap, the more specific kind wins: an IBAN's digits may
# look like a phone number, an order number like a phone number.
_PRIORITY: tuple[FindingKind, ...] = ("email", "iban", "order_number", "phone", "address")

_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")

# Separators inside a phone number: space, no-break spaces (French typography
# puts them there), dot, dash. Never "/", ",", ":" (dates, prices, times).
_SEP = r"[ \u00a0\u202f.\-]"
# 06 12 34 56 78, 06.12.34.56.78, 0612345678: the back-reference keeps one
# separator throughout, which keeps dates such as 05.12.2026 out.
_FRENCH_PHONE = re.compile(
    rf"(?<![\w+#/.,\-])0[1-9](?P<sep>{_SEP}?)\d{{2}}(?:(?P=sep)\d{{2}}){{3}}(?![\w/]|[.,]\d)"
)
# +33 6 12 34 56 78, +33 (0)6…, +44 20 7946 0958, +1 (415) 555-2671, 0044…:
# the digits are counted afterwards (E.164 numbers have at most 15).
_INTERNATIONAL_PHONE = re.compile(
    rf"(?<![\w+])(?:\+|00(?=[1-9]))\d{{1,3}}(?:{_SEP}?\(0\))?"
    rf"{_SEP}?\(?\d{{1,4}}\)?(?:{_SEP}?\d{{2,4}}){{1,6}}(?!\w|[.,]\d)"
)
_PHONE_DIGITS = range(8, 16)
# Digits right after these words are a reference, not a phone number:
# "commande n° 0612345678", "suivi : 06 12 34 56 78".
_REFERENCE_CONTEXT = re.compile(
    r"(?:\b(?:commande|order|r[ée]f[ée]rence|reference|r[ée]f|facture|invoice|suivi|tracking"
    r"|colis|ticket|dossier)\b\.?(?:\s*(?:n°|nº|no\.?|number|num[ée]ro|#|:))*|#)\s*$",
    re.IGNORECASE,
)

_IBAN_CANDIDATE = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ \u00a0]?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])"
)
# ISO 13616 registry lengths for the countries a French-speaking Page most
# often meets; other countries only need 15 to 34 characters and the checksum.
_IBAN_LENGTHS = {
    "AD": 24, "AT": 20, "BE": 16, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28,
    "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MA": 28,
    "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24,
    "SI": 19, "SK": 24, "SM": 27, "TN": 24,
}  # fmt: skip

# A street number: 12, 3 bis, 221B.
_NUMBER = r"(?<![\w,./-])\d{1,5}(?:\s?(?:bis|ter|quater)\b|[A-Da-d](?!\w))?"
_CONNECTOR = r"(?:(?:de\s+la|du|des|de|la|le|les)\s+|(?:de\s+)?[ld]['\u2019]\s*)"
_MORE_NAME_WORDS = rf"(?:\s+{_CONNECTOR}?[A-ZÀ-ÖØ-Þ][\w'\u2019-]*){{0,4}}"
# Street words that rarely follow a number otherwise ("12 rue …") and those
# that often do ("2 cours de yoga", "1 place de libre"): after the latter the
# street's name must be capitalized.
_STRONG_STREET_WORDS = ("rue", "avenue", "boulevard", "allée", "impasse", "quai")
_FRENCH_ADDRESS = re.compile(
    rf"{_NUMBER},?\s+(?P<word>(?i:rue|avenue|av\.|boulevard|bd|bvd|allée|impasse|quai"
    rf"|place|chemin|route|cours))(?!\w)\s*{_CONNECTOR}?(?P<first>[^\W\d_][\w'\u2019-]*)"
    rf"{_MORE_NAME_WORDS}"
)
_ENGLISH_ADDRESS = re.compile(
    rf"{_NUMBER},?\s+(?:[A-Z][\w'\u2019-]*\s+){{1,3}}"
    r"(?i:street|st\.|st|road|rd\.|rd|avenue|ave\.|ave|lane|drive|boulevard|blvd)(?!\w)"
)
# "1 rue à gauche", "2 avenue plus loin": directions, not addresses.
_NOT_A_STREET_NAME = frozenset(
    ("à", "a", "au", "aux", "et", "ou", "en", "pour", "qui", "que", "avec", "sans", "est",
     "sont", "pas", "plus", "loin", "après", "avant", "près", "puis", "sur", "libre",
     "libres", "disponible", "disponibles")
)  # fmt: skip

# Order-number patterns come from a Page's settings. Python's re has no
# timeout, so the guard is structural: a short pattern, and no group repeated
# without bound that itself repeats something without bound ("(a+)+",
# "(\d*)*"), the usual shape of catastrophic backtracking. Overlapping
# alternatives such as "(a|a)*" are not caught; the length limit and the
# length of the texts scanned keep those bounded in practice.
MAX_ORDER_PATTERN_LENGTH = 100
_UNBOUNDED_QUANTIFIER = re.compile(r"[+*]|\{\d*,\}")


def _has_nested_repetition(pattern: str) -> bool:
    groups: list[bool] = [False]  # per open group: does it repeat without bound?
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            groups.append(False)
        elif char == ")" and len(groups) > 1:
            inner = groups.pop()
            if inner and _UNBOUNDED_QUANTIFIER.match(pattern, i + 1):
                return True
            groups[-1] = groups[-1] or inner
        elif _UNBOUNDED_QUANTIFIER.match(pattern, i):
            groups[-1] = True
        i += 1
    return False


class OrderPatternError(ValueError):
    """Why an order-number pattern cannot be used: ``code`` (``too_long``,
    ``invalid``, ``nested``, ``empty``) lets the settings form say it in the
    admin's language; the message says it in English."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


@lru_cache(maxsize=128)
def compile_order_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a Page's order-number pattern, or raise ``OrderPatternError``
    (a ``ValueError``) saying why it cannot be used."""
    if len(pattern) > MAX_ORDER_PATTERN_LENGTH:
        raise OrderPatternError(
            f"Order number pattern is too long ({len(pattern)} characters, "
            f"at most {MAX_ORDER_PATTERN_LENGTH}).",
            "too_long",
        )
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise OrderPatternError(
            f"Order number pattern «{pattern}» is not a valid regular expression: {exc}.", "invalid"
        ) from exc
    if _has_nested_repetition(pattern):
        raise OrderPatternError(
            f"Order number pattern «{pattern}» repeats a group that itself repeats "
            "without bound, which can take forever on some texts; write it without "
            "nested repetition (e.g. CMD-\\d{6}).",
            "nested",
        )
    if compiled.search("") is not None:
        raise OrderPatternError(f"Order number pattern «{pattern}» matches empty text.", "empty")
    return compiled


def iban_is_valid(candidate: str) -> bool:
    """ISO 13616: country code, check digits 02 to 98, and mod 97 of the
    rearranged number (letters as 10 to 35) equal to 1."""
    iban = "".join(candidate.split()).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", iban):
        return False
    if _IBAN_LENGTHS.get(iban[:2], len(iban)) != len(iban) or not 2 <= int(iban[2:4]) <= 98:
        return False
    digits = "".join(str(int(char, 36)) for char in iban[4:] + iban[:4])
    return int(digits) % 97 == 1


def _ibans(text: str) -> Iterable[tuple[int, int]]:
    position = 0
    while match := _IBAN_CANDIDATE.search(text, position):
        # A candidate may run into the next word ("… 189 MERCI"): try the
        # longest run of space-separated groups first, then shorter ones.
        groups = list(re.finditer(r"[A-Za-z0-9]+", match.group(0)))
        for group in reversed(groups):
            if iban_is_valid(match.group(0)[: group.end()]):
                yield match.start(), match.start() + group.end()
                position = match.start() + group.end()
                break
        else:
            # Not an IBAN from here; one may still start at the next group
            # ("ok12 FR76 3000 …").
            position = match.start() + groups[0].end()


def _phones(text: str) -> Iterable[tuple[int, int]]:
    for pattern in (_FRENCH_PHONE, _INTERNATIONAL_PHONE):
        for match in pattern.finditer(text):
            digits = sum(char.isdigit() for char in match.group(0))
            if digits not in _PHONE_DIGITS:
                continue
            if _REFERENCE_CONTEXT.search(text, max(0, match.start() - 30), match.start()):
                continue
            yield match.span()


def _addresses(text: str) -> Iterable[tuple[int, int]]:
    for match in _FRENCH_ADDRESS.finditer(text):
        word, first = match.group("word").lower(), match.group("first")
        if word in _STRONG_STREET_WORDS or word in ("av.", "bd", "bvd"):
            if first.lower() in _NOT_A_STREET_NAME:
                continue
        elif not first[0].isupper():
            continue
        yield match.span()
    for match in _ENGLISH_ADDRESS.finditer(text):
        yield match.span()


def find_personal_data(text: str, *, order_pattern: str | None = None) -> list[Finding]:
    """Personal data in ``text``, by position: e-mail addresses, phone numbers
    (French national and international formats), IBANs with a valid
    checksum, order numbers by the Page's pattern, and postal addresses (a
    number then a street word). Tuned for few false alarms: prices, dates,
    times and references are not phone numbers.

    Raises ``ValueError`` for an unusable ``order_pattern``.
    """
    spans: dict[FindingKind, Iterable[tuple[int, int]]] = {
        "email": (match.span() for match in _EMAIL.finditer(text)),
        "iban": _ibans(text),
        "order_number": (
            (match.span() for match in compile_order_pattern(order_pattern).finditer(text))
            if order_pattern
            else ()
        ),
        "phone": _phones(text),
        "address": _addresses(text),
    }
    kept: list[Finding] = []
    for kind in _PRIORITY:
        for start, end in spans[kind]:
            if all(end <= other.start or other.end <= start for other in kept):
                kept.append(Finding(kind, start, end))
    return sorted(kept, key=lambda finding: finding.start)


def check_sensitive_public(text: str, order_pattern: str | None = None) -> Warning | None:
    """*warn* when a public reply, or an inbound public comment, holds personal
    data: the composer suggests answering privately."""
    findings = find_personal_data(text, order_pattern=order_pattern)
    if not findings:
        return None
    kinds = list(dict.fromkeys(finding.kind for finding in findings))
    return Warning("sensitive_public", "warn", {"kinds": kinds})


# --- Meta's messaging window ---------------------------------------------------

# Boundaries are half-open: at exactly 24 h the RESPONSE window has closed, at
# exactly 7 days the HUMAN_AGENT one has. Meta says "within"; a send takes time
# to reach Meta and clocks differ, so at the very edge we would rather offer
# the next option than have Meta refuse the message (error 10 / 2018278).
RESPONSE_WINDOW = timedelta(hours=24)
HUMAN_AGENT_WINDOW = timedelta(days=7)
PRIVATE_REPLY_WINDOW = timedelta(days=7)

WindowReason = Literal[
    "response_window",  # within 24 h: messaging_type RESPONSE
    "human_agent",  # 24 h to 7 days, Page has HUMAN_AGENT: MESSAGE_TAG + HUMAN_AGENT
    "human_agent_disabled",  # 24 h to 7 days, Page lacks HUMAN_AGENT: refused
    "window_closed",  # 7 days or more: refused
    "no_customer_message",  # the contact never wrote: a Page cannot start a thread
]


@dataclass(frozen=True)
class WindowDecision:
    allowed: bool
    messaging_type: Literal["RESPONSE", "MESSAGE_TAG"] | None
    tag: Literal["HUMAN_AGENT"] | None
    reason: WindowReason
    # Time left in the window the reply would be sent in; None when refused.
    remaining: timedelta | None


def _elapsed(now: datetime, since: datetime) -> timedelta:
    if now.tzinfo is None or since.tzinfo is None:
        raise ValueError("Window checks need time-zone-aware datetimes.")
    # A timestamp slightly in the future (clock skew) counts as just now.
    return max(now - since, timedelta(0))


def check_window(
    *, now: datetime, last_customer_message_at: datetime | None, human_agent_enabled: bool
) -> WindowDecision:
    """How a private reply may be sent now, after the contact's last customer
    message: ``RESPONSE`` under 24 h; ``HUMAN_AGENT`` from 24 h to under
    7 days if the Page has it; otherwise refused."""
    if last_customer_message_at is None:
        return WindowDecision(False, None, None, "no_customer_message", None)
    elapsed = _elapsed(now, last_customer_message_at)
    if elapsed < RESPONSE_WINDOW:
        return WindowDecision(True, "RESPONSE", None, "response_window", RESPONSE_WINDOW - elapsed)
    if elapsed >= HUMAN_AGENT_WINDOW:
        return WindowDecision(False, None, None, "window_closed", None)
    if not human_agent_enabled:
        return WindowDecision(False, None, None, "human_agent_disabled", None)
    return WindowDecision(
        True, "MESSAGE_TAG", "HUMAN_AGENT", "human_agent", HUMAN_AGENT_WINDOW - elapsed
    )


def window_warning(decision: WindowDecision) -> Warning | None:
    """The composer's ``window`` guidance for a decision: nothing inside 24 h;
    *confirm* for HUMAN_AGENT (Meta allows that tag only for a human answering
    the person's issue, so the agent confirms it is one); *refuse* otherwise."""
    if decision.reason == "response_window":
        return None
    if decision.allowed:
        remaining = decision.remaining or timedelta(0)
        return Warning(
            "window",
            "confirm",
            {"tag": decision.tag, "remaining_seconds": int(remaining.total_seconds())},
        )
    return Warning("window", "refuse", {"reason": decision.reason})


PrivateReplyReason = Literal["within_7_days", "already_replied", "comment_too_old"]


@dataclass(frozen=True)
class PrivateReplyDecision:
    allowed: bool
    reason: PrivateReplyReason
    remaining: timedelta | None


def check_private_reply(
    *, now: datetime, comment_created_at: datetime, already_private_replied: bool
) -> PrivateReplyDecision:
    """A private reply to a comment: one per comment, under 7 days after it
    was created (same half-open boundary as ``check_window``)."""
    if already_private_replied:
        return PrivateReplyDecision(False, "already_replied", None)
    elapsed = _elapsed(now, comment_created_at)
    if elapsed >= PRIVATE_REPLY_WINDOW:
        return PrivateReplyDecision(False, "comment_too_old", None)
    return PrivateReplyDecision(True, "within_7_days", PRIVATE_REPLY_WINDOW - elapsed)

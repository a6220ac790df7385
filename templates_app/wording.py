"""One plain sentence per composer warning, with its numbers ("sent 14 times
in the last 24 hours on this Page"), in the agent's language.

The rules (guidance.py) only give an id, a kind and numbers; this is the only
place that turns them into words, so the live guidance, the send refusal and
the inbound-comment hint all say the same thing.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import formats
from django.utils import timezone as tz
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from . import guidance


def kind_label(kind: str) -> str:
    labels = {
        "refuse": _("Cannot be sent"),
        "confirm": _("To confirm"),
        "warn": _("Careful"),
        "info": _("Tip"),
    }
    return labels.get(kind, kind)


def personal_data_kinds(kinds: object) -> str:
    names = {
        "email": _("an e-mail address"),
        "phone": _("a phone number"),
        "iban": _("an IBAN"),
        "order_number": _("an order number"),
        "address": _("a postal address"),
    }
    found = [names.get(str(kind), str(kind)) for kind in (kinds if isinstance(kinds, list | tuple) else [])]
    if len(found) <= 1:
        return "".join(found)
    return _("%(items)s and %(last)s") % {"items": ", ".join(found[:-1]), "last": found[-1]}


def _duration(seconds: int) -> str:
    hours = max(0, seconds) // 3600
    if hours < 48:
        return ngettext("%(count)s hour", "%(count)s hours", max(hours, 1)) % {"count": max(hours, 1)}
    days = hours // 24
    return ngettext("%(count)s day", "%(count)s days", days) % {"count": days}


def _day(value: object) -> str:
    if not isinstance(value, datetime):
        return ""
    return formats.date_format(tz.localtime(value), "j F")


def describe(warning: guidance.Warning) -> str:
    """The warning as one sentence an agent reads at a glance."""
    p = warning.params
    if warning.id == "repeat_contact":
        count = int(p.get("count", 1))  # type: ignore[call-overload]
        day = _day(p.get("last_sent_at"))
        if day:
            return ngettext(
                "This contact already received this saved reply on %(day)s: adapt it to their question, "
                "or confirm to send it again.",
                "This contact already received this saved reply, last on %(day)s (%(count)s times in the "
                "last %(days)s days): adapt it to their question, or confirm to send it again.",
                count,
            ) % {"day": day, "count": count, "days": p.get("days", 30)}
        return ngettext(
            "This contact already received this saved reply %(count)s time in the last %(days)s days: "
            "adapt it to their question, or confirm to send it again.",
            "This contact already received this saved reply %(count)s times in the last %(days)s days: "
            "adapt it to their question, or confirm to send it again.",
            count,
        ) % {"count": count, "days": p.get("days", 30)}
    if warning.id == "unedited":
        return _(
            "This reply is still %(percent)s%% the saved reply: adapt it to the question, so it reads "
            "as written for this person."
        ) % {"percent": p.get("percent", 90)}
    if warning.id == "hot_template":
        count = int(p.get("count", 0))  # type: ignore[call-overload]
        return ngettext(
            "This saved reply was sent %(count)s time in the last 24 hours on this Page: customers "
            "notice when every answer is the same.",
            "This saved reply was sent %(count)s times in the last 24 hours on this Page: customers "
            "notice when every answer is the same.",
            count,
        ) % {"count": count}
    if warning.id == "agent_reliance":
        replies = int(p.get("replies", 0))  # type: ignore[call-overload]
        return ngettext(
            "Your only reply so far was a saved reply sent unedited: take a moment to answer in your own "
            "words.",
            "%(unedited)s of your last %(replies)s replies were saved replies sent unedited (more than "
            "%(percent)s%%): take a moment to answer in your own words.",
            replies,
        ) % {"unedited": p.get("unedited"), "replies": replies, "percent": p.get("percent")}
    if warning.id == "public_repeat":
        count = int(p.get("count", 0))  # type: ignore[call-overload]
        return ngettext(
            "The same text was already posted %(count)s time under this post in the last 24 hours: "
            "one more reads like a bot.",
            "The same text was already posted %(count)s times under this post in the last 24 hours: "
            "one more reads like a bot.",
            count,
        ) % {"count": count}
    if warning.id == "too_long":
        if warning.kind == "refuse":
            return _(
                "%(length)s characters: Messenger accepts at most %(limit)s. Shorten it, or split it "
                "in two messages."
            ) % {"length": p.get("length"), "limit": p.get("limit")}
        return _(
            "%(length)s characters: be useful but brief, Facebook advises at most %(limit)s."
        ) % {"length": p.get("length"), "limit": p.get("limit")}
    if warning.id == "signature":
        if warning.kind == "info":
            return _("Sign with your first name (“%(name)s”): customers answer a person more readily.") % {
                "name": p.get("agent_first_name")
            }
        return _(
            "Signed “%(signed_as)s”: sign with your own first name (%(name)s), not the Page's or the "
            "company's."
        ) % {"signed_as": p.get("signed_as"), "name": p.get("agent_first_name")}
    if warning.id == "sensitive_public":
        return _(
            "This public text holds %(kinds)s: everyone can read it. Reply privately instead."
        ) % {"kinds": personal_data_kinds(p.get("kinds"))}
    if warning.id == "window":
        if warning.kind == "confirm":
            return _(
                "More than 24 hours since the customer's last message: this reply goes out with Meta's "
                "HUMAN_AGENT tag, for a person answering their request (possible for %(remaining)s more). "
                "Confirm it is one."
            ) % {"remaining": _duration(int(p.get("remaining_seconds", 0)))}  # type: ignore[call-overload]
        reason = str(p.get("reason", ""))
        if reason == "comment_too_old":
            return _("Meta allows a private reply only within 7 days of the comment.")
        from inbox.services.sending import window_refusal_text

        return window_refusal_text(reason)
    return warning.id

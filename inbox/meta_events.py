"""Meta's webhook deliveries turned into plain, typed events (shared/META.md).

Pure: no Django, no database. `parse_delivery` never raises on any input; what
it cannot understand comes back as an `Unknown` event (kept, then ignored), so
a malformed body can never break ingestion.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# ---------------------------------------------------------------------------
# Signatures


def sign(body: bytes, secret: str) -> str:
    """The X-Hub-Signature-256 header value Meta sends for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_is_valid(body: bytes, header: str | None, secret: str) -> bool:
    # Meta signs the raw bytes it sends (with non-ASCII escaped as \\uXXXX), so
    # the HMAC is computed over request.body as received, never re-serialised
    # JSON. compare_digest keeps the comparison constant-time.
    if not secret or not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(body, secret), header.strip())


# ---------------------------------------------------------------------------
# Timestamps

# Messenger events carry milliseconds, feed changes seconds, and some current
# docs show strings: a value of 10 digits or fewer is taken as seconds.
_SECONDS_MAX = 9_999_999_999


def parse_timestamp(value: Any) -> datetime | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        try:
            number = float(value) if "." in value else int(value)
        except ValueError:
            try:  # ISO 8601, as the Graph API returns created_time
                parsed = datetime.fromisoformat(value.replace("+0000", "+00:00"))
            except ValueError:
                return None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    elif isinstance(value, int | float):
        number = value
    else:
        return None
    if number < 0:
        return None
    seconds = number if number <= _SECONDS_MAX else number / 1000
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


# ---------------------------------------------------------------------------
# Events


@dataclass(frozen=True)
class Event:
    page_id: str
    timestamp: datetime | None


@dataclass(frozen=True)
class MessageEvent(Event):
    """An inbound message from the contact, or an echo of one the Page sent."""

    contact_id: str
    mid: str
    text: str = ""
    attachments: tuple[dict[str, Any], ...] = ()
    quick_reply_payload: str = ""
    reply_to_mid: str = ""
    is_echo: bool = False
    app_id: str = ""
    metadata: str = ""
    is_deleted: bool = False
    referral: dict[str, Any] | None = None
    standby: bool = False


@dataclass(frozen=True)
class PostbackEvent(Event):
    contact_id: str
    mid: str
    title: str = ""
    payload: str = ""
    referral: dict[str, Any] | None = None
    standby: bool = False


@dataclass(frozen=True)
class ReadEvent(Event):
    contact_id: str
    watermark: datetime | None = None


@dataclass(frozen=True)
class DeliveryEvent(Event):
    contact_id: str
    watermark: datetime | None = None
    mids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReactionEvent(Event):
    contact_id: str
    mid: str
    reaction: str = ""
    emoji: str = ""
    action: str = "react"


@dataclass(frozen=True)
class ReferralEvent(Event):
    contact_id: str
    referral: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EditEvent(Event):
    contact_id: str
    mid: str
    text: str = ""
    num_edit: int = 0


@dataclass(frozen=True)
class CommentEvent(Event):
    """A feed change on a comment: add, edited, remove, hide, unhide."""

    verb: str
    comment_id: str
    post_id: str
    parent_id: str
    from_id: str
    from_name: str
    message: str = ""


@dataclass(frozen=True)
class Unknown(Event):
    reason: str
    raw: Any = None


# ---------------------------------------------------------------------------
# Parsing


def _str(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    # JSON may carry \u0000, which no PostgreSQL text column can hold: the
    # character goes, the customer's message stays (found by the fuzzer).
    return str(value).replace("\x00", "")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _json(value: Any) -> Any:
    """Free-form JSON kept as is (referrals), less the NUL characters that
    PostgreSQL's jsonb refuses."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {_json(k): _json(v) for k, v in value.items()}
    return value


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def parse_body(body: bytes) -> Any:
    """JSON-decode a raw body; None when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def parse_delivery(payload: Any) -> list[Event]:
    """Every event in a decoded delivery, in the order Meta listed them."""
    if not isinstance(payload, dict):
        return [Unknown(page_id="", timestamp=None, reason="body is not a JSON object")]
    if payload.get("object") != "page":
        return [Unknown(page_id="", timestamp=None, reason=f"object {payload.get('object')!r}", raw=payload)]
    events: list[Event] = []
    for entry in _list(payload.get("entry")):
        events.extend(_parse_entry(entry))
    return events


def _parse_entry(entry: Any) -> Iterator[Event]:
    entry = _dict(entry)
    page_id = _str(entry.get("id"))
    if not page_id:
        yield Unknown(page_id="", timestamp=None, reason="entry without id", raw=entry)
        return
    for item in _list(entry.get("messaging")):
        yield _parse_messaging(page_id, item, standby=False)
    for item in _list(entry.get("standby")):
        yield _parse_messaging(page_id, item, standby=True)
    for change in _list(entry.get("changes")):
        yield _parse_change(page_id, change)


def _parse_messaging(page_id: str, item: Any, *, standby: bool) -> Event:
    item = _dict(item)
    sender = _str(_dict(item.get("sender")).get("id"))
    recipient = _str(_dict(item.get("recipient")).get("id"))
    timestamp = parse_timestamp(item.get("timestamp"))
    message = item.get("message")
    if isinstance(message, dict):
        is_echo = bool(message.get("is_echo"))
        # Echoes reverse the roles: the Page is the sender, the contact the recipient.
        contact_id = recipient if is_echo else sender
        mid = _str(message.get("mid"))
        if not mid or not contact_id:
            return Unknown(page_id=page_id, timestamp=timestamp, reason="message without mid or contact", raw=item)
        attachments = tuple(
            {"type": _str(a.get("type")), "url": _str(_dict(a.get("payload")).get("url")),
             "title": _str(a.get("title"))}
            for a in _list(message.get("attachments"))
            if isinstance(a, dict)
        )
        return MessageEvent(
            page_id=page_id,
            timestamp=timestamp,
            contact_id=contact_id,
            mid=mid,
            text=_str(message.get("text")),
            attachments=attachments,
            quick_reply_payload=_str(_dict(message.get("quick_reply")).get("payload")),
            reply_to_mid=_str(_dict(message.get("reply_to")).get("mid")),
            is_echo=is_echo,
            app_id=_str(message.get("app_id")),
            metadata=_str(message.get("metadata")),
            is_deleted=bool(message.get("is_deleted")),
            referral=_json(_dict(message.get("referral"))) or None,
            standby=standby,
        )
    if isinstance(item.get("postback"), dict):
        postback = item["postback"]
        mid = _str(postback.get("mid")) or f"postback:{sender}:{item.get('timestamp')}"
        return PostbackEvent(
            page_id=page_id, timestamp=timestamp, contact_id=sender, mid=mid,
            title=_str(postback.get("title")), payload=_str(postback.get("payload")),
            referral=_json(_dict(postback.get("referral"))) or None, standby=standby,
        )
    if isinstance(item.get("read"), dict):
        return ReadEvent(
            page_id=page_id, timestamp=timestamp, contact_id=sender,
            watermark=parse_timestamp(item["read"].get("watermark")),
        )
    if isinstance(item.get("delivery"), dict):
        delivery = item["delivery"]
        return DeliveryEvent(
            page_id=page_id, timestamp=timestamp, contact_id=sender,
            watermark=parse_timestamp(delivery.get("watermark")),
            mids=tuple(_str(m) for m in _list(delivery.get("mids")) if _str(m)),
        )
    if isinstance(item.get("reaction"), dict):
        reaction = item["reaction"]
        return ReactionEvent(
            page_id=page_id, timestamp=timestamp, contact_id=sender, mid=_str(reaction.get("mid")),
            reaction=_str(reaction.get("reaction")), emoji=_str(reaction.get("emoji")),
            action=_str(reaction.get("action")) or "react",
        )
    if isinstance(item.get("message_edit"), dict):
        edit = item["message_edit"]
        try:
            num_edit = int(_str(edit.get("num_edit")) or 0)
        except ValueError:
            num_edit = 0
        return EditEvent(
            page_id=page_id, timestamp=timestamp, contact_id=sender, mid=_str(edit.get("mid")),
            text=_str(edit.get("text")), num_edit=num_edit,
        )
    if isinstance(item.get("referral"), dict):
        return ReferralEvent(page_id=page_id, timestamp=timestamp, contact_id=sender, referral=_json(item["referral"]))
    return Unknown(page_id=page_id, timestamp=timestamp, reason="unknown messaging event", raw=item)


def _parse_change(page_id: str, change: Any) -> Event:
    change = _dict(change)
    value = _dict(change.get("value"))
    if change.get("field") != "feed" or value.get("item") != "comment":
        return Unknown(page_id=page_id, timestamp=None, reason=f"feed change {value.get('item')!r}", raw=change)
    sender = _dict(value.get("from"))
    # Graph v2.11 replaced sender_id/sender_name with from{id,name}.
    from_id = _str(sender.get("id")) or _str(value.get("sender_id"))
    from_name = _str(sender.get("name")) or _str(value.get("sender_name"))
    comment_id = _str(value.get("comment_id"))
    post_id = _str(value.get("post_id"))
    if not comment_id or not post_id:
        return Unknown(page_id=page_id, timestamp=None, reason="comment without comment_id/post_id", raw=change)
    return CommentEvent(
        page_id=page_id,
        timestamp=parse_timestamp(value.get("created_time")),
        verb=_str(value.get("verb")),
        comment_id=comment_id,
        post_id=post_id,
        parent_id=_str(value.get("parent_id")) or post_id,
        from_id=from_id,
        from_name=from_name,
        message=_str(value.get("message")),
    )

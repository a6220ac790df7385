"""Meta's deliveries in: stored raw first, then turned into messages.

`store_delivery` is what the webhook view calls: one INSERT, answered at once.
`process_batch` is what the worker calls: the fresh deliveries, many in one
transaction. `process_delivery` takes one (the sweep's retries, the admin's
"reprocess", a batch that failed). Both are idempotent, so a delivery
processed twice, or the same event in two deliveries, changes nothing the
second time (messages are unique on Page + mid, comments on comment id).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from .. import meta_events as ev
from ..models import (
    Channel,
    Contact,
    Conversation,
    ConversationEvent,
    ConversationKind,
    ConversationStatus,
    Delivery,
    Direction,
    Message,
    Page,
    SendStatus,
)
from . import opportunities, rows

log = logging.getLogger(__name__)

PREVIEW_LENGTH = 140
# Réactif sets the Send API's `metadata` to this prefix + the message id, so
# that the echo Meta sends back is matched to the row, never a second message.
METADATA_PREFIX = "reactif:"


def store_delivery(*, body: bytes) -> tuple[Delivery, bool]:
    """Store a signed delivery durably; enqueue its processing on commit.

    Returns (delivery, created). A byte-identical retry from Meta is stored
    once and not processed again.
    """
    digest = hashlib.sha256(body).hexdigest()
    received_at = timezone.now()
    # One statement, in the request's autocommit: the webhook's whole cost is
    # per request, and get_or_create's BEGIN, SELECT, SAVEPOINT, INSERT,
    # RELEASE, COMMIT were most of it. ON CONFLICT makes a concurrent
    # byte-identical retry wait for the first INSERT and then insert nothing.
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_DELIVERY, [body, digest, connection.ops.adapt_datetimefield_value(received_at)])
        row = cursor.fetchone()
    if row is None:
        return Delivery.objects.get(body_sha256=digest), False
    delivery = Delivery(pk=row[0], body=body, body_sha256=digest, received_at=received_at)
    from ..tasks import enqueue_processing

    # At once in autocommit; after the caller's commit inside a transaction.
    # One task wakes the worker for any number of deliveries (tasks.py).
    transaction.on_commit(enqueue_processing)
    return delivery, True


def _insert_delivery_sql() -> str:
    quote = connection.ops.quote_name
    column = {f.name: quote(f.column) for f in Delivery._meta.concrete_fields if f.column}
    fields = ("body", "body_sha256", "received_at", "attempts", "last_error", "event_count", "ignored_count")
    names = ", ".join(column[name] for name in fields)
    # The model's defaults for the counters; SQLite (the embedded mode) speaks
    # the same ON CONFLICT … RETURNING. Names from the model, values bound.
    return (
        f"INSERT INTO {quote(Delivery._meta.db_table)} ({names}) VALUES (%s, %s, %s, 0, '', 0, 0) "  # noqa: S608 - model names, values bound  # nosec B608 - model names, values bound
        f"ON CONFLICT ({column['body_sha256']}) DO NOTHING RETURNING {column['id']}"
    )


_INSERT_DELIVERY = _insert_delivery_sql()


def process_delivery(*, delivery_id: int) -> bool:
    """Apply every event of a stored delivery. Returns False when there was
    nothing to do (already processed, or another worker holds it)."""
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update(skip_locked=True, no_key=True)
            .filter(pk=delivery_id, processed_at__isnull=True)
            .only("body", "received_at")
            .first()
        )
        if delivery is None:
            return False
        applied, ignored = _apply_events(_events_of(delivery), delivery=delivery)
        # The attempt is counted with the outcome: an attempt that raises rolls
        # everything back, and record_failure counts it instead.
        _mark_processed([delivery.pk], applied=applied, ignored=ignored)
    return True


# Fresh deliveries the worker takes in one transaction. Its fixed costs (the
# transaction, the deliveries' own reads and writes, the Pages, the live
# versions) are paid once for all of them; a batch holds its conversations'
# row locks for its whole length (a few hundred ms at most here).
BATCH_SIZE = 50


class BatchFailed(Exception):
    """A batch raised and rolled back as a whole: nothing of it was stored.
    Its deliveries are to be taken one by one (`process_delivery`), so that
    only the faulty one is counted as a failed attempt."""

    def __init__(self, delivery_ids: list[int]) -> None:
        super().__init__(f"a batch of {len(delivery_ids)} deliveries failed")
        self.delivery_ids = delivery_ids


def process_batch(*, limit: int | None = None) -> int:
    """Claim up to `limit` deliveries that no one has tried yet, oldest
    first, and apply them in one transaction. Returns how many were claimed
    (0: none left). Concurrent workers take different deliveries (skip
    locked). Deliveries already tried once are the sweep's (tasks.py): a
    faulty one is retried with a delay, never in a tight loop."""
    claimed: list[int] = []
    try:
        with transaction.atomic():
            deliveries = list(
                Delivery.objects.select_for_update(skip_locked=True, no_key=True)
                .filter(processed_at__isnull=True, attempts=0)
                .order_by("received_at", "pk")
                .only("body", "received_at")[: limit or BATCH_SIZE]
            )
            if not deliveries:
                return 0
            claimed = [delivery.pk for delivery in deliveries]
            parsed = [(delivery, _events_of(delivery)) for delivery in deliveries]
            with _batch_scope([event for _delivery, events in parsed for event in events]) as batch:
                outcomes: dict[tuple[int, int], list[int]] = defaultdict(list)
                for delivery, events in parsed:
                    outcomes[_apply_events(events, delivery=delivery)].append(delivery.pk)
                for (applied, ignored), ids in outcomes.items():
                    _mark_processed(ids, applied=applied, ignored=ignored)
                changed = batch.changed
            from .. import live

            transaction.on_commit(lambda: live.bump_many(changed))
    except Exception as exc:
        if not claimed:
            raise
        raise BatchFailed(claimed) from exc
    return len(claimed)


def _events_of(delivery: Delivery) -> list[ev.Event]:
    return ev.parse_delivery(ev.parse_body(bytes(delivery.body)))


def _apply_events(events: list[ev.Event], *, delivery: Delivery) -> tuple[int, int]:
    """Apply a delivery's events; returns how many were applied and ignored.

    In a batch, an event that raises fails the whole batch (BatchFailed),
    whose deliveries are then taken one by one, each event in a savepoint of
    its own: one bad event cannot take the others down with it, and the
    batch's events pay no SAVEPOINT and RELEASE each (two of a message's
    four statements). The race an event of a batch does meet, a concurrent
    worker storing the same message, does not raise (`rows.insert`'s
    `skip_stored`)."""
    applied = ignored = 0
    batch = _batch.get()
    for event in events:
        if batch is not None:
            stored = apply_event(event, received_at=delivery.received_at)
            batch.hand_back()
        else:
            stored = _apply_in_savepoint(event, delivery=delivery)
        applied += stored
        ignored += not stored
    return applied, ignored


def _apply_in_savepoint(event: ev.Event, *, delivery: Delivery) -> bool:
    """One event, alone: whether it was stored. A failure is this event's
    only, counted as ignored."""
    try:
        with transaction.atomic():
            return apply_event(event, received_at=delivery.received_at)
    except IntegrityError:
        # A concurrent worker stored the same message first.
        return False
    except DataError:
        # A value no real Meta event holds (an id longer than its
        # column): this event is kept in the raw body and skipped, so
        # it cannot hold back the others, or the delivery, forever.
        log.warning("Delivery %s: an event could not be stored", delivery.pk, exc_info=True)
        return False


def _mark_processed(delivery_ids: Sequence[int], *, applied: int, ignored: int) -> None:
    Delivery.objects.filter(pk__in=delivery_ids).update(
        processed_at=timezone.now(),
        attempts=F("attempts") + 1,
        event_count=applied,
        ignored_count=ignored,
        last_error="",
    )


@dataclass
class _Batch:
    """What a batch's events share: their Pages, which of their messages
    were not stored when it began, and the conversations they changed
    (whose live versions are bumped once, on commit)."""

    pages: dict[str, Page | None]
    # (Page, mid) of the batch's messages not stored when it began, until
    # an event of the batch meets them.
    absent_mids: set[tuple[int, str]]
    # Private threads read (and locked) when the batch began, by (Page,
    # contact's Meta id). An event of the contact takes its thread out: the
    # row may change through another object (an echo's reply, a read
    # receipt), and a later event then reads it again. A new message's event
    # writes the thread through this object alone, and hands it back once
    # it is stored (`hand_back`): the burst's next message reads nothing.
    threads: dict[tuple[int, str], Conversation]
    # The thread taken for the event being applied, if it was still there.
    current: Conversation | None = None
    # The thread the event being applied wrote through, and its key.
    written: tuple[tuple[int, str], Conversation] | None = None
    changed: set[tuple[int, int]] = field(default_factory=set)

    def take_thread(self, page: Page, contact_id: str) -> None:
        self.current = self.threads.pop((page.pk, contact_id), None)

    def hand_back(self) -> None:
        """The event is stored: its thread, as it wrote it, serves the next."""
        if self.written is not None:
            key, conversation = self.written
            self.threads[key] = conversation
            self.written = None


_batch: ContextVar[_Batch | None] = ContextVar("ingestion_batch", default=None)


@contextmanager
def _batch_scope(events: list[ev.Event]) -> Iterator[_Batch]:
    """Read once what a batch's events need, and lock their conversations.

    The locks are taken in one statement, in id order: two workers' batches
    sharing conversations then wait for each other instead of each holding
    one the other needs (a deadlock). The private threads read there serve
    their contacts' first events (`_locked_private_conversation`); an event
    that locks its conversation again holds the lock already."""
    meta_ids = {event.page_id for event in events if not isinstance(event, ev.Unknown)}
    pages: dict[str, Page | None] = dict.fromkeys(meta_ids)
    pages.update({page.meta_page_id: page for page in Page.objects.filter(meta_page_id__in=meta_ids)})
    threads, mids = Q(), Q()
    by_page: dict[int, tuple[set[str], set[str], set[str]]] = defaultdict(lambda: (set(), set(), set()))
    for event in events:
        page = pages.get(event.page_id)
        if page is None:
            continue
        contacts, roots, new_mids = by_page[page.pk]
        match event:
            case ev.MessageEvent() | ev.PostbackEvent():
                contacts.add(event.contact_id)
                if not (isinstance(event, ev.MessageEvent) and event.is_echo):
                    new_mids.add(event.mid)
            case ev.ReadEvent() | ev.DeliveryEvent():
                contacts.add(event.contact_id)
            case ev.CommentEvent():
                roots.add(event.comment_id if event.parent_id == event.post_id else event.parent_id)
    for page_id, (contacts, roots, new_mids) in by_page.items():
        if contacts:
            threads |= Q(page_id=page_id, kind=ConversationKind.PRIVATE, contact__page_id=page_id,
                         contact__external_id__in=contacts)
        if roots:
            threads |= Q(page_id=page_id, kind=ConversationKind.PUBLIC, root_comment_id__in=roots)
        if new_mids:
            mids |= Q(page_id=page_id, mid__in=new_mids)
    locked = (
        Conversation.objects.select_for_update(of=("self",), no_key=True)
        .select_related("contact")
        .filter(threads)
        .order_by("pk")
        if threads
        else []
    )
    private = {
        (conversation.page_id, conversation.contact.external_id): conversation
        for conversation in locked
        if conversation.kind == ConversationKind.PRIVATE and conversation.contact is not None
    }
    stored = set(Message.objects.filter(mids).values_list("page_id", "mid")) if mids else set()
    absent = {
        (page_id, mid) for page_id, (_c, _r, new_mids) in by_page.items() for mid in new_mids
    } - stored
    batch = _Batch(pages=pages, absent_mids=absent, threads=private)
    token = _batch.set(batch)
    try:
        yield batch
    finally:
        _batch.reset(token)


def record_failure(*, delivery_id: int, error: str) -> None:
    """A processing attempt raised. Its transaction (and the attempt count it
    held) rolled back, so the attempt is counted here: the sweep gives up
    after Delivery.MAX_ATTEMPTS and leaves the delivery to a human."""
    Delivery.objects.filter(pk=delivery_id, processed_at__isnull=True).update(
        last_error=error[:5000], attempts=F("attempts") + 1
    )


# ---------------------------------------------------------------------------


def apply_event(event: ev.Event, *, received_at: datetime) -> bool:
    """Apply one event. Returns False when it was kept but ignored."""
    if isinstance(event, ev.Unknown):
        return False
    batch = _batch.get()
    if batch is not None and event.page_id in batch.pages:
        page = batch.pages[event.page_id]
    else:
        page = Page.objects.filter(meta_page_id=event.page_id).first()
    if page is None:
        log.info("Ignoring an event for Page %s, which is not connected", event.page_id)
        return False
    if batch is not None:
        batch.take_thread(page, getattr(event, "contact_id", ""))
    # Meta's platform timestamp is the truth; only an event that carries none
    # (documented for deliveries) falls back to when we received it.
    at = event.timestamp or received_at
    match event:
        case ev.MessageEvent():
            return _apply_message(page, event, at)
        case ev.PostbackEvent():
            return _apply_postback(page, event, at)
        case ev.ReadEvent():
            return _apply_watermark(page, event.contact_id, "contact_read_up_to", event.watermark or at)
        case ev.DeliveryEvent():
            return _apply_watermark(page, event.contact_id, "contact_delivered_up_to", event.watermark or at)
        case ev.ReactionEvent():
            return _apply_reaction(page, event, at)
        case ev.EditEvent():
            return _apply_edit(page, event.mid, event.text, at)
        case ev.ReferralEvent():
            return _apply_referral(page, event, at)
        case ev.CommentEvent():
            return _apply_comment(page, event, at)
    return False


def _contact(page: Page, external_id: str, name: str = "") -> Contact:
    contact, created = Contact.objects.get_or_create(page=page, external_id=external_id, defaults={"name": name})
    if not created and name and not contact.name:
        contact.name = name
        contact.save(update_fields=["name"])
    if created and not name and external_id != page.meta_page_id:
        from ..tasks import enqueue_fetch_profile

        transaction.on_commit(lambda: enqueue_fetch_profile(contact.pk))
    return contact


def _private_conversation(
    page: Page, contact: Contact, *, status: str = ConversationStatus.OPEN, lock: bool = False
) -> Conversation:
    """The contact's private conversation, created if needed. `lock`: row
    locked for the rest of the transaction, as `message_added` needs it."""
    conversations = Conversation.objects.select_for_update(no_key=True) if lock else Conversation.objects
    conversation, _ = conversations.get_or_create(
        page=page, contact=contact, kind=ConversationKind.PRIVATE, defaults={"status": status}
    )
    # What ROs, the away message and the live bump read next, without loading
    # the Page and the contact again.
    conversation.page = page
    conversation.contact = contact
    return conversation


def _private_thread_of(page: Page, contact_id: str) -> dict[str, object]:
    """The lookup of a customer's private thread by their Meta id. The
    contact's Page is named as well as the thread's: the contact is then
    found through its unique (page, external_id) index. Without it PostgreSQL
    read every contact of every Page (9 ms a message at 100 k contacts,
    growing with them)."""
    return {"page": page, "kind": ConversationKind.PRIVATE, "contact__page": page, "contact__external_id": contact_id}


def _locked_private_conversation(page: Page, contact_id: str) -> Conversation:
    """The customer's private conversation, row locked as `message_added`
    needs it: one query when the contact and the thread exist, as they do
    for every message but a customer's first (none in a batch for the
    contact's first event, read with the batch's locks, nor for a message
    after a stored one: `_Batch.hand_back`)."""
    batch = _batch.get()
    if batch is not None and batch.current is not None:
        conversation: Conversation | None = batch.current
        batch.current = None
    else:
        conversation = (
            Conversation.objects.select_for_update(of=("self",), no_key=True)
            .select_related("contact")
            .filter(**_private_thread_of(page, contact_id))
            .first()
        )
    if conversation is None:
        conversation = _private_conversation(page, _contact(page, contact_id), lock=True)
    conversation.page = page
    if batch is not None:
        # Its callers write the thread through this object only (message_added).
        batch.written = ((page.pk, contact_id), conversation)
    return conversation


def _existing(page: Page, mid: str) -> Message | None:
    return Message.objects.filter(page=page, mid=mid).first()


def _may_be_stored(page: Page, mid: str) -> bool:
    """False for a message of the batch that was not stored when the batch
    began and is met for the first time: no need to look it up. A
    concurrent worker storing it meanwhile makes our INSERT fail on the
    unique (Page, mid), as it would after a lookup."""
    batch = _batch.get()
    if batch is None or (page.pk, mid) not in batch.absent_mids:
        return True
    batch.absent_mids.discard((page.pk, mid))  # a second event with this mid looks it up
    return False


def _apply_message(page: Page, event: ev.MessageEvent, at: datetime) -> bool:
    if event.is_echo:
        return _apply_echo(page, event, at)
    # Almost always absent: only what the check needs is read.
    existing = (
        Message.objects.filter(page=page, mid=event.mid).only("removed_at").first()
        if _may_be_stored(page, event.mid)
        else None
    )
    if existing is not None:
        if event.is_deleted and existing.removed_at is None:
            existing.removed_at = at
            existing.save(update_fields=["removed_at"])
            return True
        return False
    conversation = _locked_private_conversation(page, event.contact_id)
    message = Message(
        page=page,
        conversation=conversation,
        mid=event.mid,
        direction=Direction.INBOUND,
        channel=Channel.MESSENGER,
        timestamp=at,
        text=event.text,
        attachments=list(event.attachments),
        quick_reply_payload=event.quick_reply_payload[:1000],
        reply_to_mid=event.reply_to_mid,
        referral=event.referral,
        removed_at=at if event.is_deleted else None,
    )
    if not rows.insert(message, skip_stored=True):
        return False  # a concurrent worker stored it first (the thread and contact are the same)
    message_added(message, conversation=conversation)
    return True


def _apply_echo(page: Page, event: ev.MessageEvent, at: datetime) -> bool:
    """A message the Page sent: ours (matched by metadata or mid) or from
    anywhere else (Meta's inbox, another tool), which is a Page reply too."""
    ours = None
    our_id = _int(event.metadata.removeprefix(METADATA_PREFIX)) if event.metadata.startswith(METADATA_PREFIX) else None
    if our_id is not None:
        ours = Message.objects.filter(page=page, pk=our_id, direction=Direction.OUTBOUND).first()
    if ours is None:
        ours = _existing(page, event.mid)
    if ours is not None and ours.mid and ours.mid != event.mid:
        # Our reply already has its own echo: this is another message with the
        # same metadata (an agent re-sent a reply that had in fact gone out),
        # which the customer did receive, so it is kept below as one more.
        ours = None
    if ours is not None:
        # The echo proves Meta delivered it, even after an ambiguous error, and
        # carries the platform timestamp the figures must use.
        unconfirmed = ours.send_status in (SendStatus.QUEUED, SendStatus.SENDING, SendStatus.FAILED)
        if ours.mid == event.mid and ours.timestamp == at and not unconfirmed:
            return False
        # The reply moves from the time we stamped to Meta's: ROs must be
        # recomputed from the earlier of the two (the one it closed, too).
        moved_from = min(ours.timestamp, at)
        ours.mid = event.mid
        ours.timestamp = at
        if unconfirmed:
            ours.send_status = SendStatus.SENT
            ours.sent_at = ours.sent_at or timezone.now()
            ours.send_error = ""
            ours.maybe_delivered = False
        ours.save(update_fields=["mid", "timestamp", "send_status", "sent_at", "send_error", "maybe_delivered"])
        message_added(ours, since=moved_from)
        return True
    conversation = _locked_private_conversation(page, event.contact_id)
    message = Message(
        page=page,
        conversation=conversation,
        mid=event.mid,
        direction=Direction.OUTBOUND,
        channel=Channel.MESSENGER,
        timestamp=at,
        text=event.text,
        attachments=list(event.attachments),
        send_status=SendStatus.EXTERNAL,
        sent_at=at,
    )
    if not rows.insert(message, skip_stored=True):
        return False  # a concurrent worker stored it first (the thread and contact are the same)
    message_added(message, conversation=conversation)
    return True


def _apply_postback(page: Page, event: ev.PostbackEvent, at: datetime) -> bool:
    if _may_be_stored(page, event.mid) and _existing(page, event.mid) is not None:
        return False
    conversation = _locked_private_conversation(page, event.contact_id)
    message = Message(
        page=page,
        conversation=conversation,
        mid=event.mid,
        direction=Direction.INBOUND,
        channel=Channel.MESSENGER,
        timestamp=at,
        text=event.title,
        postback_title=event.title[:1000],
        postback_payload=event.payload[:1000],
        referral=event.referral,
    )
    if not rows.insert(message, skip_stored=True):
        return False  # a concurrent worker stored it first (the thread and contact are the same)
    message_added(message, conversation=conversation)
    return True


def _apply_watermark(page: Page, contact_id: str, field: str, watermark: datetime) -> bool:
    conversation = Conversation.objects.filter(**_private_thread_of(page, contact_id)).first()
    if conversation is None:
        return False
    current = getattr(conversation, field)
    if current is not None and current >= watermark:
        return False
    setattr(conversation, field, watermark)
    conversation.save(update_fields=[field])
    notify_conversation_changed(conversation)
    return True


def _apply_reaction(page: Page, event: ev.ReactionEvent, at: datetime) -> bool:
    message = _existing(page, event.mid)
    if message is None:
        return False
    reactions = [r for r in message.reactions if r.get("by") != event.contact_id]
    if event.action != "unreact":
        reactions.append({"by": event.contact_id, "reaction": event.reaction, "emoji": event.emoji,
                          "at": at.isoformat()})
    if reactions == message.reactions:
        return False
    message.reactions = reactions
    message.save(update_fields=["reactions"])
    ConversationEvent.objects.create(
        conversation=message.conversation, kind=f"reaction_{event.action}", at=at,
        data={"mid": event.mid, "reaction": event.reaction, "emoji": event.emoji},
    )
    notify_conversation_changed(message.conversation)
    return True


def _apply_edit(page: Page, mid: str, text: str, at: datetime) -> bool:
    message = _existing(page, mid)
    if message is None or message.text == text:
        return False
    # An edit changes the text of the message it edits; the old text is kept.
    message.edit_history = [*message.edit_history, {"text": message.text, "replaced_at": at.isoformat()}]
    message.text = text
    message.save(update_fields=["edit_history", "text"])
    notify_conversation_changed(message.conversation)
    return True


def _apply_referral(page: Page, event: ev.ReferralEvent, at: datetime) -> bool:
    contact = _contact(page, event.contact_id)
    # A referral alone (an ad click into an existing thread) asks for no answer.
    conversation = _private_conversation(page, contact, status=ConversationStatus.DONE)
    ConversationEvent.objects.create(conversation=conversation, kind="referral", at=at, data=event.referral)
    return True


def _apply_comment(page: Page, event: ev.CommentEvent, at: datetime) -> bool:
    existing = _existing(page, event.comment_id)
    if event.verb == "add":
        if existing is not None:
            return _retime_our_comment(existing, event)
        return _add_comment(page, event, at)
    if existing is None:
        return False
    if event.verb in ("edited", "edit"):
        return _apply_edit(page, event.comment_id, event.message, at)
    if event.verb in ("remove", "delete"):
        if existing.removed_at is not None:
            return False
        existing.removed_at = at
        existing.save(update_fields=["removed_at"])
    elif event.verb in ("hide", "unhide"):
        hidden = event.verb == "hide"
        if existing.is_hidden == hidden:
            return False
        existing.is_hidden = hidden
        existing.save(update_fields=["is_hidden"])
    else:
        return False
    ConversationEvent.objects.create(
        conversation=existing.conversation, kind=f"comment_{event.verb}", at=at, data={"comment_id": event.comment_id}
    )
    notify_conversation_changed(existing.conversation)
    return True


def _retime_our_comment(message: Message, event: ev.CommentEvent) -> bool:
    """The webhook of a public reply sent from Réactif, after the Graph API
    answered with its id: it brings the platform's created_time, which the
    figures use instead of the moment the answer came back."""
    if (
        message.direction != Direction.OUTBOUND
        or message.send_status != SendStatus.SENT
        or event.timestamp is None
        or message.timestamp == event.timestamp
    ):
        return False
    moved_from = min(message.timestamp, event.timestamp)
    message.timestamp = event.timestamp
    message.save(update_fields=["timestamp"])
    message_added(message, since=moved_from)
    return True


def _add_comment(page: Page, event: ev.CommentEvent, at: datetime) -> bool:
    from_page = event.from_id == page.meta_page_id
    # Facebook threads comments one level deep: a reply's parent is the
    # top-level comment, which roots the public thread.
    is_top_level = event.parent_id == event.post_id
    root_id = event.comment_id if is_top_level else event.parent_id
    parent = None if is_top_level else _existing(page, event.parent_id)
    conversation: Conversation | None
    if parent is not None and parent.conversation.kind == ConversationKind.PUBLIC:
        conversation = parent.conversation
    else:
        conversation = Conversation.objects.filter(
            page=page, kind=ConversationKind.PUBLIC, root_comment_id=root_id
        ).first()
    contact = None if from_page else _contact(page, event.from_id, event.from_name)
    if conversation is None:
        conversation = Conversation.objects.create(
            page=page,
            kind=ConversationKind.PUBLIC,
            root_comment_id=root_id,
            post_id=event.post_id,
            # The top-level commenter is the thread's contact; a reply that
            # arrives before its parent names its own author until then.
            contact=contact,
        )
    elif contact is not None and (conversation.contact_id is None or (is_top_level and conversation.contact_id != contact.pk)):
        conversation.contact = contact
        conversation.save(update_fields=["contact"])
    # A Page comment sent from Réactif was stored before it went out and got
    # its id from the Graph API's answer; matched above by mid. Anything else
    # from the Page is a reply made elsewhere.
    message = Message(
        page=page,
        conversation=conversation,
        mid=event.comment_id,
        direction=Direction.OUTBOUND if from_page else Direction.INBOUND,
        channel=Channel.COMMENT,
        timestamp=at,
        text=event.message,
        parent_comment_id=event.parent_id,
        send_status=SendStatus.EXTERNAL if from_page else "",
        sent_at=at if from_page else None,
    )
    rows.insert(message)
    message_added(message)
    return True


# ---------------------------------------------------------------------------


def message_added(
    message: Message, *, since: datetime | None = None, conversation: Conversation | None = None
) -> None:
    """Keep the conversation's summary, its ROs and the live views in step
    with a new (or newly timed) message. Same transaction as the message.
    `since`: a re-timed message's former timestamp, whose place in the thread
    (and the RO it closed there) must be recomputed too. `conversation`: the
    message's conversation, if the caller already holds its row lock."""
    if conversation is None:
        # The Page comes along (ROs need it) but is not locked: only this thread is.
        conversation = (
            Conversation.objects.select_for_update(of=("self",), no_key=True)
            .select_related("page")
            .get(pk=message.conversation_id)
        )
    fields = ["updated_at"]
    if message.channel != Channel.NOTE:
        joins_open_ro = (
            since is None
            and message.is_customer_message
            and conversation.due_at is not None
            and conversation.last_message_at is not None
            and message.timestamp >= conversation.last_message_at
        )
        if conversation.last_message_at is None or message.timestamp >= conversation.last_message_at:
            conversation.last_message_at = message.timestamp
            conversation.preview = (message.text or _attachment_label(message))[:PREVIEW_LENGTH]
            fields += ["last_message_at", "preview"]
        if message.is_customer_message:
            if conversation.last_customer_message_at is None or message.timestamp > conversation.last_customer_message_at:
                conversation.last_customer_message_at = message.timestamp
                fields.append("last_customer_message_at")
            # A customer writing again reopens a finished conversation.
            if conversation.status in (ConversationStatus.DONE, ConversationStatus.PENDING):
                conversation.status = ConversationStatus.OPEN
                fields.append("status")
        elif message.is_page_reply and (
            conversation.last_page_reply_at is None or message.timestamp > conversation.last_page_reply_at
        ):
            conversation.last_page_reply_at = message.timestamp
            fields.append("last_page_reply_at")
        if joins_open_ro:
            # The thread's RO is open (it has a deadline) and this customer
            # message comes after every message it holds: it joins that RO,
            # as a burst does (DOMAIN.md), and no RO or deadline changes. The
            # ROs are not read again: that read grew with the burst.
            opportunities.customer_joined_open_ro(conversation=conversation, at=message.timestamp)
        else:
            # The deadline the ROs give is saved with the summary, in one UPDATE.
            fields += opportunities.refresh(
                conversation=conversation, since=min(since or message.timestamp, message.timestamp), save=False
            )
    rows.update(conversation, fields)
    if message.is_customer_message:
        from . import away

        away.after_customer_message(message)
    notify_conversation_changed(conversation)


def notify_conversation_changed(conversation: Conversation) -> None:
    """Bump the live-update versions on commit, so polling clients refresh."""
    from .. import live

    page_id, conversation_id = conversation.page_id, conversation.pk
    batch = _batch.get()
    if batch is not None:
        batch.changed.add((page_id, conversation_id))  # bumped with the batch's, on commit
        return
    transaction.on_commit(lambda: live.bump(page_id=page_id, conversation_id=conversation_id))


def _attachment_label(message: Message) -> str:
    if message.attachments:
        kinds = ", ".join(sorted({a.get("type") or "file" for a in message.attachments}))
        return f"[{kinds}]"
    return ""


def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def metadata_for(message: Message) -> str:
    return f"{METADATA_PREFIX}{message.pk}"


def app_id() -> str:
    return settings.META_APP_ID

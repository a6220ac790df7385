"""Réactif's data: Pages, their people, their conversations, and what Meta sent.

Words follow shared/DOMAIN.md. Every index names the query it serves.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .fields import EncryptedTextField


class ReadReceipts(models.TextChoices):
    ON_REPLY = "on_reply", _("When we reply")
    ON_OPEN_IN_HOURS = "on_open_in_hours", _("When opened during opening hours")
    NEVER = "never", _("Never")


class Page(models.Model):
    meta_page_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    access_token = EncryptedTextField(blank=True)
    timezone = models.CharField(max_length=64, default="Europe/Paris")
    language = models.CharField(max_length=8, default="fr")

    # Responsiveness settings (DOMAIN.md defaults). Shares are kept in
    # per-mille integers so that the 90 % edge is exact.
    private_target_seconds = models.PositiveIntegerField(default=300)
    public_target_seconds = models.PositiveIntegerField(default=3600)
    target_share_permille = models.PositiveIntegerField(default=900)
    at_risk_seconds = models.PositiveIntegerField(default=60)
    window_days = models.PositiveIntegerField(default=7)

    human_agent_enabled = models.BooleanField(
        default=False, help_text=_("Meta granted the Human Agent feature (HUMAN_AGENT tag).")
    )
    read_receipts = models.CharField(
        max_length=20, choices=ReadReceipts.choices, default=ReadReceipts.ON_OPEN_IN_HOURS
    )
    signature_required = models.BooleanField(default=True)
    order_number_pattern = models.CharField(max_length=200, blank=True)

    # Saved-reply overuse thresholds (DOMAIN.md defaults).
    hot_template_threshold = models.PositiveIntegerField(default=10)
    agent_reliance_permille = models.PositiveIntegerField(default=300)
    public_repeat_threshold = models.PositiveIntegerField(default=2)

    # Meta answered 190 (token revoked or expired): replies stop until an
    # admin reconnects the Page.
    needs_reconnect = models.BooleanField(default=False)
    hours_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def target_seconds(self, kind: str) -> int:
        return self.public_target_seconds if kind == ConversationKind.PUBLIC else self.private_target_seconds


class Role(models.TextChoices):
    ADMIN = "admin", _("Admin")
    AGENT = "agent", _("Agent")


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.AGENT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "page"], name="membership_unique_user_page")]

    def __str__(self) -> str:
        return f"{self.user} – {self.page} ({self.role})"  # noqa: RUF001 - an en dash is meant


class ApiToken(models.Model):
    """A bearer token for the JSON API. Only its SHA-256 is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @staticmethod
    def generate_key() -> str:
        return "rk_" + secrets.token_urlsafe(32)


class Contact(models.Model):
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="contacts")
    # Meta PSID for Messenger, commenter id for comments.
    external_id = models.CharField(max_length=64)
    name = models.CharField(max_length=200, blank=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    language = models.CharField(max_length=8, blank=True)
    profile_fetched_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["page", "external_id"], name="contact_unique_page_external_id")
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return contact_display_name(self.name, self.first_name, self.last_name)


def contact_display_name(name: str, first_name: str, last_name: str) -> str:
    """A contact's name as every page shows it (also for a contact read as values)."""
    # Until Meta gives a name, or when it refuses the profile (100/2018218),
    # Meta's own inbox says "Facebook user"; a PSID means nothing to anyone.
    return name or " ".join(p for p in (first_name, last_name) if p) or gettext("Facebook user")


def person_name(first_name: str | None, username: str | None) -> str:
    """A member of the team as every page names them: their first name, else
    their username; "" for nobody (a person's columns read as values through
    a join are NULL without one)."""
    return first_name or username or ""


def joined_contact_display_name(name: str | None, first_name: str | None, last_name: str | None) -> str:
    """`contact_display_name` from a contact's columns read as values through
    a join: "" without a contact (its columns are NULL; an existing contact's
    are "" at worst)."""
    return "" if name is None else contact_display_name(name, first_name or "", last_name or "")


class ConversationKind(models.TextChoices):
    PRIVATE = "private", _("Private message")
    PUBLIC = "public", _("Public comment")


class ConversationStatus(models.TextChoices):
    OPEN = "open", _("Open")
    PENDING = "pending", _("Pending")
    SNOOZED = "snoozed", _("Snoozed")
    DONE = "done", _("Done")
    SPAM = "spam", _("Spam")


class Conversation(models.Model):
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="conversations")
    kind = models.CharField(max_length=10, choices=ConversationKind.choices)
    # Null only for a public thread whose first known message is the Page's
    # reply (delivered before the comment it answers); set when that arrives.
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.PROTECT, related_name="conversations"
    )
    # Public threads: one top-level comment on a post and the replies under it.
    post_id = models.CharField(max_length=100, blank=True)
    root_comment_id = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=ConversationStatus.choices, default=ConversationStatus.OPEN)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned"
    )
    snoozed_until = models.DateTimeField(null=True, blank=True)

    # Denormalised for the queue, kept by services in the same transaction as
    # the messages they summarise.
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_customer_message_at = models.DateTimeField(null=True, blank=True)
    last_page_reply_at = models.DateTimeField(null=True, blank=True)
    preview = models.CharField(max_length=200, blank=True)
    # The open response opportunity's deadline: the queue is ordered by it.
    due_at = models.DateTimeField(null=True, blank=True)
    received_while_closed = models.BooleanField(default=False)
    # Messenger read/delivery watermarks from the contact (platform time).
    contact_read_up_to = models.DateTimeField(null=True, blank=True)
    contact_delivered_up_to = models.DateTimeField(null=True, blank=True)
    mark_seen_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["page", "contact"],
                condition=Q(kind="private"),
                name="conversation_one_private_thread_per_contact",
            ),
            models.UniqueConstraint(
                fields=["page", "root_comment_id"],
                condition=Q(kind="public"),
                name="conversation_one_public_thread_per_comment",
            ),
        ]
        indexes = [
            # Triage queue: open conversations of a Page, most urgent first,
            # keyset-paginated on (due_at, id). Partial: the hot "open" set.
            models.Index(
                fields=["page", "due_at", "id"],
                condition=Q(status="open"),
                name="conv_queue_open_due",
            ),
            # Other status tabs (pending, snoozed, done, spam), newest first.
            models.Index(fields=["page", "status", "-last_message_at", "id"], name="conv_status_recent"),
            # "Mine" tab: an agent's open conversations.
            models.Index(
                fields=["assignee", "due_at", "id"], condition=Q(status="open"), name="conv_assignee_open_due"
            ),
            # Beat brings snoozed conversations back when their time comes.
            models.Index(
                fields=["snoozed_until"], condition=Q(status="snoozed"), name="conv_snoozed_until"
            ),
            # Saved replies' public_repeat warning: the public threads under one
            # post that the Page answered in the last 24 h.
            models.Index(
                fields=["page", "post_id", "last_page_reply_at"],
                condition=Q(kind="public"),
                name="conv_public_post_replied",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} – {self.contact}"  # noqa: RUF001 - an en dash is meant


class Direction(models.TextChoices):
    INBOUND = "in", _("From the customer")
    OUTBOUND = "out", _("From the Page")


class Channel(models.TextChoices):
    MESSENGER = "messenger", _("Messenger")
    COMMENT = "comment", _("Comment")
    PRIVATE_REPLY = "private_reply", _("Private reply to a comment")
    NOTE = "note", _("Internal note")


class SendStatus(models.TextChoices):
    # Outbound messages written in Réactif: stored before the Graph call.
    QUEUED = "queued", _("Sending")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    # Seen as an echo or a Page comment sent from elsewhere.
    EXTERNAL = "external", _("Sent outside Réactif")


class Message(models.Model):
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="messages")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    # Meta's mid for Messenger, the comment id for comments; null for notes
    # and for outbound messages not yet accepted by Meta.
    # NULL, not "": unique with the Page only where Meta gave one (every note
    # and queued reply would otherwise collide on "").
    mid = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 - see above
    direction = models.CharField(max_length=3, choices=Direction.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.MESSENGER)
    # Away replies and other messages Réactif sends by itself: never a Page reply.
    is_automatic = models.BooleanField(default=False)
    # Platform timestamp (event timestamp or comment created_time), never arrival time.
    timestamp = models.DateTimeField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    text = models.TextField(blank=True)
    attachments = models.JSONField(default=list, blank=True)
    quick_reply_payload = models.CharField(max_length=1000, blank=True)
    reply_to_mid = models.CharField(max_length=200, blank=True)
    postback_title = models.CharField(max_length=1000, blank=True)
    postback_payload = models.CharField(max_length=1000, blank=True)
    referral = models.JSONField(null=True, blank=True)
    # Public threads: the comment this one answers (post id for top level).
    parent_comment_id = models.CharField(max_length=200, blank=True)
    # Private reply to a comment: the comment it answers.
    recipient_comment_id = models.CharField(max_length=200, blank=True)

    # Edits, removals, hides, reactions: recorded, not customer messages.
    edit_history = models.JSONField(default=list, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    is_hidden = models.BooleanField(default=False)
    reactions = models.JSONField(default=list, blank=True)

    # Sending (outbound from Réactif).
    send_status = models.CharField(max_length=10, choices=SendStatus.choices, blank=True)
    messaging_type = models.CharField(max_length=20, blank=True)
    tag = models.CharField(max_length=30, blank=True)
    send_attempts = models.PositiveSmallIntegerField(default=0)
    send_error_code = models.IntegerField(null=True, blank=True)
    send_error_subcode = models.IntegerField(null=True, blank=True)
    send_error = models.CharField(max_length=500, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The outbox sweep must tell a lost task from a retry waiting out its
    # backoff, and an attempt cut off mid-call from one still talking to Meta:
    # `created_at` cannot, once a reply has been retried.
    next_attempt_at = models.DateTimeField(null=True, blank=True)  # queued: when its task is due
    attempt_started_at = models.DateTimeField(null=True, blank=True)  # sending: when the claim happened
    # Failed after Meta may have acted on it (1/1357046, a read timeout, an
    # interrupted attempt): never re-sent automatically; its echo still
    # confirms it, and an agent must confirm before sending it again.
    maybe_delivered = models.BooleanField(default=False)

    # Saved replies (templates_app): where the text came from, how edited.
    saved_reply = models.ForeignKey(
        "templates_app.SavedReply", null=True, blank=True, on_delete=models.SET_NULL, related_name="uses"
    )
    saved_reply_similarity = models.FloatField(null=True, blank=True)
    is_unedited_saved_reply = models.BooleanField(default=False)

    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # One row per Meta message/comment, whatever the number of deliveries.
            models.UniqueConstraint(
                fields=["page", "mid"], condition=Q(mid__isnull=False), name="message_unique_page_mid"
            ),
        ]
        indexes = [
            # The conversation view: a thread in timestamp order.
            models.Index(fields=["conversation", "timestamp", "id"], name="msg_thread_order"),
            # Saved-reply warnings: this Page's recent uses of a saved reply.
            models.Index(
                fields=["saved_reply", "timestamp"],
                condition=Q(saved_reply__isnull=False),
                name="msg_saved_reply_recent",
            ),
            # Agent reliance: an agent's last 50 replies.
            models.Index(
                fields=["author", "-timestamp"], condition=Q(direction="out"), name="msg_author_recent_out"
            ),
            # Dashboard and daily rollups (dashboard.raw_tallies): a Page's
            # replies sent in a few time ranges. Without it the planner reads
            # every reply the Page's agents ever sent (bench: 45 ms at 100 k
            # messages, growing with history; 0.5 ms with it).
            models.Index(
                fields=["page", "timestamp"], condition=Q(direction="out"), name="msg_page_replies_time"
            ),
            # The queue's search by text (selectors.queue): the newest matching
            # messages, walked from the newest. On PostgreSQL a trigram index
            # (migration 0007, msg_text_trgm) serves rare words.
            models.Index(fields=["timestamp", "id"], name="msg_recent"),
            # Outbox sweep: replies whose send task was lost.
            models.Index(
                fields=["send_status", "created_at"],
                condition=Q(send_status__in=["queued", "sending"]),
                name="msg_outbox_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} @ {self.timestamp:%Y-%m-%d %H:%M}: {self.text[:40]}"

    @property
    def is_note(self) -> bool:
        return self.channel == Channel.NOTE

    @property
    def is_customer_message(self) -> bool:
        return self.direction == Direction.INBOUND and self.channel != Channel.NOTE

    @property
    def is_page_reply(self) -> bool:
        return (
            self.direction == Direction.OUTBOUND
            and not self.is_automatic
            and self.channel != Channel.NOTE
            and self.send_status in (SendStatus.SENT, SendStatus.EXTERNAL)
        )


class Delivery(models.Model):
    """One POST from Meta, stored raw before anything else happens to it."""

    body = models.BinaryField()
    # The same delivery sent twice is stored once (Meta retries on timeouts).
    body_sha256 = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Counts of what the delivery held, for the admin and the reliability figures.
    event_count = models.PositiveIntegerField(default=0)
    ignored_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "deliveries"
        indexes = [
            # The sweep: deliveries that no task finished, oldest first.
            models.Index(fields=["received_at"], condition=Q(processed_at__isnull=True), name="delivery_unprocessed"),
        ]

    def __str__(self) -> str:
        return f"Delivery {self.pk} ({self.received_at:%Y-%m-%d %H:%M:%S})"

    # A delivery that keeps failing is left for a human after this many tries.
    MAX_ATTEMPTS = 10

    @property
    def is_stuck(self) -> bool:
        return self.processed_at is None and self.attempts >= self.MAX_ATTEMPTS


class ConversationEvent(models.Model):
    """Things that happen in a conversation and are not messages: referrals,
    reactions, hides, assignments, status changes."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=30)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["conversation", "at"], name="convevent_thread_order")]

    def __str__(self) -> str:
        return f"{self.kind} · conversation {self.conversation_id} · {self.at:%Y-%m-%d %H:%M}"


class ResponseOpportunityStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    ON_TIME = "on_time", _("On time")
    MISSED = "missed", _("Missed")


class ResponseOpportunity(models.Model):
    """DOMAIN.md's RO, kept by the worker as messages are processed, so that a
    window's figures are a bounded query over these rows."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="opportunities")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="opportunities")
    kind = models.CharField(max_length=10, choices=ConversationKind.choices)
    opened_by = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="opened_opportunity")
    opened_at = models.DateTimeField()
    clock_start = models.DateTimeField()
    due_at = models.DateTimeField()
    target_seconds = models.PositiveIntegerField()
    closed_by = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="closed_opportunities"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    response_seconds = models.PositiveIntegerField(null=True, blank=True)
    responder = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    status = models.CharField(
        max_length=10, choices=ResponseOpportunityStatus.choices, default=ResponseOpportunityStatus.PENDING
    )
    starts_conversation = models.BooleanField(default=False)
    # Set once by the deadline sweep (conditional UPDATE), whatever the
    # number of workers or beats.
    at_risk_marked_at = models.DateTimeField(null=True, blank=True)
    missed_marked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "response opportunities"
        indexes = [
            # Figures: a Page's ROs of one kind opened in a window.
            models.Index(fields=["page", "kind", "opened_at"], name="ro_page_kind_window"),
            # Deadline sweep: pending ROs by due time.
            models.Index(fields=["due_at"], condition=Q(status="pending"), name="ro_pending_due"),
            # Recomputation of one conversation from a point in time.
            models.Index(fields=["conversation", "opened_at"], name="ro_conversation_order"),
        ]

    def __str__(self) -> str:
        return f"RO {self.pk} · {self.kind} · {self.status} · due {self.due_at:%Y-%m-%d %H:%M}"

    @property
    def received_while_closed(self) -> bool:
        return self.clock_start > self.opened_at


class OpeningInterval(models.Model):
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="opening_intervals")
    weekday = models.PositiveSmallIntegerField()  # 0 = Monday
    start_minute = models.PositiveSmallIntegerField()
    end_minute = models.PositiveSmallIntegerField()  # 1440 = 24:00

    class Meta:
        ordering = ["weekday", "start_minute"]
        constraints = [
            models.CheckConstraint(condition=Q(weekday__lte=6), name="interval_weekday_range"),
            models.CheckConstraint(
                condition=Q(start_minute__lt=models.F("end_minute")) & Q(end_minute__lte=1440),
                name="interval_start_before_end",
            ),
        ]

    def __str__(self) -> str:
        return f"Page {self.page_id} · day {self.weekday} · {self.start_minute // 60:02d}:{self.start_minute % 60:02d}-{self.end_minute // 60:02d}:{self.end_minute % 60:02d}"


class ClosureDate(models.Model):
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="closures")
    day = models.DateField()
    yearly = models.BooleanField(default=False)
    label = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["day"]
        constraints = [models.UniqueConstraint(fields=["page", "day", "yearly"], name="closure_unique")]

    def __str__(self) -> str:
        return f"Page {self.page_id} · closed {self.day}" + (" (every year)" if self.yearly else "")


class AwayPeriod(models.Model):
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="away_periods")
    start = models.DateTimeField()
    until = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-start"]
        indexes = [models.Index(fields=["page", "start"], name="away_page_start")]

    def __str__(self) -> str:
        return f"Page {self.page_id} · away from {self.start:%Y-%m-%d %H:%M}" + (f" until {self.until:%Y-%m-%d %H:%M}" if self.until else "")


class AwayMessage(models.Model):
    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="away_messages")
    language = models.CharField(max_length=8)
    body = models.TextField()
    enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["page", "language"], name="away_message_unique_lang")]

    def __str__(self) -> str:
        return f"Page {self.page_id} · away message ({self.language})"


class AuditLog(models.Model):
    """Sign-ins, settings changes, hides, deletes and exports."""

    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    page = models.ForeignKey(Page, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=50)
    data = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["page", "-at"], name="audit_page_recent")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} · {self.action}"


class WorkerHeartbeat(models.Model):
    """One row, touched by a periodic task, read by /healthz."""

    name = models.CharField(max_length=50, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} · {self.beat_at:%Y-%m-%d %H:%M:%S}"

    def age(self) -> timedelta:
        return timezone.now() - self.beat_at


class DailyRollup(models.Model):
    """One Page's response opportunities of one kind opened on one local day,
    tallied (inbox.tallies) so that 30-day and longer views read one row a day
    instead of every RO. Kept by the beat (services.rollups); the worker marks
    a day stale when a late event changes one of its ROs. A row is used only
    when it is fresh, settled and computed with the Page's current time zone
    and target; otherwise that day is read from the ROs themselves."""

    page = models.ForeignKey(Page, on_delete=models.CASCADE, related_name="daily_rollups")
    kind = models.CharField(max_length=10, choices=ConversationKind.choices)
    day = models.DateField()
    # The settings the tally was computed with: a change makes the row unusable
    # until the beat computes it again.
    timezone = models.CharField(max_length=64, blank=True)
    target_seconds = models.PositiveIntegerField(default=0)
    # The day's [start, end) in UTC (23 or 25 hours on DST days).
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    # {"hours": Tally, "calendar": Tally}: clocks started at the next opening
    # (as Meta counts) and at the customer's message.
    tally = models.JSONField(default=dict, blank=True)
    # Page replies of the day per author: {user id: [replies, unedited saved replies]}.
    replies = models.JSONField(default=dict, blank=True)
    stale = models.BooleanField(default=True)
    # An RO of the day was still open and its count could change until then.
    settles_at = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Also serves the dashboard: a Page's days of one kind in a range.
            models.UniqueConstraint(fields=["page", "kind", "day"], name="rollup_unique_page_kind_day"),
        ]
        indexes = [
            # The beat's work list: days marked stale by the worker.
            models.Index(fields=["day"], condition=Q(stale=True), name="rollup_stale"),
            # The beat's work list: days whose open ROs have settled since.
            models.Index(fields=["settles_at"], condition=Q(settles_at__isnull=False), name="rollup_settling"),
        ]

    def __str__(self) -> str:
        return f"{self.page} {self.kind} {self.day}"

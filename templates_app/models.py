"""Saved replies: a starting point an agent adapts, never a bot's voice."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

# The languages a saved reply can be written in. A Page answers mostly in its
# own language; the picker prefers the contact's language when Meta gave it.
LANGUAGE_CHOICES = [
    ("fr", _("French")),
    ("en", _("English")),
    ("es", _("Spanish")),
    ("de", _("German")),
    ("it", _("Italian")),
    ("nl", _("Dutch")),
    ("pt", _("Portuguese")),
    ("ar", _("Arabic")),
]


class SavedReply(models.Model):
    # Scope: a Page's (shared by its team, managed by its admins) or a
    # personal one (owner set, page null), usable on every Page of its owner.
    page = models.ForeignKey("inbox.Page", null=True, blank=True, on_delete=models.CASCADE, related_name="saved_replies")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="saved_replies"
    )
    title = models.CharField(_("title"), max_length=120)
    # Stored lower-case without the leading "/", so that the picker's prefix
    # search is a plain, index-served LIKE 'hor%'.
    shortcut = models.SlugField(_("shortcut"), max_length=40, allow_unicode=True, db_index=False)
    body = models.TextField(_("body"))
    language = models.CharField(_("language"), max_length=8, default="fr", choices=LANGUAGE_CHOICES)
    tags = models.CharField(_("tags"), max_length=200, blank=True)
    # Lower-cased copies kept by the database itself (whatever writes the
    # row: services, bulk loads, the admin), so that the picker's title and
    # body search is a case-sensitive LIKE: upper() on every body made the
    # scan of a Page's 2,000 saved replies eight times slower.
    title_folded = models.GeneratedField(
        expression=Lower("title"), output_field=models.CharField(max_length=120), db_persist=True
    )
    body_folded = models.GeneratedField(expression=Lower("body"), output_field=models.TextField(), db_persist=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("saved reply")
        verbose_name_plural = _("saved replies")
        constraints = [
            # Exactly one scope: a Page's or someone's own.
            models.CheckConstraint(
                condition=(Q(page__isnull=False) & Q(owner__isnull=True)) | (Q(page__isnull=True) & Q(owner__isnull=False)),
                name="saved_reply_one_scope",
            ),
            # One live version per shortcut and language in a scope: "/hours"
            # may exist in French and English, never twice in French.
            models.UniqueConstraint(
                fields=["page", "shortcut", "language"],
                condition=Q(archived_at__isnull=True, page__isnull=False),
                name="saved_reply_page_unique_live",
            ),
            models.UniqueConstraint(
                fields=["owner", "shortcut", "language"],
                condition=Q(archived_at__isnull=True, owner__isnull=False),
                name="saved_reply_owner_unique_live",
            ),
        ]
        indexes = [
            # The composer's picker and the list: a Page's live saved replies
            # by shortcut prefix (pattern ops: LIKE 'hor%' on PostgreSQL).
            models.Index(
                fields=["page", "shortcut"],
                condition=Q(archived_at__isnull=True),
                name="saved_reply_page_live",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
            # The same for an agent's personal saved replies.
            models.Index(
                fields=["owner", "shortcut"],
                condition=Q(archived_at__isnull=True),
                name="saved_reply_owner_live",
                opclasses=["int4_ops", "varchar_pattern_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut} ({self.title})"

    @property
    def is_personal(self) -> bool:
        return self.page_id is None

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def tag_list(self) -> list[str]:
        return [tag.strip() for tag in self.tags.split(",") if tag.strip()]

"""Saved replies: a starting point an agent adapts, never a bot's voice."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class SavedReply(models.Model):
    # Scope: a Page's (shared by its team, managed by its admins) or a
    # personal one (owner set, page null).
    page = models.ForeignKey("inbox.Page", null=True, blank=True, on_delete=models.CASCADE, related_name="saved_replies")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="saved_replies"
    )
    title = models.CharField(_("title"), max_length=120)
    shortcut = models.SlugField(_("shortcut"), max_length=40, allow_unicode=True)
    body = models.TextField(_("body"))
    language = models.CharField(_("language"), max_length=8, default="fr")
    tags = models.CharField(_("tags"), max_length=200, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "saved replies"
        constraints = [
            models.CheckConstraint(
                condition=Q(page__isnull=False) | Q(owner__isnull=False), name="saved_reply_has_scope"
            ),
        ]
        indexes = [
            # The composer's picker: a Page's live saved replies by shortcut.
            models.Index(
                fields=["page", "shortcut"], condition=Q(archived_at__isnull=True), name="saved_reply_page_live"
            ),
            models.Index(
                fields=["owner", "shortcut"], condition=Q(archived_at__isnull=True), name="saved_reply_owner_live"
            ),
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut} – {self.title}"

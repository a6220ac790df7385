from __future__ import annotations

from django.contrib import admin

from .models import SavedReply


@admin.register(SavedReply)
class SavedReplyAdmin(admin.ModelAdmin):
    """Read-mostly: saved replies are managed in the app, whose services
    check variables and shortcuts; the admin is for looking things up."""

    list_display = ["shortcut", "title", "language", "page", "owner", "archived_at", "updated_at"]
    list_filter = ["language", "page"]
    search_fields = ["shortcut", "title", "body", "tags"]
    readonly_fields = ["page", "owner", "title", "shortcut", "body", "language", "tags", "archived_at",
                       "created_by", "created_at", "updated_at"]

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False

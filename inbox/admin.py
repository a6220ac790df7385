from __future__ import annotations

from django.contrib import admin, messages

from .models import (
    ApiToken,
    AuditLog,
    Contact,
    Conversation,
    Delivery,
    Membership,
    Message,
    Page,
    ResponseOpportunity,
)
from .services import ingestion


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Page)
class PageAdmin(admin.ModelAdmin):
    list_display = ["name", "meta_page_id", "timezone", "needs_reconnect"]
    search_fields = ["name", "meta_page_id"]
    inlines = [MembershipInline]
    # The token is write-only here: it is never shown back.
    exclude = ["access_token"]
    readonly_fields = ["hours_changed_at", "created_at"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "page", "role"]
    list_filter = ["role", "page"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """History: editing it would corrupt the figures built on it."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ["timestamp", "direction", "channel", "text", "send_status", "is_automatic"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["__str__", "page", "kind", "status", "assignee", "last_message_at", "due_at"]
    list_filter = ["page", "kind", "status"]
    search_fields = ["contact__name", "root_comment_id"]
    # Status and assignee are the agent's to change; the rest is history.
    fields = ["page", "kind", "contact", "status", "assignee", "snoozed_until", "post_id", "root_comment_id",
              "last_message_at", "last_customer_message_at", "due_at", "received_while_closed"]
    readonly_fields = ["page", "kind", "contact", "post_id", "root_comment_id", "last_message_at",
                       "last_customer_message_at", "due_at", "received_while_closed"]
    inlines = [MessageInline]


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["timestamp", "page", "direction", "channel", "send_status", "is_automatic"]
    list_filter = ["page", "direction", "channel", "send_status"]


@admin.register(Contact)
class ContactAdmin(ReadOnlyAdmin):
    list_display = ["display_name", "page", "external_id"]
    search_fields = ["name", "external_id"]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["pk", "received_at", "processed_at", "attempts", "event_count", "ignored_count"]
    list_filter = [("processed_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["body_text", "body_sha256", "received_at", "processed_at", "attempts", "last_error"]
    exclude = ["body"]
    actions = ["reprocess"]

    @admin.display(description="body")
    def body_text(self, obj: Delivery) -> str:
        return bytes(obj.body).decode("utf-8", errors="replace")

    @admin.action(description="Reprocess the selected deliveries")
    def reprocess(self, request, queryset):
        # Processing is idempotent: reprocessing changes only what was missing.
        ids = list(queryset.values_list("pk", flat=True))
        Delivery.objects.filter(pk__in=ids).update(processed_at=None, attempts=0)
        for delivery_id in ids:
            ingestion.process_delivery(delivery_id=delivery_id)
        messages.success(request, f"Reprocessed {len(ids)} deliveries.")


@admin.register(ResponseOpportunity)
class ResponseOpportunityAdmin(ReadOnlyAdmin):
    list_display = ["opened_at", "page", "kind", "status", "response_seconds", "due_at"]
    list_filter = ["page", "kind", "status"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "key_hash", "created_at", "last_used_at"]

    def has_add_permission(self, request, obj=None):
        return False  # tokens are created with create_api_token, which shows the key once


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor", "page", "action"]
    list_filter = ["action", "page"]

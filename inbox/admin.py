"""Django admin for operators: Pages, members, conversations, deliveries.

History (messages, deliveries, response opportunities, the audit log) is
read-only: editing it would corrupt the figures built on it. What an agent
may change (a conversation's status and assignee) goes through the same
services as the app, so it is logged and pushed to the live views.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .models import (
    ApiToken,
    AuditLog,
    Contact,
    Conversation,
    ConversationStatus,
    Delivery,
    Membership,
    Message,
    Page,
    ResponseOpportunity,
)
from .services import assign_conversation, ingestion, set_status


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Page)
class PageAdmin(admin.ModelAdmin):
    list_display = ["name", "meta_page_id", "timezone", "needs_reconnect"]
    search_fields = ["name", "meta_page_id"]
    inlines = [MembershipInline]
    # The token is never shown back, nor set here: `connect_page` sets it
    # (and clears needs_reconnect) from the operator's shell.
    exclude = ["access_token"]
    readonly_fields = ["meta_page_id", "needs_reconnect", "hours_changed_at", "created_at"]

    def has_add_permission(self, request, obj=None):
        return False  # connect_page, which takes the token


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "page", "role"]
    list_filter = ["role", "page"]
    autocomplete_fields = ["user"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """History: editing or deleting it would corrupt the figures built on it."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    fields = ("timestamp", "direction", "channel", "text", "send_status", "is_automatic")
    readonly_fields = fields
    can_delete = False
    show_change_link = True
    ordering = ["timestamp", "id"]

    def has_add_permission(self, request, obj=None):
        return False


class ConversationForm(forms.ModelForm):
    class Meta:
        model = Conversation
        fields = ["status", "assignee", "snoozed_until"]

    def clean(self):
        data = super().clean() or {}
        if data.get("status") == ConversationStatus.SNOOZED and (
            not data.get("snoozed_until") or data["snoozed_until"] <= timezone.now()
        ):
            self.add_error("snoozed_until", _("Snoozing needs a time in the future."))
        return data


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    form = ConversationForm
    list_display = ["__str__", "page", "kind", "status", "assignee", "last_message_at", "due_at"]
    list_filter = ["page", "kind", "status"]
    list_select_related = ["contact", "page", "assignee"]
    search_fields = ["contact__name", "root_comment_id"]
    # Status and assignee are the agent's to change; the rest is history.
    fields = ["page", "kind", "contact", "status", "assignee", "snoozed_until", "post_id", "root_comment_id",
              "last_message_at", "last_customer_message_at", "due_at", "received_while_closed"]
    readonly_fields = ["page", "kind", "contact", "post_id", "root_comment_id", "last_message_at",
                       "last_customer_message_at", "due_at", "received_while_closed"]
    inlines = [MessageInline]

    def has_add_permission(self, request, obj=None):
        return False  # conversations come from Meta

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # Through the services, as in the app: logged, and live views refresh.
        if {"status", "snoozed_until"} & set(form.changed_data):
            set_status(conversation=obj, status=obj.status, actor=request.user,
                       snoozed_until=obj.snoozed_until if obj.status == ConversationStatus.SNOOZED else None)
        if "assignee" in form.changed_data:
            assign_conversation(conversation=obj, assignee=obj.assignee, actor=request.user)


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["timestamp", "page", "direction", "channel", "send_status", "is_automatic"]
    list_filter = ["page", "direction", "channel", "send_status"]
    list_select_related = ["page"]


@admin.register(Contact)
class ContactAdmin(ReadOnlyAdmin):
    list_display = ["display_name", "page", "external_id"]
    list_select_related = ["page"]
    search_fields = ["name", "external_id"]


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["pk", "received_at", "processed_at", "attempts", "event_count", "ignored_count"]
    list_filter = [("processed_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["body_text", "body_sha256", "received_at", "processed_at", "attempts", "last_error",
                       "event_count", "ignored_count"]
    exclude = ["body"]
    actions = ["reprocess"]

    @admin.display(description=_("body"))
    def body_text(self, obj: Delivery) -> str:
        return bytes(obj.body).decode("utf-8", errors="replace")

    @admin.action(description=_("Reprocess the selected deliveries"), permissions=["view"])
    def reprocess(self, request, queryset):
        # Processing is idempotent: reprocessing changes only what was missing
        # (a Page connected since, a delivery left stuck after MAX_ATTEMPTS).
        ids = list(queryset.values_list("pk", flat=True))
        Delivery.objects.filter(pk__in=ids).update(processed_at=None, attempts=0)
        failed = 0
        for delivery_id in ids:
            try:
                ingestion.process_delivery(delivery_id=delivery_id)
            except Exception as exc:  # noqa: BLE001 - recorded on the delivery, as the task does
                ingestion.record_failure(delivery_id=delivery_id, error=repr(exc))
                failed += 1
        done = len(ids) - failed
        messages.success(request, ngettext("Reprocessed %(count)d delivery.", "Reprocessed %(count)d deliveries.",
                                           done) % {"count": done})
        if failed:
            messages.error(request, ngettext(
                "%(count)d delivery failed again: see its last error.",
                "%(count)d deliveries failed again: see their last error.", failed) % {"count": failed})


@admin.register(ResponseOpportunity)
class ResponseOpportunityAdmin(ReadOnlyAdmin):
    list_display = ["opened_at", "page", "kind", "status", "response_seconds", "due_at"]
    list_filter = ["page", "kind", "status"]
    list_select_related = ["page"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "created_at", "last_used_at", "revoked_at"]
    # Only revoking is done here, through the service (audited).
    readonly_fields = ["user", "prefix", "key_hash", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request, queryset):
        from .services import audit

        revoked = sum(audit.revoke_api_token(token=token, actor=request.user) for token in queryset)
        self.message_user(request, _("%(count)s token(s) revoked.") % {"count": revoked})

    def has_add_permission(self, request, obj=None):
        return False  # tokens are created with create_api_token, which shows the key once


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor", "page", "action"]
    list_filter = ["action", "page"]
    list_select_related = ["actor", "page"]

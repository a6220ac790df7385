"""The inbox's inputs, validated at the boundary before one service call.

Forms only check shapes and scope (a Page, a comment or a colleague the user
may name); the rules themselves (the 24-hour window, one private reply per
comment…) live in the services, which refuse with a reason.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from templates_app import guidance

from .models import Channel, ConversationKind, ConversationStatus, Page

# The triage view: open conversations with an answer due. Not a status of
# its own (DOMAIN.md has five), the queue's default tab.
WAITING = "waiting"
SEARCH_MAX_LENGTH = 100


class QueueFilterForm(forms.Form):
    VIEW_CHOICES = [
        ("all", pgettext_lazy("queue filter", "All")),
        ("mine", pgettext_lazy("queue filter", "Mine")),
        ("unassigned", pgettext_lazy("queue filter", "Unassigned")),
    ]
    KIND_CHOICES = [
        ("", pgettext_lazy("queue filter", "Everything")),
        (ConversationKind.PRIVATE, _("Private")),
        (ConversationKind.PUBLIC, _("Public")),
    ]
    STATUS_CHOICES = [
        (WAITING, _("To answer")),
        (ConversationStatus.OPEN, _("Open (all)")),
        (ConversationStatus.PENDING, _("Pending")),
        (ConversationStatus.SNOOZED, _("Snoozed")),
        (ConversationStatus.DONE, _("Done")),
        (ConversationStatus.SPAM, _("Spam")),
    ]

    view = forms.ChoiceField(choices=VIEW_CHOICES, required=False)
    kind = forms.ChoiceField(choices=KIND_CHOICES, required=False)
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    page = forms.ChoiceField(required=False)
    q = forms.CharField(required=False, max_length=SEARCH_MAX_LENGTH, strip=True)
    after = forms.CharField(required=False, max_length=200)

    def __init__(self, *args: Any, pages: list[Page], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pages = pages
        # Choices from the user's Pages, already loaded: a Page the user is
        # not a member of is not a choice, and no query is spent on it.
        self.fields["page"].choices = [("", _("All Pages")), *((str(p.pk), p.name) for p in pages)]  # type: ignore[attr-defined]

    def clean_page(self) -> Page | None:
        raw = self.cleaned_data.get("page") or ""
        return next((p for p in self.pages if str(p.pk) == raw), None)

    def value(self, name: str) -> str:
        """A cleaned value, or its default when the form is invalid."""
        data = self.cleaned_data if self.is_valid() else {}
        return data.get(name) or {"view": "all", "status": WAITING}.get(name, "")


class ReplyForm(forms.Form):
    text = forms.CharField(strip=True, max_length=guidance.MAX_TEXT_LENGTH * 4, required=False)
    channel = forms.ChoiceField(
        choices=[(Channel.MESSENGER, Channel.MESSENGER.label), (Channel.COMMENT, _("Public reply")),
                 (Channel.PRIVATE_REPLY, _("Private reply"))],
        required=False,
    )
    comment = forms.IntegerField(required=False, min_value=1)
    saved_reply_id = forms.IntegerField(required=False, min_value=1)

    def confirmed(self) -> set[str]:
        """Warning ids the agent confirmed ("Send anyway" sends them
        comma-joined when several ask for confirmation at once)."""
        values = self.data.getlist("confirmed") if hasattr(self.data, "getlist") else []
        return {part.strip() for value in values for part in value.split(",") if part.strip()}


class NoteForm(forms.Form):
    text = forms.CharField(strip=True, max_length=10_000)


SNOOZE_CHOICES = [
    ("1h", _("In 1 hour")),
    ("3h", _("In 3 hours")),
    ("tomorrow", _("Tomorrow at 9:00")),
    ("monday", _("Monday at 9:00")),
    ("custom", _("Pick a time")),
]
# "Tomorrow morning" in the Page's own time zone, when the team is back.
SNOOZE_MORNING = time(9, 0)


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=ConversationStatus.choices)
    snooze = forms.ChoiceField(choices=SNOOZE_CHOICES, required=False)
    until = forms.DateTimeField(
        required=False, input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args: Any, page: Page, now: datetime | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.page = page
        self.now = now or timezone.now()

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["snoozed_until"] = None
        if data.get("status") != ConversationStatus.SNOOZED:
            return data
        zone = ZoneInfo(self.page.timezone)
        local_now = self.now.astimezone(zone)
        choice = data.get("snooze") or ("custom" if data.get("until") else "1h")
        if choice == "1h":
            until = self.now + timedelta(hours=1)
        elif choice == "3h":
            until = self.now + timedelta(hours=3)
        elif choice == "tomorrow":
            until = datetime.combine(local_now.date() + timedelta(days=1), SNOOZE_MORNING, zone)
        elif choice == "monday":
            days = 7 - local_now.weekday()
            until = datetime.combine(local_now.date() + timedelta(days=days), SNOOZE_MORNING, zone)
        else:
            raw = data.get("until")
            if raw is None:
                raise forms.ValidationError(_("Pick the time the conversation comes back."))
            # The time picked is the Page's local time, whatever the browser's.
            until = raw.replace(tzinfo=zone) if timezone.is_naive(raw) else raw.astimezone(zone)
        if until <= self.now:
            raise forms.ValidationError(_("Pick a time in the future."))
        data["snoozed_until"] = until
        return data


class AssignForm(forms.Form):
    """`assignee`: "me", "" (nobody) or a colleague's id on this Page."""

    assignee = forms.CharField(required=False)

    def __init__(self, *args: Any, user: Any, members: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.members = members

    def clean_assignee(self) -> Any:
        raw = (self.cleaned_data.get("assignee") or "").strip()
        if raw == "":
            return None
        if raw == "me":
            raw = str(self.user.pk)
        for member in self.members:
            if str(member.pk) == raw:
                return member
        raise forms.ValidationError(_("Only a member of this Page can be assigned."))


class HideForm(forms.Form):
    hidden = forms.BooleanField(required=False)
    reason = forms.CharField(required=False, max_length=500, strip=True)

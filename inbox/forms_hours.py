"""Forms of the business-hours settings and the away switch. They validate
and convert what people type; the services in services/hours.py,
services/away.py and services/page_settings.py do the writing."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext_lazy as _

from templates_app import guidance

from .models import OpeningInterval, Page, ReadReceipts
from .services import away, hours

# Zones people pick most often first; the full IANA list follows.
COMMON_ZONES = (
    "Europe/Paris", "Europe/Brussels", "Europe/Zurich", "Europe/Luxembourg", "Europe/London",
    "America/Montreal", "America/New_York", "Indian/Reunion", "America/Martinique",
    "America/Guadeloupe", "Pacific/Noumea", "Africa/Casablanca", "Africa/Dakar",
)  # fmt: skip

WEEKDAY_CHOICES = [(day, WEEKDAYS[day]) for day in range(7)]

# "9", "9:00", "09:00", "9h", "9h30", "9 h 30", "24:00": what people type.
_CLOCK = re.compile(r"^\s*(?P<hours>\d{1,2})\s*(?:[:hH.]\s*(?P<minutes>\d{2})?)?\s*$")


def parse_clock(text: str) -> int:
    """Minutes since midnight; 24:00 (1440) is allowed, to end a day."""
    match = _CLOCK.match(text or "")
    if match is None:
        raise forms.ValidationError(_("Write a time such as 09:00."), code="time")
    hours_part, minutes_part = int(match["hours"]), int(match["minutes"] or 0)
    if minutes_part > 59 or hours_part > 24 or (hours_part == 24 and minutes_part):
        raise forms.ValidationError(_("Write a time between 00:00 and 24:00."), code="time")
    return hours_part * 60 + minutes_part


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class ClockField(forms.Field):
    """A clock time typed as text (a time input cannot say 24:00), as minutes."""

    def to_python(self, value: Any) -> int | None:
        text = str(value or "").strip()
        if not text:
            return None
        if len(text) > 8:
            raise forms.ValidationError(_("Write a time such as 09:00."), code="time")
        return parse_clock(text)


class IntervalForm(forms.Form):
    weekday = forms.TypedChoiceField(choices=WEEKDAY_CHOICES, coerce=int)
    start = ClockField(label=_("Opens at"))
    end = ClockField(label=_("Closes at"))

    def __init__(self, *args: Any, page: Page, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.page = page

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        weekday, start, end = cleaned.get("weekday"), cleaned.get("start"), cleaned.get("end")
        if weekday is None or start is None or end is None:
            return cleaned
        if start == 1440:
            raise forms.ValidationError(_("An interval cannot start at 24:00: start it at 00:00 the next day."))
        if end == start:
            raise forms.ValidationError(_("The end must come after the start."))
        if end < start:
            raise forms.ValidationError(
                _("An interval may not cross midnight: end this one at 24:00 and add one from 00:00 on "
                  "the next day."),
                code="midnight",
            )
        for other in OpeningInterval.objects.filter(page=self.page, weekday=weekday):
            if start < other.end_minute and other.start_minute < end:
                raise forms.ValidationError(
                    _("This overlaps %(start)s–%(end)s on the same day.")  # noqa: RUF001 - a range of times
                    % {"start": _hhmm(other.start_minute), "end": _hhmm(other.end_minute)},
                    code="overlap",
                )
        return cleaned


class CopyDayForm(forms.Form):
    weekday = forms.TypedChoiceField(choices=WEEKDAY_CHOICES, coerce=int)
    to = forms.TypedMultipleChoiceField(choices=WEEKDAY_CHOICES, coerce=int, label=_("Copy to"))

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        targets = [day for day in cleaned.get("to", []) if day != cleaned.get("weekday")]
        if "to" in cleaned and not targets:
            raise forms.ValidationError(_("Choose the days to copy to."))
        cleaned["to"] = targets
        return cleaned


def timezone_choices() -> list[tuple[str, str]]:
    others = sorted(available_timezones() - set(COMMON_ZONES) - {"localtime", "Factory"})
    return [(zone, zone.replace("_", " ")) for zone in (*COMMON_ZONES, *others)]


class TimezoneForm(forms.Form):
    timezone = forms.ChoiceField(label=_("Time zone"), choices=timezone_choices)


class ClosureForm(forms.Form):
    day = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    label = forms.CharField(label=_("Reason (optional)"), max_length=100, required=False)
    yearly = forms.BooleanField(label=_("Every year"), required=False)

    def __init__(self, *args: Any, page: Page, today: date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.page, self.today = page, today

    def clean_day(self) -> date:
        day: date = self.cleaned_data["day"]
        if day < self.today and not self.data.get("yearly"):
            raise forms.ValidationError(_("This date is past: choose a date to come."))
        return day


class HolidaysForm(forms.Form):
    year = forms.IntegerField()

    def __init__(self, *args: Any, today: date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today

    def clean_year(self) -> int:
        year: int = self.cleaned_data["year"]
        if not self.today.year <= year <= self.today.year + 2:
            raise forms.ValidationError(_("Choose this year or one of the next two."))
        return year


AWAY_DURATIONS = [
    ("", _("until switched off")),
    ("30", _("for 30 minutes")),
    ("60", _("for 1 hour")),
    ("120", _("for 2 hours")),
    ("240", _("for 4 hours")),
    ("custom", _("until a time…")),
]


class AwayForm(forms.Form):
    """Switch away on (with an optional end) or off. The end is typed in the
    Page's time zone, whatever the browser's."""

    action = forms.ChoiceField(choices=[("start", "start"), ("end", "end")])
    duration = forms.ChoiceField(choices=AWAY_DURATIONS, required=False, label=_("How long"))
    until = forms.DateTimeField(
        required=False, label=_("Until"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )

    def __init__(self, *args: Any, page: Page, now: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.page, self.now = page, now

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        cleaned["until_at"] = None
        if cleaned.get("action") != "start":
            return cleaned
        duration = cleaned.get("duration") or ""
        if duration == "custom":
            until = cleaned.get("until")
            if until is None:
                raise forms.ValidationError(_("Choose when the away period ends."))
            # The form field made it aware in the server's zone; the person
            # meant the wall clock of the Page.
            wall = timezone.make_naive(until) if timezone.is_aware(until) else until
            until_at = wall.replace(tzinfo=ZoneInfo(self.page.timezone))
            if until_at <= self.now:
                raise forms.ValidationError(_("The end of an away period must be in the future."))
            if until_at - self.now > hours.MAX_AWAY:
                raise forms.ValidationError(_("An away period lasts at most 90 days: add closure dates instead."))
            cleaned["until_at"] = until_at
        elif duration:
            cleaned["until_at"] = self.now + timedelta(minutes=int(duration))
        return cleaned


class AwayMessageForm(forms.Form):
    body = forms.CharField(label=_("Message"), widget=forms.Textarea(attrs={"rows": 4}), required=False,
                           max_length=guidance.MAX_TEXT_LENGTH - 200)
    enabled = forms.BooleanField(label=_("Send this message while unavailable"), required=False)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        body = (cleaned.get("body") or "").strip()
        if cleaned.get("enabled") and not body:
            raise forms.ValidationError(_("Write the message before turning it on."))
        unknown = away.unknown_variables(body)
        if unknown:
            raise forms.ValidationError(
                _("Unknown variable: %(names)s. Use %(known)s.")
                % {
                    "names": ", ".join(map(away.placeholder, unknown)),
                    "known": ", ".join(map(away.placeholder, away.VARIABLES)),
                },
                code="variables",
            )
        cleaned["body"] = body
        return cleaned


def language_choices() -> list[tuple[str, str]]:
    return [(code, str(name)) for code, name in settings.LANGUAGES]


class PageSettingsForm(forms.Form):
    """Targets are typed in minutes and percent, stored in seconds and per mille."""

    language = forms.ChoiceField(label=_("Language of the Page"), choices=language_choices,
                                 help_text=_("Away messages use it unless you wrote one in the customer's language."))
    read_receipts = forms.ChoiceField(label=_("Show customers their message was seen"), choices=ReadReceipts.choices)
    human_agent_enabled = forms.BooleanField(
        label=_("Meta granted this Page the Human Agent feature"), required=False,
        help_text=_("Lets an agent answer up to 7 days after the customer's last message (HUMAN_AGENT tag)."),
    )
    private_target_minutes = forms.IntegerField(label=_("Private messages: answer within (minutes)"),
                                                min_value=1, max_value=24 * 60)
    public_target_minutes = forms.IntegerField(label=_("Public comments: answer within (minutes)"),
                                               min_value=1, max_value=7 * 24 * 60)
    target_share_percent = forms.IntegerField(label=_("Share of answers on time to aim for (%)"),
                                              min_value=50, max_value=100)
    at_risk_seconds = forms.IntegerField(label=_("Warn when this many seconds are left"),
                                         min_value=0, max_value=3600)

    @classmethod
    def initial_for(cls, page: Page) -> dict[str, Any]:
        return {
            "language": page.language,
            "read_receipts": page.read_receipts,
            "human_agent_enabled": page.human_agent_enabled,
            "private_target_minutes": max(1, round(page.private_target_seconds / 60)),
            "public_target_minutes": max(1, round(page.public_target_seconds / 60)),
            "target_share_percent": round(page.target_share_permille / 10),
            "at_risk_seconds": page.at_risk_seconds,
        }

    def values(self, page: Page) -> dict[str, Any]:
        data = self.cleaned_data

        def seconds(minutes: int, current: int) -> int:
            # A target of 90 s shows as 2 min: saving the form unchanged keeps 90 s.
            return current if minutes == max(1, round(current / 60)) else minutes * 60

        return {
            "language": data["language"],
            "read_receipts": data["read_receipts"],
            "human_agent_enabled": data["human_agent_enabled"],
            "private_target_seconds": seconds(data["private_target_minutes"], page.private_target_seconds),
            "public_target_seconds": seconds(data["public_target_minutes"], page.public_target_seconds),
            "target_share_permille": data["target_share_percent"] * 10,
            "at_risk_seconds": data["at_risk_seconds"],
        }

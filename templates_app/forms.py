"""Inputs of the saved-replies pages. Forms check shapes and which scopes the
user may choose; what makes a saved reply valid (known variables, a free
shortcut…) is services.saved_reply_problems, shared with the CSV import."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from . import services
from .models import LANGUAGE_CHOICES, SavedReply
from .selectors import Scope, manageable_pages

PERSONAL = "personal"


class SavedReplyForm(forms.Form):
    title = forms.CharField(
        label=_("Title"), max_length=services.TITLE_MAX_LENGTH,
        help_text=_("What the team sees in the list and the picker, e.g. “Opening hours”."),
    )
    shortcut = forms.CharField(
        label=_("Shortcut"), max_length=services.SHORTCUT_MAX_LENGTH + 1,
        help_text=_("Type / then this in the composer, e.g. /hours."),
    )
    body = forms.CharField(
        label=_("Reply"), widget=forms.Textarea(attrs={"rows": 8}), max_length=services.BODY_MAX_LENGTH + 200,
        strip=False,
    )
    language = forms.ChoiceField(label=_("Language"), choices=LANGUAGE_CHOICES)
    tags = forms.CharField(
        label=_("Tags"), required=False, max_length=services.TAGS_MAX_LENGTH,
        help_text=_("Separated by commas, e.g. shop, delivery."),
    )
    scope = forms.ChoiceField(label=_("Shared with"))

    def __init__(self, *args: Any, user: Any, instance: SavedReply | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.instance = instance
        self.pages = {str(page.pk): page for page in manageable_pages(user)}
        self.fields["scope"].choices = [  # type: ignore[attr-defined]
            *((pk, _("Everyone on %(page)s") % {"page": page.name}) for pk, page in self.pages.items()),
            (PERSONAL, _("Only me (personal)")),
        ]
        self.fields["body"].widget.attrs.update({"id": "id_body", "spellcheck": "true"})
        self.fields["shortcut"].widget.attrs.update({"autocapitalize": "none", "autocomplete": "off"})

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        raw_scope = data.get("scope")
        if raw_scope == PERSONAL:
            scope = Scope(page=None, owner=self.user, can_manage=True)
        elif raw_scope in self.pages:
            scope = Scope(page=self.pages[raw_scope], owner=None, can_manage=True)
        else:
            return data
        if any(name not in data for name in ("title", "shortcut", "body", "language")):
            return data
        reply = services.SavedReplyData(
            title=data["title"], shortcut=data["shortcut"], body=data["body"], language=data["language"],
            tags=data.get("tags", ""),
        ).cleaned()
        for name, messages in services.saved_reply_problems(
            reply, scope=scope, exclude_pk=self.instance.pk if self.instance else None
        ).items():
            for message in messages:
                self.add_error(name, message)
        data["reply"], data["scope_obj"] = reply, scope
        return data


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"),
        help_text=_("Columns: shortcut, title, language, tags, body. The first line names them."),
    )
    language = forms.ChoiceField(
        label=_("Language of rows without one"), choices=LANGUAGE_CHOICES, initial="fr"
    )

    def clean_file(self) -> bytes:
        upload = self.cleaned_data["file"]
        if upload.size and upload.size > services.IMPORT_MAX_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(size)s MB.") % {"size": services.IMPORT_MAX_BYTES // (1024 * 1024)}
            )
        return upload.read()


class PreviewForm(forms.Form):
    body = forms.CharField(required=False, strip=False, max_length=services.BODY_MAX_LENGTH * 4)
    language = forms.ChoiceField(required=False, choices=LANGUAGE_CHOICES)
    scope = forms.CharField(required=False)


class GuidanceSettingsForm(forms.Form):
    """A Page's thresholds for the composer's warnings (DOMAIN.md defaults)."""

    hot_template_threshold = forms.IntegerField(
        label=_("Warn when one saved reply was sent this many times in 24 hours"), min_value=2, max_value=10_000,
    )
    agent_reliance_percent = forms.IntegerField(
        label=_("Warn an agent when more than this share of their last 50 replies were unedited saved replies (%)"),
        min_value=1, max_value=100,
    )
    public_repeat_threshold = forms.IntegerField(
        label=_("Warn when the same public reply is already under a post this many times in 24 hours"),
        min_value=1, max_value=1000,
    )
    signature_required = forms.BooleanField(
        label=_("Replies are signed with the agent's first name"), required=False,
    )
    order_number_pattern = forms.CharField(
        label=_("Order numbers look like (regular expression)"), required=False,
        max_length=services.guidance.MAX_ORDER_PATTERN_LENGTH,
        help_text=_("e.g. CMD-\\d{6}. Public replies holding one are flagged as personal data."),
    )

    def clean_order_number_pattern(self) -> str:
        pattern = (self.cleaned_data.get("order_number_pattern") or "").strip()
        if pattern:
            try:
                services.guidance.compile_order_pattern(pattern)
            except services.guidance.OrderPatternError as exc:
                reasons: dict[str, str] = {
                    "too_long": gettext("At most %(limit)s characters.")
                    % {"limit": services.guidance.MAX_ORDER_PATTERN_LENGTH},
                    "invalid": gettext("This is not a valid regular expression: %(error)s.")
                    % {"error": str(exc.__cause__ or exc)},
                    "nested": gettext("This pattern repeats a group that itself repeats without bound, which can "
                                "take forever on some texts: write it without nested repetition, e.g. "
                                "CMD-\\d{6}."),
                    "empty": gettext("This pattern matches empty text: every reply would be flagged."),
                }
                raise forms.ValidationError(reasons.get(exc.code, str(exc))) from exc
        return pattern

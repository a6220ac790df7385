"""Saved replies' writes and the composer's checks (DOMAIN.md "Saved replies
and their overuse", "Composer guidance").

The inbox's composer calls ``composer_warnings`` (before sending, and live as
the agent types) and ``saved_reply_use`` (when sending). Every write to a
saved reply goes through the functions below, whatever the entry point (the
management pages, the CSV import, the admin).
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from inbox.models import AuditLog, Conversation, Message, Page
from inbox.services.sending import SavedReplyUse

from . import guidance, rendering, selectors
from .models import LANGUAGE_CHOICES, SavedReply
from .selectors import Scope

# --- The composer's checks: the inbox's two entry points ------------------------------
# Reads only; they live in selectors.py (draft_warnings, saved_reply_origin),
# where the benchmarks call them too.


def composer_warnings(
    *,
    conversation: Conversation,
    agent: Any,
    text: str,
    saved_reply_id: int | None,
    channel: str,
    comment: Message | None = None,
    now: datetime | None = None,
) -> list[guidance.Warning]:
    """Every warning and piece of guidance for a draft (selectors.draft_warnings)."""
    return selectors.draft_warnings(
        conversation=conversation, agent=agent, text=text, saved_reply_id=saved_reply_id, channel=channel,
        comment=comment, now=now,
    )


def saved_reply_use(
    *, conversation: Conversation, agent: Any, text: str, saved_reply_id: int | None
) -> SavedReplyUse | None:
    """Which saved reply a reply came from and how similar it stayed
    (selectors.saved_reply_origin); send_reply stores it on the message."""
    return selectors.saved_reply_origin(
        conversation=conversation, agent=agent, text=text, saved_reply_id=saved_reply_id
    )


# --- Validation shared by the form, the import and the services -------------------

SHORTCUT_MAX_LENGTH = 40
TITLE_MAX_LENGTH = 120
TAGS_MAX_LENGTH = 200
# A saved reply must fit one Messenger message once rendered; a body near the
# limit leaves no room for a first name or an adaptation.
BODY_MAX_LENGTH = guidance.MAX_TEXT_LENGTH - 1
LANGUAGES = tuple(code for code, _label in LANGUAGE_CHOICES)


class SavedReplyRefused(ValueError):
    """A saved reply that cannot be saved as given; ``errors`` by field."""

    def __init__(self, errors: Mapping[str, Sequence[str]]):
        super().__init__("; ".join(message for messages in errors.values() for message in messages))
        self.errors = {name: list(messages) for name, messages in errors.items()}


def normalize_shortcut(raw: str) -> str:
    """"/Horaires d'été" → "horaires-dete": lower-case, no leading slash, a
    slug, so that typing "/hor" finds it whatever the case."""
    return slugify(raw.strip().lstrip("/"), allow_unicode=True)[:SHORTCUT_MAX_LENGTH]


def normalize_tags(raw: str) -> str:
    seen: dict[str, None] = {}
    for tag in re.split(r"[,;]", raw):
        cleaned = " ".join(tag.split()).lower()
        if cleaned:
            seen.setdefault(cleaned, None)
    return ", ".join(seen)


def variable_problems(body: str) -> list[str]:
    """One message per unknown variable, with the closest known one when it
    looks like a typo: braces must never reach a customer."""
    problems = []
    for name in rendering.unknown_variables(body):
        close = difflib.get_close_matches(name, rendering.VARIABLES, n=1, cutoff=0.6)
        if close:
            problems.append(
                _("Unknown variable {{ %(name)s }}: did you mean {{ %(suggestion)s }}?")
                % {"name": name, "suggestion": close[0]}
            )
        else:
            problems.append(
                _("Unknown variable {{ %(name)s }}. Known variables: %(known)s.")
                % {"name": name, "known": ", ".join(f"{{{{ {v} }}}}" for v in rendering.VARIABLES)}
            )
    return problems


@dataclass
class SavedReplyData:
    title: str
    shortcut: str
    body: str
    language: str
    tags: str = ""

    def cleaned(self) -> SavedReplyData:
        return SavedReplyData(
            title=" ".join(self.title.split()),
            shortcut=normalize_shortcut(self.shortcut),
            body=self.body.replace("\r\n", "\n").strip(),
            language=selectors.language_key(self.language),
            tags=normalize_tags(self.tags),
        )


def saved_reply_problems(
    data: SavedReplyData, *, scope: Scope, exclude_pk: int | None = None
) -> dict[str, list[str]]:
    """What is wrong with ``data`` (already ``cleaned()``) for ``scope``,
    by field; empty when it can be saved."""
    errors: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    if not data.title:
        add("title", _("Give it a title the team will recognise."))
    elif len(data.title) > TITLE_MAX_LENGTH:
        add("title", _("At most %(limit)s characters.") % {"limit": TITLE_MAX_LENGTH})
    if not data.shortcut:
        add("shortcut", _("Choose a shortcut, e.g. /hours (letters, digits and dashes)."))
    if not data.body:
        add("body", _("Write the reply."))
    elif len(data.body) > BODY_MAX_LENGTH:
        add("body", _("At most %(limit)s characters: Messenger refuses longer messages.") % {"limit": BODY_MAX_LENGTH})
    for problem in variable_problems(data.body):
        add("body", problem)
    if data.language not in LANGUAGES:
        add("language", _("Choose one of the languages offered."))
    if len(data.tags) > TAGS_MAX_LENGTH:
        add("tags", _("At most %(limit)s characters.") % {"limit": TAGS_MAX_LENGTH})
    if data.shortcut and data.language in LANGUAGES:
        taken = scope.saved_replies().filter(
            shortcut=data.shortcut, language=data.language, archived_at__isnull=True
        )
        if exclude_pk is not None:
            taken = taken.exclude(pk=exclude_pk)
        if taken.exists():
            add(
                "shortcut",
                _("/%(shortcut)s already exists in this language here: choose another shortcut or edit that one.")
                % {"shortcut": data.shortcut},
            )
    return errors


def _save(saved_reply: SavedReply, data: SavedReplyData, scope: Scope) -> SavedReply:
    problems = saved_reply_problems(data, scope=scope, exclude_pk=saved_reply.pk)
    if problems:
        raise SavedReplyRefused(problems)
    saved_reply.page = scope.page
    saved_reply.owner = None if scope.page is not None else scope.owner
    saved_reply.title, saved_reply.shortcut, saved_reply.body = data.title, data.shortcut, data.body
    saved_reply.language, saved_reply.tags = data.language, data.tags
    try:
        with transaction.atomic():
            saved_reply.save()
    except IntegrityError as exc:  # a colleague saved the same shortcut a moment ago
        raise SavedReplyRefused(
            {"shortcut": [_("/%(shortcut)s was just taken here: choose another.") % {"shortcut": data.shortcut}]}
        ) from exc
    return saved_reply


# --- Writes -----------------------------------------------------------------------


def create_saved_reply(*, actor: Any, scope: Scope, data: SavedReplyData) -> SavedReply:
    return _save(SavedReply(created_by=actor), data.cleaned(), scope)


def update_saved_reply(*, saved_reply: SavedReply, actor: Any, scope: Scope, data: SavedReplyData) -> SavedReply:
    """Edit a saved reply, possibly moving it to another scope the actor
    manages (a personal one shared with a Page, say)."""
    return _save(saved_reply, data.cleaned(), scope)


def archive_saved_reply(*, saved_reply: SavedReply, actor: Any) -> None:
    """Out of the picker, kept with its history (sent replies still point at
    it, so the figures stay exact)."""
    with transaction.atomic():
        archived = SavedReply.objects.filter(pk=saved_reply.pk, archived_at__isnull=True).update(
            archived_at=timezone.now(), updated_at=timezone.now()
        )
        if archived:  # the product's "delete": audited (issue 8)
            AuditLog.objects.create(actor=actor, page=saved_reply.page, action="saved_reply_archived",
                                    data={"saved_reply": saved_reply.pk, "title": saved_reply.title})


def restore_saved_reply(*, saved_reply: SavedReply, actor: Any) -> None:
    scope = Scope(page=saved_reply.page, owner=saved_reply.owner, can_manage=True)
    taken = scope.saved_replies().filter(
        shortcut=saved_reply.shortcut, language=saved_reply.language, archived_at__isnull=True
    )
    if taken.exists():
        raise SavedReplyRefused(
            {"shortcut": [_("/%(shortcut)s is in use again: rename that one or this one first.")
                          % {"shortcut": saved_reply.shortcut}]}
        )
    try:
        with transaction.atomic():
            SavedReply.objects.filter(pk=saved_reply.pk).update(archived_at=None, updated_at=timezone.now())
    except IntegrityError as exc:
        raise SavedReplyRefused({"shortcut": [_("/%(shortcut)s was just taken.") % {"shortcut": saved_reply.shortcut}]}) from exc


def _free_shortcut(scope: Scope, shortcut: str, language: str) -> str:
    taken = set(
        scope.saved_replies()
        .filter(shortcut__startswith=shortcut[: SHORTCUT_MAX_LENGTH - 8], language=language, archived_at__isnull=True)
        .values_list("shortcut", flat=True)
    )
    for n in range(2, 1000):
        suffix = f"-{n}"
        candidate = shortcut[: SHORTCUT_MAX_LENGTH - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
    raise SavedReplyRefused({"shortcut": [_("Too many copies of /%(shortcut)s.") % {"shortcut": shortcut}]})


def duplicate_saved_reply(*, saved_reply: SavedReply, actor: Any, scope: Scope) -> SavedReply:
    """A copy in ``scope`` (the same one, or the actor's own when they may
    not manage the original's), under a free shortcut, to adapt."""
    same_shortcut_free = not scope.saved_replies().filter(
        shortcut=saved_reply.shortcut, language=saved_reply.language, archived_at__isnull=True
    ).exists()
    shortcut = saved_reply.shortcut if same_shortcut_free else _free_shortcut(scope, saved_reply.shortcut,
                                                                                saved_reply.language)
    same_scope = (scope.page.pk if scope.page else None) == saved_reply.page_id and (
        scope.page is not None or scope.owner.pk == saved_reply.owner_id
    )
    title = _("%(title)s (copy)") % {"title": saved_reply.title} if same_scope else saved_reply.title
    data = SavedReplyData(
        title=title[:TITLE_MAX_LENGTH],
        shortcut=shortcut,
        body=saved_reply.body,
        language=saved_reply.language,
        tags=saved_reply.tags,
    )
    return _save(SavedReply(created_by=actor), data, scope)


# --- CSV import and export -----------------------------------------------------

CSV_COLUMNS = ("shortcut", "title", "language", "tags", "body")
CSV_REQUIRED = ("shortcut", "title", "body")
IMPORT_MAX_BYTES = 2 * 1024 * 1024
IMPORT_MAX_ROWS = 5000
# Spreadsheets run a cell starting with one of these as a formula ("CSV
# injection"): exported cells get a leading apostrophe, which the import
# removes again, so a round trip gives back the same text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0


@dataclass
class ImportRefused(Exception):
    """Nothing was imported; ``errors``: one line per problem, by row."""

    errors: list[str] = field(default_factory=list)


def _defuse(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _undefuse(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_START) else cell


def export_csv(*, scope: Scope, actor: Any) -> str:
    """The scope's live saved replies as CSV (UTF-8, with a byte-order mark
    so that spreadsheets read accents right), one row per language version.
    Exports are audited."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for saved_reply in selectors.export_rows(scope=scope):
        writer.writerow([_defuse(getattr(saved_reply, column)) for column in CSV_COLUMNS])
        count += 1
    AuditLog.objects.create(
        actor=actor,
        page=scope.page,
        action="saved_replies_exported",
        data={"scope": "personal" if scope.is_personal else "page", "count": count},
    )
    return out.getvalue()


def parse_csv(raw: bytes) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts by column name; raises ImportRefused for a
    file that is not a readable CSV with the expected columns."""
    if len(raw) > IMPORT_MAX_BYTES:
        raise ImportRefused([_("The file is larger than %(size)s MB.") % {"size": IMPORT_MAX_BYTES // (1024 * 1024)}])
    not_text = ImportRefused([_("The file is not text encoded in UTF-8.")])
    try:
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = raw.decode("utf-16")  # Excel's "Unicode text"
        else:
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError:
                text = raw.decode("cp1252")  # an older Excel's "CSV (Windows)"
    except UnicodeDecodeError:
        raise not_text from None
    if "\x00" in text:
        raise not_text
    if not text.strip():
        raise ImportRefused([_("The file is empty.")])
    first_line = text.split("\n", 1)[0]
    # French spreadsheets save CSV with semicolons, "Unicode text" with tabs.
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise ImportRefused([_("The file is not valid CSV: %(error)s.") % {"error": exc}]) from exc
    header = [column.strip().lower() for column in rows[0]]
    missing = [column for column in CSV_REQUIRED if column not in header]
    if missing:
        raise ImportRefused(
            [_("Missing column(s): %(missing)s. The first line must name the columns: %(columns)s.")
             % {"missing": ", ".join(missing), "columns": ", ".join(CSV_COLUMNS)}]
        )
    records: list[dict[str, str]] = []
    for values in rows[1:]:
        if not any(value.strip() for value in values):
            records.append({})  # kept, so that row numbers match the file
            continue
        records.append({name: _undefuse(values[i]) if i < len(values) else "" for i, name in enumerate(header)})
    if len([r for r in records if r]) > IMPORT_MAX_ROWS:
        raise ImportRefused([_("At most %(limit)s saved replies per file.") % {"limit": IMPORT_MAX_ROWS}])
    return records


def import_saved_replies(
    *, scope: Scope, actor: Any, records: Iterable[Mapping[str, str]], default_language: str
) -> ImportResult:
    """Create or update (same shortcut and language) every row, or nothing:
    every row is checked first, and the writes happen in one transaction.
    Raises ImportRefused with one line per problem, "Row 4 (shortcut):
    …", row numbers as a spreadsheet shows them (the header is row 1)."""
    errors: list[str] = []
    plan: list[tuple[SavedReply | None, SavedReplyData]] = []
    seen: dict[tuple[str, str], int] = {}
    existing = {
        (s.shortcut, s.language): s for s in scope.saved_replies().filter(archived_at__isnull=True)
    }
    labels = {"title": _("title"), "shortcut": _("shortcut"), "body": _("body"), "language": _("language"),
              "tags": _("tags")}
    for number, record in enumerate(records, start=2):
        if not record:
            continue
        data = SavedReplyData(
            title=record.get("title", ""),
            shortcut=record.get("shortcut", ""),
            body=record.get("body", ""),
            language=record.get("language", "") or default_language,
            tags=record.get("tags", ""),
        ).cleaned()
        target = existing.get((data.shortcut, data.language))
        problems = saved_reply_problems(data, scope=scope, exclude_pk=target.pk if target else None)
        key = (data.shortcut, data.language)
        if data.shortcut and key in seen:
            problems.setdefault("shortcut", []).append(
                _("/%(shortcut)s (%(language)s) is already on row %(row)s.")
                % {"shortcut": data.shortcut, "language": data.language, "row": seen[key]}
            )
        seen.setdefault(key, number)
        for name, messages in problems.items():
            for message in messages:
                errors.append(
                    _("Row %(row)s (%(field)s): %(message)s") % {"row": number, "field": labels[name], "message": message}
                )
        plan.append((target, data))
    if errors:
        raise ImportRefused(errors)
    if not plan:
        raise ImportRefused([_("The file holds no saved reply.")])
    result = ImportResult()
    try:
        with transaction.atomic():
            for target, data in plan:
                _save(target or SavedReply(created_by=actor), data, scope)
                if target is None:
                    result.created += 1
                else:
                    result.updated += 1
            AuditLog.objects.create(
                actor=actor,
                page=scope.page,
                action="saved_replies_imported",
                data={"scope": "personal" if scope.is_personal else "page", "created": result.created,
                      "updated": result.updated},
            )
    except SavedReplyRefused as exc:  # a colleague changed the same shortcuts meanwhile
        raise ImportRefused([str(exc)]) from exc
    return result


def update_guidance_settings(
    *,
    page: Page,
    actor: Any,
    hot_template_threshold: int,
    agent_reliance_percent: int,
    public_repeat_threshold: int,
    signature_required: bool,
    order_number_pattern: str,
) -> None:
    """Change a Page's composer thresholds; settings changes are audited."""
    if order_number_pattern:
        guidance.compile_order_pattern(order_number_pattern)  # ValueError says why
    values = {
        "hot_template_threshold": hot_template_threshold,
        "agent_reliance_permille": agent_reliance_percent * 10,
        "public_repeat_threshold": public_repeat_threshold,
        "signature_required": signature_required,
        "order_number_pattern": order_number_pattern,
    }
    before = {name: getattr(page, name) for name in values}
    with transaction.atomic():
        Page.objects.filter(pk=page.pk).update(**values)
        AuditLog.objects.create(
            actor=actor, page=page, action="composer_guidance_changed",
            data={"before": before, "after": values},
        )
    for name, value in values.items():
        setattr(page, name, value)


def preview(*, body: str, page: Page | None, agent: Any, language: str, contact_first: str) -> tuple[str, list[str]]:
    """A body rendered for a sample contact (the editor's live preview), and
    what is wrong with its variables."""
    values = (
        selectors.variable_values(page=page, agent=agent, contact_first=contact_first, language=language)
        if page is not None
        else {"contact.first_name": contact_first, "agent.first_name": selectors.agent_first_name(agent)}
    )
    return rendering.render(body, values), variable_problems(body)

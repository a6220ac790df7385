"""A Page's settings besides its hours: language, read receipts, Human Agent,
targets. Admins change them on the settings page; every change is audited."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from ..models import AuditLog, Page

EDITABLE = (
    "language",
    "read_receipts",
    "human_agent_enabled",
    "private_target_seconds",
    "public_target_seconds",
    "target_share_permille",
    "at_risk_seconds",
)


def update_page_settings(*, page: Page, actor: Any, **values: Any) -> list[str]:
    """Set the given settings; returns the names that changed. Nothing is
    recomputed here: a new target applies to response opportunities as the
    worker computes them from now on."""
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise ValueError(f"not editable here: {', '.join(sorted(unknown))}")
    changed = {name: value for name, value in values.items() if getattr(page, name) != value}
    if not changed:
        return []
    with transaction.atomic():
        before = {name: getattr(page, name) for name in changed}
        for name, value in changed.items():
            setattr(page, name, value)
        page.save(update_fields=list(changed))
        AuditLog.objects.create(
            actor=actor, page=page, action="page_settings_changed",
            data={"before": before, "after": changed},
        )
    return list(changed)

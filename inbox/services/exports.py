"""Data leaving Réactif (CSV exports) is logged: who took what, when."""

from __future__ import annotations

from typing import Any

from ..models import AuditLog, Page


def record_export(*, user: Any, page: Page, what: str, ip_address: str | None = None, **params: Any) -> AuditLog:
    return AuditLog.objects.create(
        actor=user, page=page, action="export", data={"what": what, **params}, ip_address=ip_address
    )

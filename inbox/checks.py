"""Deployment checks (`manage.py check --deploy`): what a production
Réactif needs besides Django's own security settings (CONTRACT.md)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def check_production_environment(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    # (An empty ALLOWED_HOSTS is Django's own security.W020.)
    problems = []
    if not settings.META_APP_SECRET:
        problems.append(Warning(
            "META_APP_SECRET is empty: every webhook delivery from Meta will be refused (403).",
            hint="Set it to the App Secret of your Meta app (App Dashboard > Settings > Basic).",
            id="reactif.W002",
        ))
    if not settings.META_VERIFY_TOKEN:
        problems.append(Warning(
            "META_VERIFY_TOKEN is empty: Meta's webhook subscription handshake will fail.",
            hint="Set it to the verify token entered in the App Dashboard's webhook settings.",
            id="reactif.W003",
        ))
    if not settings.EMBEDDED and not settings.REDIS_URL:
        problems.append(Warning(
            "DATABASE_URL points at a server but REDIS_URL is not set: the filesystem broker and file "
            "cache only work when the web server, worker and beat share one machine.",
            hint="Set REDIS_URL (redis://host:6379/0).",
            id="reactif.W004",
        ))
    return problems

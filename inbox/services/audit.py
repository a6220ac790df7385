"""The audit log's own entries: sign-ins, and API tokens given and revoked.

Settings changes, hides, deletes and exports are written by the services that
make them, in the same transaction (page_settings, hours, away, sending,
exports, templates_app.services). Sign-ins come from Django's auth signals,
which `connect_signals` routes here (inbox/apps.py), so that the login view,
the admin's and any other all leave the same trace.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from ..models import ApiToken, AuditLog

# A failed sign-in names the username typed; anything longer than this is
# not a username anyone has, and is not worth keeping.
USERNAME_KEPT = 150


def client_ip(request: HttpRequest | None) -> str | None:
    """The address Django sees (the proxy's in front of it sets REMOTE_ADDR
    through gunicorn's forwarded-allow-ips; a header set by the client is
    never trusted here)."""
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def record_sign_in(*, user: Any, request: HttpRequest | None) -> AuditLog:
    return AuditLog.objects.create(actor=user, action="sign_in", ip_address=client_ip(request), data={})


def record_sign_out(*, user: Any, request: HttpRequest | None) -> AuditLog | None:
    if user is None or not getattr(user, "pk", None):
        return None
    return AuditLog.objects.create(actor=user, action="sign_out", ip_address=client_ip(request), data={})


def record_failed_sign_in(*, username: str, request: HttpRequest | None) -> AuditLog:
    # Never the password: Django has already masked it in the credentials.
    return AuditLog.objects.create(
        actor=None, action="sign_in_failed", ip_address=client_ip(request),
        data={"username": str(username or "")[:USERNAME_KEPT]},
    )


def create_api_token(*, user: Any, name: str = "", actor: Any = None) -> tuple[ApiToken, str]:
    """A new bearer token for `user`. Returns (token, key): the key is shown
    once; only its SHA-256 is stored."""
    key = ApiToken.generate_key()
    with transaction.atomic():
        token = ApiToken.objects.create(user=user, name=name[:100], prefix=key[:10], key_hash=ApiToken.hash_key(key))
        AuditLog.objects.create(actor=actor, action="api_token_created",
                                data={"token": token.prefix, "user": user.get_username(), "name": token.name})
    return token, key


def revoke_api_token(*, token: ApiToken, actor: Any = None) -> bool:
    """Revoke a token at once (the API refuses it from the next request).
    Returns False when it was already revoked."""
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if revoked:
            AuditLog.objects.create(actor=actor, action="api_token_revoked",
                                    data={"token": token.prefix, "user": token.user.get_username()})
    return bool(revoked)


def _on_logged_in(sender: Any, request: HttpRequest | None = None, user: Any = None, **kwargs: Any) -> None:
    record_sign_in(user=user, request=request)


def _on_logged_out(sender: Any, request: HttpRequest | None = None, user: Any = None, **kwargs: Any) -> None:
    record_sign_out(user=user, request=request)


def _on_login_failed(sender: Any, credentials: dict[str, Any] | None = None,
                     request: HttpRequest | None = None, **kwargs: Any) -> None:
    record_failed_sign_in(username=(credentials or {}).get("username", ""), request=request)


def connect_signals() -> None:
    user_logged_in.connect(_on_logged_in, dispatch_uid="reactif-audit-sign-in")
    user_logged_out.connect(_on_logged_out, dispatch_uid="reactif-audit-sign-out")
    user_login_failed.connect(_on_login_failed, dispatch_uid="reactif-audit-sign-in-failed")

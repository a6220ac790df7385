"""The JSON API (CONTRACT.md): bearer tokens, Page-scoped, 404 for anything else."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from fractions import Fraction
from functools import wraps
from typing import Any

from django.contrib.auth import get_user_model
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from . import selectors
from .access import get_page_for_user
from .models import ApiToken, ConversationKind, ConversationStatus

User = get_user_model()


def _authenticate(request: HttpRequest) -> Any | None:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=ApiToken.hash_key(key.strip()), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    # Touch at most once a minute: the API must not write on every read.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def token_required(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        user = _authenticate(request)
        if user is None:
            response = JsonResponse({"error": "authentication required"}, status=401)
            response["WWW-Authenticate"] = 'Bearer realm="reactif"'
            return response
        request.user = user
        try:
            return view(request, *args, **kwargs)
        except Http404:
            # A Page outside the token's Pages is not there: same answer as
            # one that does not exist, in JSON like the rest of the API.
            return JsonResponse({"error": "not found"}, status=404)

    return wrapper


def _bad_request(message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=400)


def json_number(value: Any) -> Any:
    """Fractions go out as floats only at the edge; the maths stayed exact."""
    if isinstance(value, Fraction):
        return float(value)
    return value


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@require_GET
@token_required
def responsiveness(request: HttpRequest, meta_page_id: str) -> JsonResponse:
    page = get_page_for_user(request.user, meta_page_id=meta_page_id)
    kind = request.GET.get("kind", ConversationKind.PRIVATE)
    if kind not in ConversationKind.values:
        return _bad_request("kind must be private or public")
    try:
        days = int(request.GET.get("days", page.window_days))
    except ValueError:
        return _bad_request("days must be a whole number")
    if not 1 <= days <= 365:
        return _bad_request("days must be between 1 and 365")
    report = selectors.responsiveness_report(page=page, kind=kind, days=days)
    return JsonResponse(report.as_json())


@require_GET
@token_required
def conversations(request: HttpRequest, meta_page_id: str) -> JsonResponse:
    page = get_page_for_user(request.user, meta_page_id=meta_page_id)
    status = request.GET.get("status", ConversationStatus.OPEN)
    if status not in ConversationStatus.values:
        return _bad_request("unknown status")
    try:
        page_result = selectors.queue(
            pages=[page], status=status, after=request.GET.get("after") or None, limit=50
        )
    except ValueError:
        return _bad_request("bad cursor")
    results = []
    for conversation in page_result.rows:
        ro = getattr(conversation, "open_ro", None)  # set by selectors.queue
        results.append({
            "id": conversation.pk,
            "kind": conversation.kind,
            "status": conversation.status,
            "contact": {
                "id": conversation.contact.external_id if conversation.contact else None,
                "name": conversation.contact.display_name if conversation.contact else None,
            },
            "last_customer_message_at": iso(conversation.last_customer_message_at),
            "open_ro": None if ro is None else {
                "opened_at": iso(ro.opened_at), "clock_start": iso(ro.clock_start), "due_at": iso(ro.due_at),
            },
            "assignee": None if conversation.assignee is None else {
                "id": conversation.assignee.pk, "username": conversation.assignee.get_username(),
            },
        })
    next_url = None
    if page_result.next_cursor:
        next_url = request.build_absolute_uri(
            reverse("inbox:api_conversations", args=[page.meta_page_id])
            + f"?status={status}&after={page_result.next_cursor}"
        )
    return JsonResponse({"results": results, "next": next_url})

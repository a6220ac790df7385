"""Meta's webhook endpoint (CONTRACT.md "HTTP", META.md §1-3)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError, close_old_connections
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from . import meta_events
from .services import store_delivery

log = logging.getLogger(__name__)


@csrf_exempt  # Meta signs its deliveries; there is no session to protect.
@require_http_methods(["GET", "POST"])
def meta_webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _verify_subscription(request)
    body = request.body
    if not meta_events.signature_is_valid(
        body, request.headers.get("X-Hub-Signature-256"), settings.META_APP_SECRET
    ):
        log.warning("Webhook delivery refused: missing or wrong signature")
        return HttpResponseForbidden("invalid signature", content_type="text/plain")
    # Stored durably before answering; parsing and everything else happen in
    # the worker, so Meta gets its 200 well within its 5 s, whatever the body.
    try:
        store_delivery(body=body)
    except DatabaseError:
        # PostgreSQL restarting or unreachable: nothing was stored, so Meta
        # must send it again. A 503 says so (a 500 would read as our bug);
        # the next request gets a fresh connection (chaos scenario "postgres").
        log.warning("Webhook delivery not stored: database unavailable", exc_info=True)
        close_old_connections()
        response = HttpResponse("database unavailable, retry", status=503, content_type="text/plain")
        response["Retry-After"] = "5"
        return response
    return HttpResponse("EVENT_RECEIVED", content_type="text/plain")


def _verify_subscription(request: HttpRequest) -> HttpResponse:
    mode = request.GET.get("hub.mode")
    token = request.GET.get("hub.verify_token", "")
    challenge = request.GET.get("hub.challenge", "")
    if (
        mode == "subscribe"
        and settings.META_VERIFY_TOKEN
        and constant_time_compare(token, settings.META_VERIFY_TOKEN)
    ):
        return HttpResponse(challenge, content_type="text/plain")
    return HttpResponseForbidden("verification failed", content_type="text/plain")

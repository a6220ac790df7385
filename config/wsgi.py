"""The WSGI application gunicorn serves.

Meta's deliveries (`POST /webhooks/meta`, CONTRACT.md) go to a Django handler
without the middleware chain: sessions, authentication, CSRF, language,
messages, security and policy headers, htmx and the login lock-out all serve
a browser, and none applies to a signed machine-to-machine POST whose answer
is a bare `EVENT_RECEIVED`. They were a third of the webhook's CPU in the
web worker. Everything else goes through Django as usual; the view, its
exception handling (a 500 logged by `django.request`) and the request
signals (`close_old_connections`) are the same on both paths.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

WEBHOOK_PATH = "/webhooks/meta"


class _WithoutMiddleware(WSGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        # BaseHandler.load_middleware with an empty MIDDLEWARE (its private
        # attributes are not in django-stubs).
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        self._middleware_chain = convert_exception_to_response(self._get_response)  # type: ignore[attr-defined]


webhook_application = _WithoutMiddleware()


def application(environ: dict[str, Any], start_response: Any) -> Any:
    if environ.get("PATH_INFO") == WEBHOOK_PATH and environ.get("REQUEST_METHOD") == "POST":
        return webhook_application(environ, start_response)
    return django_application(environ, start_response)

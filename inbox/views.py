from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from . import selectors
from .access import pages_for


@login_required
def queue(request: HttpRequest) -> HttpResponse:
    result = selectors.queue(pages=pages_for(request.user))
    return render(request, "inbox/queue.html", {"rows": result.rows, "nav": "inbox"})

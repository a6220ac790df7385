"""The Graph API client: the one place Réactif talks to Meta (shared/META.md §4, §5).

Everything else goes through inbox.services; this module only knows HTTP and
Meta's error shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings

# Meta's error codes worth telling apart (META.md "Errors").
TRANSIENT_CODES = frozenset({1, 2, 4, 613})
# 1 / 1357046: "an error can come back even though the messages were sent".
# Re-sending could deliver the reply twice, so it is never retried.
AMBIGUOUS = (1, 1357046)
TOKEN_INVALID = 190
OUTSIDE_WINDOW = (10, 2018278)
PROFILE_UNAVAILABLE = (100, 2018218)


@dataclass
class GraphError(Exception):
    message: str
    code: int | None = None
    subcode: int | None = None
    status: int | None = None
    fbtrace_id: str = ""
    # True when the request may have reached Meta and been acted on.
    maybe_sent: bool = False

    def __str__(self) -> str:
        code = f" (code {self.code}" + (f"/{self.subcode}" if self.subcode else "") + ")" if self.code else ""
        return f"{self.message}{code}"

    @property
    def is_transient(self) -> bool:
        if self.maybe_sent or (self.code, self.subcode) == AMBIGUOUS:
            return False
        if self.code in TRANSIENT_CODES:
            return True
        # No Meta error body: a 5xx or a connection failure before sending.
        return self.code is None and (self.status is None or self.status >= 500)

    @property
    def is_ambiguous(self) -> bool:
        return self.maybe_sent or (self.code, self.subcode) == AMBIGUOUS

    @property
    def token_invalid(self) -> bool:
        return self.code == TOKEN_INVALID


class GraphClient:
    def __init__(self, access_token: str, *, base_url: str | None = None, timeout: float | None = None):
        self.access_token = access_token
        self.base_url = (base_url or settings.META_GRAPH_URL).rstrip("/")
        total = timeout if timeout is not None else settings.META_GRAPH_TIMEOUT
        # Connecting is quick or never; reading waits for Meta up to the bound.
        self.timeout = httpx.Timeout(total, connect=min(3.0, total))

    def _request(self, method: str, path: str, *, json: dict[str, Any] | None = None,
                 params: dict[str, Any] | None = None) -> dict[str, Any]:
        url = f"{self.base_url}/{path.lstrip('/')}"
        headers = {"Authorization": f"Bearer {self.access_token}"}
        try:
            response = httpx.request(method, url, json=json, params=params, headers=headers, timeout=self.timeout)
        except httpx.ConnectError as exc:
            raise GraphError(f"Meta could not be reached: {exc}") from exc
        except httpx.ConnectTimeout as exc:
            raise GraphError("Meta could not be reached in time") from exc
        except httpx.TimeoutException as exc:
            # The request left: Meta may have acted on it before we gave up.
            raise GraphError("Meta did not answer in time", maybe_sent=method == "POST") from exc
        except httpx.HTTPError as exc:
            raise GraphError(f"Network error talking to Meta: {exc}", maybe_sent=method == "POST") from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400 or not isinstance(data, dict) or "error" in data:
            error = data.get("error") if isinstance(data, dict) else None
            if isinstance(error, dict):
                raise GraphError(
                    message=str(error.get("message") or "Meta refused the request"),
                    code=_int(error.get("code")),
                    subcode=_int(error.get("error_subcode")),
                    status=response.status_code,
                    fbtrace_id=str(error.get("fbtrace_id") or ""),
                )
            raise GraphError(f"Meta answered HTTP {response.status_code}", status=response.status_code)
        return data

    def send_message(self, page_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", f"{page_id}/messages", json=payload)

    def sender_action(self, page_id: str, psid: str, action: str) -> dict[str, Any]:
        return self._request(
            "POST", f"{page_id}/messages", json={"recipient": {"id": psid}, "sender_action": action}
        )

    def reply_to_comment(self, comment_id: str, text: str) -> dict[str, Any]:
        return self._request("POST", f"{comment_id}/comments", json={"message": text})

    def set_comment_hidden(self, comment_id: str, hidden: bool) -> dict[str, Any]:
        return self._request("POST", comment_id, json={"is_hidden": hidden})

    def user_profile(self, psid: str) -> dict[str, Any]:
        return self._request("GET", psid, params={"fields": "first_name,last_name,name,profile_pic"})


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

"""A local stand-in for Meta's Graph API: the only mock in Réactif's tests,
and what makes replies "send" in the `make run` demo.

    python -m inbox.fake_graph --port 8765 [--echo-to URL --app-secret S --page-id P]

It answers the calls inbox.graph makes, counts every send by its metadata
(so tests can prove a reply went out exactly once), can be told to
misbehave (slow, down, rate limit, revoked token, outside window, the
ambiguous 1/1357046), and can send the signed echo webhook back to Réactif
as Meta does. Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

FIRST_NAMES = ["Camille", "Léa", "Hugo", "Chloé", "Lucas", "Manon", "Nathan", "Inès", "Jules", "Zoé"]
LAST_NAMES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"]

FAILURES: dict[str, tuple[int, dict[str, Any]]] = {
    "down": (503, {}),
    "rate_limit": (400, {"message": "(#613) Calls to this api have exceeded the rate limit.", "code": 613}),
    "app_limit": (400, {"message": "(#4) Application request limit reached", "code": 4}),
    "temporary": (500, {"message": "An unexpected error has occurred. Please retry your request later.",
                        "code": 2}),
    "token_revoked": (400, {"message": "Error validating access token: The session has been invalidated.",
                            "code": 190, "type": "OAuthException"}),
    "outside_window": (400, {"message": "(#10) This message is sent outside of allowed window.", "code": 10,
                             "error_subcode": 2018278}),
    "ambiguous": (500, {"message": "An unknown error occurred", "code": 1, "error_subcode": 1357046}),
    "unavailable_user": (400, {"message": "(#551) This person isn't available right now.", "code": 551}),
    "no_profile": (400, {"message": "(#100) No profile available for this user.", "code": 100,
                         "error_subcode": 2018218}),
}


# Seconds before each attempt at delivering an echo webhook.
ECHO_RETRY_DELAYS = (0, 0, 1, 2, 4, 8, 16, 30, 60)


class FakeGraph:
    def __init__(self, *, echo_to: str = "", app_secret: str = "", app_id: str = "424242") -> None:
        self.echo_to = echo_to
        self.app_secret = app_secret
        self.app_id = app_id
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.sends: list[dict[str, Any]] = []
        self.sends_by_metadata: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        # Queue of (mode, remaining count); "slow:<seconds>" delays the answer.
        self.mode = "ok"
        self.mode_remaining = 0
        self.delay = 0.0

    def set_mode(self, mode: str, times: int = 1_000_000, delay: float = 0.0) -> None:
        with self.lock:
            self.mode, self.mode_remaining, self.delay = mode, times, delay

    def _take_mode(self) -> str:
        with self.lock:
            if self.mode != "ok" and self.mode_remaining > 0:
                self.mode_remaining -= 1
                return self.mode
            return "ok"

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "sends": len(self.sends),
                "double_sends": sum(n - 1 for n in self.sends_by_metadata.values() if n > 1),
                "calls": dict(self.calls),
            }

    def handle(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        parts = [p for p in path.strip("/").split("/") if p]
        # Drop a leading version segment (v25.0).
        if parts and parts[0].startswith("v") and parts[0][1:].replace(".", "").isdigit():
            parts = parts[1:]
        if parts[:1] == ["__stats"]:
            return 200, self.stats()
        if parts[:1] == ["__mode"] and method == "POST":
            self.set_mode(str(body.get("mode", "ok")), int(body.get("times", 1_000_000)),
                          float(body.get("delay", 0)))
            return 200, {"ok": True}
        with self.lock:
            self.calls[f"{method} {'/'.join(parts[1:]) or 'node'}"] += 1
        mode = self._take_mode()
        if self.delay:
            time.sleep(self.delay)
        if mode in FAILURES:
            status, error = FAILURES[mode]
            if mode == "ambiguous" and parts[-1:] == ["messages"]:
                self._record_send(parts[0], body)  # it did go out, despite the error
            return status, ({"error": {**error, "type": error.get("type", "OAuthException"),
                                       "fbtrace_id": "FAKE"}} if error else {"error": "unavailable"})
        if method == "GET" and len(parts) == 1:
            n = int(hashlib.sha256(parts[0].encode()).hexdigest(), 16)
            first, last = FIRST_NAMES[n % len(FIRST_NAMES)], LAST_NAMES[(n // 7) % len(LAST_NAMES)]
            return 200, {"id": parts[0], "first_name": first, "last_name": last, "name": f"{first} {last}"}
        if method == "POST" and len(parts) == 2 and parts[1] == "messages":
            if "sender_action" in body:
                return 200, {"recipient_id": body.get("recipient", {}).get("id", "")}
            return 200, self._record_send(parts[0], body)
        if method == "POST" and len(parts) == 2 and parts[1] == "comments":
            comment_id = f"{parts[0].split('_')[0]}_{900000 + next(self.ids)}"
            with self.lock:
                self.sends.append({"comment_reply": parts[0], "text": body.get("message")})
            return 200, {"id": comment_id}
        if method == "POST" and len(parts) == 1:
            return 200, {"success": True}
        return 404, {"error": {"message": f"Unknown path {path}", "code": 803}}

    def _record_send(self, page_id: str, body: dict[str, Any]) -> dict[str, Any]:
        message = body.get("message") or {}
        metadata = str(message.get("metadata") or "")
        mid = f"m_fake_{next(self.ids)}"
        recipient = body.get("recipient") or {}
        with self.lock:
            self.sends.append({"page_id": page_id, "recipient": recipient, "text": message.get("text"),
                               "metadata": metadata, "messaging_type": body.get("messaging_type"),
                               "tag": body.get("tag"), "mid": mid})
            if metadata:
                self.sends_by_metadata[metadata] += 1
        if self.echo_to and "id" in recipient:
            threading.Thread(target=self._echo, args=(page_id, recipient["id"], mid, message), daemon=True).start()
        return {"recipient_id": recipient.get("id", ""), "message_id": mid}

    def _echo(self, page_id: str, psid: str, mid: str, message: dict[str, Any]) -> None:
        time.sleep(0.3)
        payload = {"object": "page", "entry": [{"id": page_id, "time": int(time.time() * 1000), "messaging": [{
            "sender": {"id": page_id}, "recipient": {"id": psid}, "timestamp": int(time.time() * 1000),
            "message": {"is_echo": True, "app_id": self.app_id, "mid": mid, "text": message.get("text", ""),
                        "metadata": message.get("metadata", "")}}]}]}
        body = json.dumps(payload).encode()
        signature = "sha256=" + hmac.new(self.app_secret.encode(), body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(self.echo_to, data=body, method="POST", headers={  # noqa: S310 - the loopback URL the test or demo gave
            "Content-Type": "application/json", "X-Hub-Signature-256": signature})
        # Meta retries a notification that failed, at once a few times, then
        # less and less often (META.md "Messenger retries"); so does the fake,
        # over about two minutes instead of 36 hours.
        for delay in ECHO_RETRY_DELAYS:
            time.sleep(delay)
            with contextlib.suppress(OSError):  # refused, timed out, or an HTTP error status
                urllib.request.urlopen(request, timeout=5).close()  # noqa: S310 - loopback URL we were given
                return


def make_server(graph: FakeGraph, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = {}
            query = urlparse(self.path)
            status, data = graph.handle(method, query.path, body if isinstance(body, dict) else {})
            out = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--echo-to", default="")
    parser.add_argument("--app-secret", default="")
    parser.add_argument("--app-id", default="424242")
    args = parser.parse_args()
    graph = FakeGraph(echo_to=args.echo_to, app_secret=args.app_secret, app_id=args.app_id)
    server = make_server(graph, args.port)
    print(f"Fake Graph API on http://127.0.0.1:{server.server_address[1]}/v25.0", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()

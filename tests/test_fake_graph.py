"""The fake Graph API behaves as Meta does where a test's figure depends on
it: an echo webhook that Réactif refused is delivered again."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from inbox import fake_graph


def test_an_echo_refused_with_a_503_is_sent_again_until_accepted(monkeypatch):
    monkeypatch.setattr(fake_graph, "ECHO_RETRY_DELAYS", (0, 0.01, 0.01, 0.01))
    received: list[tuple[int, bytes, str]] = []

    class Flaky(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = 503 if len(received) < 2 else 200
            received.append((status, body, self.headers["X-Hub-Signature-256"]))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        graph = fake_graph.FakeGraph(echo_to=f"http://127.0.0.1:{server.server_address[1]}/webhooks/meta",
                                     app_secret="s3cret")
        graph._echo("1042", "psid-1", "m_fake_1", {"text": "Bonjour", "metadata": "reactif:7"})
    finally:
        server.shutdown()
        server.server_close()
    assert [status for status, _, _ in received] == [503, 503, 200]
    body = received[-1][1]
    assert received[-1][2] == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    [event] = json.loads(body)["entry"][0]["messaging"]
    assert event["message"]["is_echo"] and event["message"]["mid"] == "m_fake_1"
    assert len({b for _, b, _ in received}) == 1  # the same notification each time, as Meta retries it

"""`make run` end to end: the embedded stack (SQLite, filesystem broker, web,
worker, beat, fake Graph API, simulator) boots from nothing, takes a signed
delivery, processes it, and Ctrl-C stops every process it started."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from inbox import simulation
from inbox.fake_graph import FIRST_NAMES
from inbox.management.commands.runstack import DEMO_APP_SECRET
from inbox.management.commands.seed_demo import DEMO_PAGE_ID

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parent.parent
# Typically 15 s; generous because a loaded CI machine imports slowly.
BOOT_TIMEOUT = 90
STOP_TIMEOUT = 15


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pid: int) -> set[int]:
    """Every live process under `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.add(child)
            stack.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def get_json(url: str, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(  # noqa: S310 - our loopback server
        url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - our loopback server
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError):
        return 0, {}


def wait_until(what: str, check, timeout: float, process: subprocess.Popen, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        if process.poll() is not None:
            pytest.fail(f"runstack exited ({process.returncode}) while waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.25)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


def test_it_boots_the_embedded_stack_processes_a_delivery_and_stops_on_ctrl_c(tmp_path):
    port, graph_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    # What a fresh machine has: no DATABASE_URL, no REDIS_URL, no Meta secrets.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "LANG": "C.UTF-8",
        "DEBUG": "1",
        "REACTIF_VAR_DIR": str(tmp_path / "var"),
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "runstack.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runstack", "--port", str(port), "--graph-port", str(graph_port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        # Healthy: database, broker and a worker that has consumed a heartbeat.
        health = wait_until("/healthz", lambda: (lambda r: r[1] if r[0] == 200 else None)(
            get_json(f"{base}/healthz")), BOOT_TIMEOUT, process, log)
        assert health["db"] == "ok" and health["broker"] == "ok" and health["worker"] is not None
        # runstack announces the address once it has seen the same health itself.
        wait_until("the announcement", lambda: "Réactif is running" in log.read_text(), 30, process, log)
        assert (tmp_path / "var" / "reactif.sqlite3").exists()

        # An API token made the way an operator would, on the same database.
        token = subprocess.run(
            [sys.executable, "manage.py", "create_api_token", "marie"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True, timeout=30,
        ).stdout.strip()

        # A customer writes: Meta's signed delivery, with the demo's secret.
        psid = f"stack{time.time_ns() % 10**9}"
        body, signature = simulation.signed(simulation.envelope(DEMO_PAGE_ID, messaging=[
            simulation.message(DEMO_PAGE_ID, psid, time.time(), "Vous livrez à Lyon ?")]), DEMO_APP_SECRET)
        request = urllib.request.Request(f"{base}/webhooks/meta", data=body, method="POST", headers={  # noqa: S310
            "Content-Type": "application/json", "X-Hub-Signature-256": signature})
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            assert response.status == 200

        # The worker processed it (the conversation is in the API), and asked
        # the fake Graph API for the customer's name.
        def conversation_with_name():
            url = f"{base}/api/v1/pages/{DEMO_PAGE_ID}/conversations?status=open"
            while url:
                status, data = get_json(url, token)
                assert status == 200, data
                for row in data["results"]:
                    if row["contact"]["id"] == psid and row["contact"]["name"].split()[0] in FIRST_NAMES:
                        return row
                url = data["next"]
            return None

        row = wait_until("the delivery to be processed", conversation_with_name, 20, process, log)
        assert row["kind"] == "private"
        assert row["open_ro"] is not None

        # Ctrl-C: everything runstack started stops.
        children = descendants(process.pid)
        names = {Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:80] for pid in children}
        assert len(children) >= 6, names  # graph, web (+ its workers), worker, beat, simulate
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=STOP_TIMEOUT) == 0
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(alive(pid) for pid in children):
            time.sleep(0.1)
        left = [pid for pid in children if alive(pid)]
        assert left == [], f"still running after Ctrl-C: {left}"
        output = log.read_text()
        assert "Stopped." in output
        # Nothing the stack ran (web, worker tasks, beat) raised meanwhile.
        assert "Traceback" not in output, output[output.index("Traceback") - 300:][:4000]
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

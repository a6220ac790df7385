"""`make run`: the whole app on one machine with nothing but Python.

Starts the web server, a Celery worker and beat (on the embedded SQLite
database and filesystem broker unless DATABASE_URL/REDIS_URL say otherwise),
a fake Graph API so replies "send", and `simulate` so messages keep arriving.
Ctrl-C stops everything it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

DEMO_APP_SECRET = "demo-app-secret"  # noqa: S105 - the local demo's only
DEMO_VERIFY_TOKEN = "demo-verify-token"  # noqa: S105 - the local demo's only
READY_TIMEOUT = 90  # seconds: a cold first boot migrates, seeds and starts four processes


def healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:  # noqa: S310 - our own server
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class Command(BaseCommand):
    help = "Run web, worker, beat, a fake Graph API and the simulator together (make run)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--graph-port", type=int, default=int(os.environ.get("GRAPH_PORT", "8765")))
        parser.add_argument("--rate", type=float, default=0.2, help="simulated deliveries per second (0: none)")
        parser.add_argument("--no-seed", action="store_true")

    def handle(self, *args, port, graph_port, rate, no_seed, **options):
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "DEBUG": os.environ.get("DEBUG", "1"),
            "META_APP_SECRET": settings.META_APP_SECRET or DEMO_APP_SECRET,
            "META_VERIFY_TOKEN": settings.META_VERIFY_TOKEN or DEMO_VERIFY_TOKEN,
            "META_APP_ID": settings.META_APP_ID or "424242",
            "META_GRAPH_URL": os.environ.get("META_GRAPH_URL", f"http://127.0.0.1:{graph_port}/v25.0"),
            "PYTHONUNBUFFERED": "1",
        }
        os.environ.update(env)
        call_command("migrate", interactive=False, verbosity=0)
        if not no_seed:
            call_command("seed_demo")
        python = sys.executable
        root = Path(settings.BASE_DIR)
        bin_dir = Path(python).parent
        commands = {
            "graph": [python, "-m", "inbox.fake_graph", "--port", str(graph_port), "--echo-to",
                      f"{base}/webhooks/meta", "--app-secret", env["META_APP_SECRET"], "--app-id", env["META_APP_ID"]],
            "web": [str(bin_dir / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
                    "--threads", "4", "--access-logfile", "-", "--log-level", "warning"],
            "worker": [str(bin_dir / "celery"), "-A", "config", "worker", "--pool", "solo", "--loglevel", "WARNING"],
            "beat": [str(bin_dir / "celery"), "-A", "config", "beat", "--loglevel", "WARNING",
                     "--schedule", str(Path(settings.VAR_DIR) / "celerybeat-schedule")],
        }
        if rate > 0:
            commands["simulate"] = [python, "manage.py", "simulate", "--url", f"{base}/webhooks/meta",
                                    "--rate", str(rate)]
        processes: dict[str, subprocess.Popen] = {}
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            for name, command in commands.items():
                if name == "simulate":
                    time.sleep(2)  # let the web server bind first
                processes[name] = subprocess.Popen(command, cwd=root, env=env)  # noqa: S603 - our own commands
            self.stdout.write(f"Starting web, worker and beat on {base}/ …")
            self.stdout.flush()
            announced = warned = False
            ready_by = time.monotonic() + READY_TIMEOUT
            while not stopping:
                if not announced and healthy(base):
                    # Said only once the database, the broker and a worker answer: the
                    # address it prints works the moment it is printed.
                    announced = True
                    self.stdout.write(self.style.SUCCESS(
                        f"\nRéactif is running: open {base}/ and sign in as marie (admin) or hugo (agent), "
                        f"password demo-reactif-2026. Django admin: {base}/admin/ (admin / same password).\n"
                        "Press Ctrl-C to stop everything.\n"
                    ))
                    self.stdout.flush()
                elif not announced and not warned and time.monotonic() > ready_by:
                    warned = True
                    self.stderr.write(f"Still not healthy after {READY_TIMEOUT} s: see {base}/healthz and the logs above.")
                for name, process in processes.items():
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited with code {process.returncode}; stopping.")
                        stopping = True
                        break
                time.sleep(0.5)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.terminate()
            deadline = time.monotonic() + 10
            for process in processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
            self.stdout.write("Stopped.")

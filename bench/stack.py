"""The production processes the benchmarks drive: gunicorn, a Celery worker,
beat and a fake Graph API, each a subprocess with its log under var/bench/."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from . import measure
from .env import ROOT

BIN = Path(sys.executable).parent
LOGS = ROOT / "var" / "bench"
CORES = os.cpu_count() or 2
# gunicorn on 2 cores: sync workers, 2 per core. A webhook request is short
# and mostly waits on PostgreSQL's commit and Redis, so a process per core
# leaves the CPU idle; more than two per core only adds context switches.
WEB_WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", str(2 * CORES)))
# Celery pool processes (and the processes of the loop it is compared with).
WORKER_PROCESSES = int(os.environ.get("BENCH_WORKER_PROCESSES", str(CORES)))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {seconds:.0f} s")


class Process:
    def __init__(self, name: str, command: list[str], env: dict[str, str]) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log = LOGS / f"{name}.log"
        self._handle = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self._handle, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._handle.close()


class Stack:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = dict(env)
        self.processes: dict[str, Process] = {}
        self.web_port = 0

    def start_graph(self) -> str:
        port = free_port()
        self.processes["graph"] = Process(
            "graph", [sys.executable, "-m", "inbox.fake_graph", "--port", str(port)], self.env)
        wait_for_port(port)
        url = f"http://127.0.0.1:{port}/v25.0"
        self.env["META_GRAPH_URL"] = url
        return url

    def start_web(self, workers: int = WEB_WORKERS) -> str:
        self.web_port = free_port()
        self.processes["web"] = Process("web", [
            str(BIN / "gunicorn"), "config.wsgi", "--bind", f"127.0.0.1:{self.web_port}",
            "--workers", str(workers), "--worker-class", "sync", "--backlog", "2048",
            "--log-level", "warning",
        ], self.env)
        wait_for_port(self.web_port)
        # Workers load the app after the master binds: wait until they answer.
        import urllib.request

        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/accounts/login/", timeout=5):
                    break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        return f"http://127.0.0.1:{self.web_port}"

    def start_worker(self, concurrency: int = WORKER_PROCESSES, name: str = "worker") -> None:
        self.processes[name] = Process(name, [
            str(BIN / "celery"), "-A", "config", "worker", "--pool", "prefork", "--concurrency", str(concurrency),
            "-Q", self.env["CELERY_QUEUE"], "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
            "-n", f"bench-{name}@%h",
        ], self.env)

    def start_beat(self) -> None:
        schedule = LOGS / "celerybeat-schedule"
        for stale in LOGS.glob("celerybeat-schedule*"):
            stale.unlink()
        self.processes["beat"] = Process("beat", [
            str(BIN / "celery"), "-A", "config", "beat", "--loglevel", "WARNING", "--schedule", str(schedule),
        ], self.env)

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            process.stop()

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)

    def memory(self, name: str) -> dict[str, object]:
        """The master and each child (gunicorn workers, Celery pool processes)."""
        process = self.processes[name]
        kids = measure.children(process.pid)
        report: dict[str, object] = {"main": measure.peak_rss_mb(process.pid)}
        report["children"] = [measure.peak_rss_mb(pid) for pid in kids]
        return report

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if not process.alive():
                tail = process.log.read_text()[-2000:]
                raise RuntimeError(f"{name} exited ({process.popen.returncode}):\n{tail}")


def purge_queue(env: dict[str, str]) -> None:
    """Drop the tasks queued for the benchmark's Celery queue (Redis list)."""
    import redis

    client = redis.Redis.from_url(env["REDIS_URL"])
    client.delete(env["CELERY_QUEUE"])
    client.close()

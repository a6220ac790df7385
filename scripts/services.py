#!/usr/bin/env python3
"""Start and stop the real PostgreSQL and Redis that `make test` and
`make bench` use, from this machine's binaries, under var/services/.

    python3 scripts/services.py start   # idempotent; prints the env to export
    python3 scripts/services.py stop
    python3 scripts/services.py env

PostgreSQL refuses to run as root, so as root the cluster is owned by (and
run as) the `postgres` system user, created when missing. Both servers listen
on loopback only, on ports chosen to stay clear of any system instance.
Standard library only: this runs before the virtualenv exists.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIR = Path(os.environ.get("REACTIF_SERVICES_DIR", ROOT / "var" / "services"))
PG_PORT = int(os.environ.get("REACTIF_PG_PORT", "55432"))
REDIS_PORT = int(os.environ.get("REACTIF_REDIS_PORT", "56379"))
PG_DB = "reactif"


def die(message: str) -> None:
    print(f"services: {message}", file=sys.stderr)
    sys.exit(1)


def find(binary: str) -> str:
    path = shutil.which(binary)
    if path:
        return path
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{binary}"), reverse=True):
        return str(candidate)
    die(f"{binary} not found: install PostgreSQL and Redis (.ci/run does it with apt-get).")
    raise AssertionError


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(port: int, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.1)
    die(f"{what} did not start listening on 127.0.0.1:{port} within {seconds:.0f} s")


def as_pg_user() -> list[str]:
    """Prefix that runs a command as the cluster owner (postgres when root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"],
            check=True,
        )
    return ["runuser", "-u", "postgres", "--"]


def start_postgres() -> None:
    data = DIR / "pg"
    log = DIR / "pg.log"
    prefix = as_pg_user()
    DIR.mkdir(parents=True, exist_ok=True)
    if prefix:
        os.chmod(DIR, 0o755)  # noqa: S103 - the postgres user must reach its data directory inside
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        if prefix:
            shutil.chown(data, "postgres", "postgres")
        subprocess.run(
            [*prefix, find("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--locale=C.UTF-8"],
            check=True, stdout=subprocess.DEVNULL,
        )
    if port_open(PG_PORT):
        return
    if prefix:
        log.touch()
        shutil.chown(log, "postgres", "postgres")
    stale = data / "postmaster.pid"
    if stale.exists():
        stale.unlink()
    # The server writes and flushes as in production (fsync and full page
    # writes on), so that the benchmarks, which run here too, pay what a
    # durable commit costs: their database sets `synchronous_commit = on`
    # (bench/env.py). The tests' throwaway databases do not wait for their
    # commits to reach the disk (the default below), which keeps them fast.
    options = (
        f"-p {PG_PORT} -k /tmp -c listen_addresses=127.0.0.1 "
        "-c synchronous_commit=off -c max_connections=200 -c shared_buffers=512MB"
    )
    subprocess.run(
        [*prefix, find("pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"],
        check=True, stdout=subprocess.DEVNULL,
    )
    wait_for(PG_PORT, "PostgreSQL")
    exists = subprocess.run(
        [find("psql"), "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "-tAc",
         f"SELECT 1 FROM pg_database WHERE datname='{PG_DB}'"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    if exists != "1":
        subprocess.run(
            [find("createdb"), "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", PG_DB], check=True
        )


def start_redis() -> None:
    if port_open(REDIS_PORT):
        return
    DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [find("redis-server"), "--port", str(REDIS_PORT), "--bind", "127.0.0.1", "--daemonize", "yes",
         "--save", "", "--appendonly", "no", "--dir", str(DIR),
         "--pidfile", str(DIR / "redis.pid"), "--logfile", str(DIR / "redis.log")],
        check=True,
    )
    wait_for(REDIS_PORT, "Redis")


def stop() -> None:
    data = DIR / "pg"
    if (data / "postmaster.pid").exists():
        subprocess.run([*as_pg_user(), find("pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                       stdout=subprocess.DEVNULL, check=False)
    if port_open(REDIS_PORT):
        subprocess.run([find("redis-cli"), "-p", str(REDIS_PORT), "shutdown", "nosave"],
                       stdout=subprocess.DEVNULL, check=False)


def env() -> str:
    return (
        f"export DATABASE_URL=postgres://postgres@127.0.0.1:{PG_PORT}/{PG_DB}\n"
        f"export REDIS_URL=redis://127.0.0.1:{REDIS_PORT}/0\n"
    )


def main() -> None:
    command = sys.argv[1] if len(sys.argv) > 1 else "start"
    if command == "start":
        start_postgres()
        start_redis()
        print(env(), end="")
    elif command == "stop":
        stop()
    elif command == "env":
        print(env(), end="")
    else:
        die("usage: services.py start|stop|env")


if __name__ == "__main__":
    main()

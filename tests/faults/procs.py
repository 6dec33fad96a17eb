"""Private services and product processes for the fault tests: a redis-server, a PostgreSQL
cluster, `soc worker` and `soc run` subprocesses, each on free loopback ports, each started
once per module and restartable. The shared services of deploy/services.sh are never stopped:
a test that restarts something restarts one of these."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import redis

from bench.reliability import Server, free_port

ROOT = Path(__file__).resolve().parents[2]
SOC = str(Path(sys.executable).with_name("soc"))

__all__ = ["Postgres", "Redis", "Server", "Switch", "Worker", "free_port", "report", "wait_until"]


def wait_until(check: Callable[[], object], seconds: float, every: float = 0.2) -> object:
    """The first truthy answer of `check` within `seconds` (errors count as not yet), else
    the last answer; never waits longer."""
    deadline = time.monotonic() + seconds
    answer: object = None
    while True:
        try:
            answer = check()
        except Exception:
            answer = None
        if answer or time.monotonic() >= deadline:
            return answer
        time.sleep(every)


def report(
    fault: str, accepted: int, stored: int, lost: int, duplicated: int, **more: object
) -> str:
    extra = "".join(f" {k}={v}" for k, v in more.items())
    line = (
        f"fault={fault} accepted={accepted} stored={stored} lost={lost} "
        f"duplicated={duplicated}{extra}"
    )
    print(line, flush=True)
    return line


class Redis:
    """A private redis-server. With `durable`, every write is in the append-only file before
    Redis answers (appendfsync always), so a kill -9 loses no queued task."""

    def __init__(self, workdir: Path, durable: bool = True) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not installed: run deploy/redis.sh start once")
        self.binary = binary
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.durable = durable
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else []
        self.proc = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.dir),
             "--save", "", *persistence, "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if not wait_until(self.ping, 20, 0.05):
            raise RuntimeError(f"private Redis did not answer in 20 s (see {self.dir}/redis.log)")

    def ping(self) -> bool:
        return bool(redis.Redis(port=self.port, socket_timeout=1).ping())

    def client(self, db: int = 0) -> redis.Redis[bytes]:
        return redis.Redis(port=self.port, db=db, socket_timeout=5)

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        self.kill9()


class Postgres:
    """A private PostgreSQL cluster (initdb into a directory of its own) on a free port.
    PostgreSQL refuses to run as root: as root the cluster belongs to the `postgres` user, as
    deploy/postgres.sh does it, and lives under a world-traversable temporary directory."""

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not found:
            raise RuntimeError("PostgreSQL server binaries not found: run deploy/postgres.sh")
        self.bin = found[-1].parent
        self.root = Path(tempfile.mkdtemp(prefix="soc-faults-pg-"))
        self.data, self.sock = self.root / "data", self.root / "sock"
        self.sock.mkdir()
        self.port = free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres"
            try:
                pwd.getpwnam(self.user)
            except KeyError:
                subprocess.run(
                    ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                     self.user], check=True, capture_output=True,
                )  # fmt: skip
            self.root.chmod(0o755)
            shutil.chown(self.sock, self.user)
            os.chown(self.root, pwd.getpwnam(self.user).pw_uid, -1)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")  # fmt: skip

    def _run(self, tool: str, *args: str, timeout: float = 90) -> None:
        command = [str(self.bin / tool), *args]
        if self.user is not None:
            command = ["runuser", "-u", self.user, "--", *command]
        out = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"{tool} failed: {out.stderr.strip() or out.stdout.strip()}")

    @property
    def server_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def database(self, name: str) -> str:
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        options = (
            f"-h 127.0.0.1 -p {self.port} -k {self.sock} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                  "-t", "60", "-o", options, "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session at once (open connections see it as a disconnect)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class Worker:
    """One `soc worker` (Celery, prefork) in a session of its own: `kill9` kills the main
    process and its pool children at once, as a lost machine or container does."""

    def __init__(self, env: dict[str, str], log: Path, concurrency: int = 1) -> None:
        self.env, self.log, self.concurrency = env, log, concurrency
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [SOC, "worker", f"--concurrency={self.concurrency}", "--loglevel=INFO"],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def children(self) -> list[int]:
        """The pool processes (they run the tasks)."""
        assert self.proc is not None
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                found.append(int(stat.parent.name))
        return found

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill9()


def post(client: httpx.Client, path: str, body: bytes, key: str) -> httpx.Response | None:
    """An ingest POST; None when the connection failed (the server is down)."""
    try:
        return client.post(
            path, content=body, headers={"X-API-Key": key, "Content-Type": "application/x-ndjson"}
        )
    except httpx.HTTPError:
        return None


class Switch:
    """A TCP forwarder on a free loopback port to `target`: `down()` refuses new connections
    and cuts the open ones (the service looks dead to its clients, while the real one, shared
    with other tests, is never touched); `up()` forwards again on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed by down()
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:  # one side ended: end both (the other pipe's recv then fails and returns)
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)

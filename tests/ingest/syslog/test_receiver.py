"""The syslog receiver end to end with a real sender (util-linux `logger`) over UDP, TCP
(LF and octet counting) and TLS (Python's ssl client; logger has no TLS): events stored for
the right tenant, metered, and a SigmaHQ rule raises its alert; back-pressure with the store
failing (TCP waits, nothing lost) and the UDP drop counter."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from detections.models import Alert
from detections.sources import load_ruleset
from ingest.syslog.build import build_server
from ingest.syslog.server import SyslogServer
from soc.core.principal import Principal
from soc.core.settings import Settings
from soc.services import Services, build_services
from tenants.api_keys import create_api_key
from tenants.models import UsageDaily
from tenants.tenancy import create_tenant

CORPUS_RULE = Path("/work/shared/corpus/sigmahq/rules/linux/builtin/lnx_buffer_overflows.yml")
BUFFER_OVERFLOW = "18b042f0-2ecd-4b6e-9f8d-aa7a7e7de781"
ADMIN = Principal(actor="test", role="admin")
pytestmark = pytest.mark.skipif(shutil.which("logger") is None, reason="util-linux logger")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Rig:
    services: Services
    server: SyslogServer
    ports: dict[str, int]
    acme: int
    globex: int
    key: str
    cert: Path

    def count(self, tenant_id: int, text: str) -> int:
        return self.services.store.search(tenant_id, text=text, limit=1).total

    def wait(self, tenant_id: int, text: str, want: int, seconds: float = 10) -> int:
        end = time.monotonic() + seconds
        while (got := self.count(tenant_id, text)) < want and time.monotonic() < end:
            time.sleep(0.05)
        return got


@pytest.fixture
def rig(services: Services, settings: Settings, tmp_path: Path) -> Iterator[Rig]:
    with services.db.session() as session:
        acme = create_tenant(session, ADMIN, "acme", "Acme").id
        globex = create_tenant(session, ADMIN, "globex", "Globex").id
        _, key = create_api_key(session, ADMIN, "globex", "syslog")
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(CORPUS_RULE, rules / CORPUS_RULE.name)
    cert, private = self_signed(tmp_path)
    ports = {"udp": free_port(socket.SOCK_DGRAM), "tcp": free_port(), "tls": free_port()}
    tenant_port = free_port()
    ports["tenant"] = tenant_port
    configured = settings.model_copy(
        update={
            "rules_dirs": [rules],
            "include_builtin_rules": False,
            "syslog_host": "127.0.0.1",
            "syslog_udp_port": ports["udp"],
            "syslog_tcp_port": ports["tcp"],
            "syslog_tls_port": ports["tls"],
            "syslog_tls_cert": cert,
            "syslog_tls_key": private,
            "syslog_tenant_ports": {str(tenant_port): "acme"},
            "syslog_udp_queue_max": 5,
        }
    )
    built = build_services(configured, ruleset=load_ruleset(configured))
    server, _ = build_server(configured, built.db, built.pipeline.ingest_items, built.ingest_gate)
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    yield Rig(built, server, ports, acme, globex, key, cert)
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    built.close()


def logger(*args: str, message: str) -> None:
    subprocess.run(["logger", "--server", "127.0.0.1", *args, message], check=True, timeout=10)


def test_logger_over_tcp_udp_and_octet_counting(rig: Rig) -> None:
    sd = f'--sd-id=soc@32473 --sd-param=key="{rig.key}"'.split(" ", 1)
    tcp = str(rig.ports["tcp"])
    logger("--port", tcp, "--tcp", "--rfc5424", sd[0], sd[1], "-t", "sshd", message="lf-5424 hi")
    logger("--port", tcp, "--tcp", "--octet-count", "--rfc5424", sd[0], sd[1], message="oc 5424")
    logger("--port", str(rig.ports["udp"]), "--udp", "--rfc5424", sd[0], sd[1], message="udp hi")
    # RFC 3164 has no structured data: the tenant comes from the tenant port.
    port = str(rig.ports["tenant"])
    logger("--port", port, "--tcp", "--rfc3164", "-t", "kernel", message="stack smashing detected")
    logger("--port", port, "--udp", "--rfc3164", message="udp 3164 line")
    assert rig.wait(rig.globex, "lf-5424 hi", 1) == 1
    assert rig.wait(rig.globex, "oc 5424", 1) == 1
    assert rig.wait(rig.globex, "udp hi", 1) == 1
    assert rig.wait(rig.acme, "stack smashing", 1) == 1
    assert rig.wait(rig.acme, "udp 3164 line", 1) == 1
    assert rig.count(rig.acme, "lf-5424") == 0  # each tenant sees only its own
    event = rig.services.store.search(rig.globex, text="lf-5424 hi").events[0]
    assert event.data["app"] == "sshd" and event.data["syslog_format"] == "rfc5424"
    assert rig.key not in str(event.data)  # the key is never stored
    # The store holds the events a moment before their batch is metered and detected.
    end = time.monotonic() + 10
    while True:
        with rig.services.db.read_session() as session:
            metered = session.scalar(
                select(func.sum(UsageDaily.events)).where(UsageDaily.tenant_id == rig.globex)
            )
            alerts = session.scalars(select(Alert.rule_id).where(Alert.tenant_id == rig.acme)).all()
        if (metered == 3 and alerts) or time.monotonic() > end:
            break
        time.sleep(0.05)
    assert metered == 3
    assert list(alerts) == [BUFFER_OVERFLOW]


def test_tls_and_bad_lines_in_one_connection(rig: Rig) -> None:
    context = ssl.create_default_context(cafile=str(rig.cert))
    lines = [
        f'<14>1 - h app - - [soc@32473 key="{rig.key}"] tls good one',
        "not syslog at all",
        f'<14>1 - h app - - [soc@32473 key="{rig.key}"] tls good two',
        '<14>1 - h app - - [soc@32473 key="sk_wrong"] wrong key',
    ]
    payload = "".join(f"{len(m.encode())} {m}" for m in lines).encode()
    raw = socket.create_connection(("127.0.0.1", rig.ports["tls"]))
    with context.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(payload)
    assert rig.wait(rig.globex, "tls good", 2) == 2
    stats = rig.server.receiver.stats
    end = time.monotonic() + 5
    while stats.rejected < 2 and time.monotonic() < end:
        time.sleep(0.05)
    assert stats.rejected == 2
    assert any("PRI" in r for r in stats.reasons) and any("ingest key" in r for r in stats.reasons)


def test_back_pressure_tcp_waits_and_udp_counts_drops(rig: Rig, monkeypatch: Any) -> None:
    from ingest.store.base import StoreBusy

    real = rig.server.receiver.batcher.ingest
    blocked = threading.Event()
    blocked.set()

    def failing(tenant: Any, items: Any) -> Any:
        if blocked.is_set():
            raise StoreBusy("injected: spool full", retry_after=1)
        return real(tenant, items)

    rig.server.receiver.batcher.ingest = failing
    count = 4000
    body = b"".join(
        b"<14>Oct 11 22:14:15 h app: bp line %d %s\n" % (i, b"x" * 2000) for i in range(count)
    )
    sender = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    sender.connect(("127.0.0.1", rig.ports["tenant"]))
    sender.setblocking(False)
    sent = 0
    end = time.monotonic() + 5
    while sent < len(body) and time.monotonic() < end:  # until the kernel buffers are full
        try:
            sent += sender.send(body[sent : sent + 65536])
        except BlockingIOError:
            time.sleep(0.05)
    assert sent < len(body), "the sender never blocked"
    for i in range(20):  # UDP while the store is behind: counted drops
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(
            b"<14>udp drop %d" % i, ("127.0.0.1", rig.ports["tenant"])
        )
    end = time.monotonic() + 5
    while rig.server.receiver.stats.udp_dropped == 0 and time.monotonic() < end:
        time.sleep(0.05)
    assert rig.server.receiver.stats.udp_dropped > 0
    assert rig.count(rig.acme, "bp line") == 0
    blocked.clear()
    sender.setblocking(True)
    sender.sendall(body[sent:])
    sender.close()
    assert rig.wait(rig.acme, "bp line", count, seconds=20) == count

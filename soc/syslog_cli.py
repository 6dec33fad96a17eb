"""`soc syslog`: run the syslog listeners on the same pipeline as HTTP ingest (stored,
metered, detected), with the counters written to data_dir/syslog-status.json every few
seconds and on stop (`soc syslog status` prints them)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path

import orjson
import typer

from soc.core.migrate import upgrade
from soc.core.settings import Settings, get_settings

app = typer.Typer(help="Syslog receiver (RFC 5424/3164 over UDP, TCP and TLS).")
STATUS_EVERY = 5.0


def status_path(settings: Settings) -> Path:
    return settings.data_dir / "syslog-status.json"


@app.callback(invoke_without_command=True)
def syslog(ctx: typer.Context) -> None:
    """Listen on the SOC_SYSLOG_* ports until stopped (Ctrl-C or SIGTERM store what was
    received first)."""
    if ctx.invoked_subcommand is not None:
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = get_settings()
    upgrade(settings.sqlalchemy_url)
    asyncio.run(serve(settings))


@app.command("status")
def status() -> None:
    """Print the running receiver's counters (received, stored, rejected, UDP dropped)."""
    path = status_path(get_settings())
    if not path.exists():
        typer.echo(f"no status at {path}: is `soc syslog` running?", err=True)
        raise typer.Exit(1)
    typer.echo(path.read_text())


async def serve(settings: Settings, ready: asyncio.Event | None = None) -> None:
    from ingest.syslog.build import build_server
    from soc.services import build_services

    services = build_services(settings)
    server, tenant_ports = build_server(
        settings, services.db, services.pipeline.ingest_items, services.ingest_gate
    )
    if not server.listeners:
        services.close()
        typer.echo(
            "no syslog port set: set SOC_SYSLOG_TCP_PORT, _UDP_PORT, _TLS_PORT or "
            "SOC_SYSLOG_TENANT_PORTS",
            err=True,
        )
        raise typer.Exit(2)
    await server.start()
    for item in server.bound:
        slug = tenant_ports.get((item.proto, item.port), "tenant from the key in structured data")
        typer.echo(f"syslog {item.proto} on {settings.syslog_host}:{item.port} -> {slug}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    stats = server.receiver.stats
    last_recovery = 0.0
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), STATUS_EVERY)
            write_status(settings, stats.as_dict())
            if time.monotonic() - last_recovery > settings.ingest_recovery_every_seconds:
                last_recovery = time.monotonic()
                await asyncio.to_thread(services.recover_ingest)
    finally:
        typer.echo("syslog: stopping, storing what was received", err=True)
        await server.stop()
        write_status(settings, stats.as_dict())
        services.close()
        typer.echo(f"syslog stopped: {orjson.dumps(stats.as_dict()).decode()}", err=True)


def write_status(settings: Settings, data: dict[str, object]) -> None:
    path = status_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(data | {"at": time.time()}, option=orjson.OPT_INDENT_2))
    tmp.replace(path)

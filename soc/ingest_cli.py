"""`soc ingest FILE...`: EVTX, JSON, JSONL and evtx_dump JSON files into a tenant's events.

With --url and --key it ships to a running server: EVTX files are streamed as they are read
to POST /api/v1/ingest/evtx (never read into memory), other files go as NDJSON batches to
POST /api/v1/ingest; a 503 is retried after its Retry-After. Without --url it ingests into
this machine's configured stores (--tenant names the tenant) through the same pipeline the
server runs, so the events are metered and detected alike.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import typer
from tqdm import tqdm

from ingest.evtx_ingest import MAX_ERRORS, IngestItems, ingest_evtx_file
from ingest.evtx_reader import EVTX_MAGIC
from ingest.files import iter_events_from_file
from ingest.parse import Parsed, Rejected, check_value
from soc.core.cli import fail

UPLOAD_CHUNK = 1 << 20
RETRIES = 5  # 503 answers retried per request, after their Retry-After
MAX_RETRY_WAIT = 60.0


class FileFailed(Exception):
    """The file could not be ingested (unreadable, unknown format, refused by the server)."""


@dataclass
class FileSummary:
    file: str
    format: str = ""
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    failed: str | None = None

    def add_errors(self, errors: Sequence[dict[str, Any]]) -> None:
        self.errors.extend(errors[: max(0, MAX_ERRORS - len(self.errors))])

    def as_dict(self) -> dict[str, Any]:
        out = {
            "file": self.file,
            "format": self.format,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "new": self.accepted - self.duplicates,
            "rejected": self.rejected,
            "errors": self.errors,
        }
        if self.failed:
            out["failed"] = self.failed
        return out


def _say(message: str) -> None:
    typer.echo(message, err=True)


def file_format(path: Path) -> str:
    """'evtx' or 'json' (a JSON array, JSONL or evtx_dump output: told apart when read)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(len(EVTX_MAGIC))
    except OSError as exc:
        raise FileFailed(f"cannot read the file: {exc.strerror or exc}") from None
    return "evtx" if head == EVTX_MAGIC else "json"


def json_batches(
    path: Path, batch: int, max_event_bytes: int, rejected: Callable[[int, str], None]
) -> Iterator[list[Parsed]]:
    """The file's events (1-based numbers) in batches; unstorable ones go to `rejected`."""
    items: list[Parsed] = []
    try:
        for number, event in enumerate(iter_events_from_file(path), start=1):
            raw = orjson.dumps(event)
            checked = check_value(number, raw, event, max_event_bytes)
            if isinstance(checked, Rejected):
                rejected(number, checked.reason)
                continue
            items.append(checked)
            if len(items) >= batch:
                yield items
                items = []
    except (OSError, ValueError) as exc:
        raise FileFailed(str(exc).removeprefix(f"{path}: ")) from None
    if items:
        yield items


# -- against a server ------------------------------------------------------------------------


class Remote:
    def __init__(self, url: str, key: str, quiet: bool) -> None:
        if not url.startswith(("http://", "https://")):
            fail(f"--url must start with http:// or https://, got '{url}'", 2)
        self.base = url.rstrip("/")
        self.client = httpx.Client(
            headers={"X-API-Key": key}, timeout=httpx.Timeout(30.0, read=900.0)
        )
        self.quiet = quiet

    def close(self) -> None:
        self.client.close()

    def post(self, path: str, body: Callable[[], Any], headers: dict[str, str]) -> dict[str, Any]:
        """POST (the body made afresh for each attempt); the answer's JSON, 503s retried."""
        for attempt in range(RETRIES + 1):
            try:
                answer = self.client.post(self.base + path, content=body(), headers=headers)
            except httpx.HTTPError as exc:
                raise FileFailed(f"cannot reach {self.base}: {exc}") from None
            if answer.status_code == 503 and attempt < RETRIES:
                wait = _retry_after(answer.headers.get("retry-after"))
                if not self.quiet:
                    _say(f"server busy (503); retrying in {wait:g} s")
                time.sleep(wait)
                continue
            return _answer_json(answer)
        raise AssertionError("unreachable")

    def evtx(self, path: Path, summary: FileSummary, show_bar: bool) -> None:
        size = path.stat().st_size
        with tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            desc=path.name,
            disable=not show_bar,
            file=sys.stderr,
        ) as bar:

            def stream() -> Iterator[bytes]:
                bar.reset(total=size)
                with path.open("rb") as fh:
                    while chunk := fh.read(UPLOAD_CHUNK):
                        bar.update(len(chunk))
                        yield chunk

            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
            out = self.post("/api/v1/ingest/evtx", stream, headers)
        summary.accepted += out.get("accepted", 0)
        summary.duplicates += out.get("duplicates", 0)
        summary.rejected += out.get("rejected", 0)
        summary.add_errors(
            [{k: e.get(k) for k in ("record", "offset", "reason")} for e in out.get("errors", [])]
        )

    def json(self, path: Path, summary: FileSummary, batch: int, show_bar: bool) -> None:
        def rejected(number: int, reason: str) -> None:
            summary.rejected += 1
            summary.add_errors([{"event": number, "reason": reason}])

        headers = {"Content-Type": "application/x-ndjson"}
        with tqdm(unit="event", desc=path.name, disable=not show_bar, file=sys.stderr) as bar:
            # The server's own event limit applies there; here only an absurd size is refused.
            for items in json_batches(path, batch, 1 << 30, rejected):
                body = b"\n".join(item.raw for item in items) + b"\n"
                out = self.post("/api/v1/ingest", _always(body), headers)
                summary.accepted += out.get("accepted", 0)
                summary.duplicates += out.get("duplicates", 0)
                summary.rejected += out.get("rejected", 0)
                summary.add_errors(
                    [
                        {"event": items[e["line"] - 1].line, "reason": e["reason"]}
                        for e in out.get("errors", [])
                        if 0 < e.get("line", 0) <= len(items)
                    ]
                )
                bar.update(len(items))


def _always(body: bytes) -> Callable[[], bytes]:
    return lambda: body


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or 1), 0.0), MAX_RETRY_WAIT)
    except ValueError:
        return 1.0


def _answer_json(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if answer.status_code == 401:
        raise FileFailed("the server refused the ingest key (401): check --key")
    if answer.status_code == 404:
        raise FileFailed(f"no ingest endpoint at {answer.request.url} (404): check --url")
    if answer.status_code == 422 and "accepted" in body:
        return body  # no record could be read: the answer says why, per record
    if answer.status_code >= 400:
        detail = body.get("detail") or answer.text[:300] or answer.reason_phrase
        raise FileFailed(f"the server answered {answer.status_code}: {detail}")
    return body


# -- into this machine's stores --------------------------------------------------------------


class Local:
    def __init__(self, tenant: str) -> None:
        from soc.core.migrate import upgrade
        from soc.core.principal import Principal, TenantRef
        from soc.core.settings import get_settings
        from soc.services import build_services  # the server's objects: only when local
        from tenants.tenancy import get_tenant

        self.settings = get_settings()
        upgrade(self.settings.sqlalchemy_url)
        self.services = build_services(self.settings)
        try:
            with self.services.db.read_session() as session:
                found = get_tenant(session, Principal(actor="cli", role="admin"), tenant)
                self.tenant = TenantRef(found.id)
        except Exception as exc:
            self.services.close()
            fail(str(getattr(exc, "message", exc)))

    def close(self) -> None:
        self.services.close()

    def items(self) -> IngestItems:
        return lambda items: self.services.pipeline.ingest_items(self.tenant, items)

    def evtx(self, path: Path, summary: FileSummary, show_bar: bool) -> None:
        result = ingest_evtx_file(
            self.items(), path, path.name, path.stat().st_size, self.settings.max_event_bytes
        )
        summary.accepted, summary.duplicates = result.accepted, result.duplicates
        summary.rejected = result.rejected
        summary.add_errors(
            [{"record": e.record, "offset": e.offset, "reason": e.reason} for e in result.errors]
        )

    def json(self, path: Path, summary: FileSummary, batch: int, show_bar: bool) -> None:
        def rejected(number: int, reason: str) -> None:
            summary.rejected += 1
            summary.add_errors([{"event": number, "reason": reason}])

        store = self.items()
        with tqdm(unit="event", desc=path.name, disable=not show_bar, file=sys.stderr) as bar:
            for items in json_batches(path, batch, self.settings.max_event_bytes, rejected):
                stored = store(items)
                summary.accepted += len(stored.events)
                summary.duplicates += stored.duplicates
                bar.update(len(items))


def _report(summary: FileSummary) -> None:
    if summary.failed:
        _say(f"{summary.file}: FAILED: {summary.failed}")
        return
    _say(
        f"{summary.file}: {summary.accepted} accepted ({summary.duplicates} duplicates), "
        f"{summary.rejected} rejected"
    )
    for error in summary.errors:
        where = (
            f"record {error.get('record') or '?'} at offset {error.get('offset')}"
            if "offset" in error
            else f"event {error.get('event')}"
        )
        _say(f"  {where}: {error.get('reason')}")


def ingest(
    files: list[Path] = typer.Argument(..., help="EVTX, JSON array, JSONL or evtx_dump files."),
    url: str | None = typer.Option(
        None, "--url", envvar="SOC_URL", help="Server to ship to, e.g. https://soc.example:8000"
    ),
    key: str | None = typer.Option(
        None, "--key", envvar="SOC_INGEST_KEY", help="The tenant's ingest key (with --url)."
    ),
    tenant: str | None = typer.Option(
        None, "--tenant", "-t", help="Tenant slug, without --url: ingest into local stores."
    ),
    batch: int = typer.Option(1000, "--batch", min=1, max=10_000, help="Events a request."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Ingest FILES for a tenant: to a server (--url, --key) or into this machine's stores
    (--tenant). Prints a JSON line per file (accepted, duplicates, rejected with reasons);
    exit 1 when a file could not be ingested."""
    if url and tenant:
        fail("give --url with --key (the key names the tenant), or --tenant without --url", 2)
    if url and not key:
        fail("--url needs --key (the tenant's ingest key, or SOC_INGEST_KEY)", 2)
    if not url and not tenant:
        fail("give --url and --key to ship to a server, or --tenant to ingest locally", 2)
    target: Remote | Local = Remote(url, key or "", quiet) if url else Local(tenant or "")
    show_bar = not quiet and sys.stderr.isatty()
    failed = 0
    try:
        for path in files:
            summary = FileSummary(str(path))
            try:
                if not path.is_file():
                    raise FileFailed("no such file")
                summary.format = file_format(path)
                if summary.format == "evtx":
                    target.evtx(path, summary, show_bar)
                else:
                    target.json(path, summary, batch, show_bar)
                if summary.accepted == 0 and summary.rejected:
                    summary.failed = "no event could be ingested"
            except FileFailed as exc:
                summary.failed = str(exc)
            failed += summary.failed is not None
            if not quiet:
                _report(summary)
            typer.echo(orjson.dumps(summary.as_dict()).decode())
    finally:
        target.close()
    if failed:
        _say(f"{failed} of {len(files)} file(s) failed")
        raise typer.Exit(1)

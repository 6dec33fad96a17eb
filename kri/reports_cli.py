"""`soc kri report --period YYYY-MM [--tenant T | --provider P | --end-to-end] [--out DIR]`:
publish the period's monthly reports (every subject not yet published when none is named)
and, with --out, write each report's PDF, HTML, CSV and JSON there."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import typer
from sqlalchemy import select

from ingest.store.factory import build_store
from kri import report_render, reports
from kri.models import KriReport
from soc.core.cli import cli_session, fail
from soc.core.db import utcnow
from soc.core.principal import SYSTEM
from soc.core.settings import get_settings
from tenants.models import Provider, Tenant

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _export(report: KriReport, out: Path, lang: report_render.Lang) -> list[Path]:
    content = orjson.loads(report.content)
    subject = (content.get("tenant") or content.get("provider") or {"slug": "all"})["slug"]
    stem = out / f"{report.kind}-{subject}-{report.period}-v{report.version}"
    files = {
        stem.with_suffix(".pdf"): report_render.render_pdf(content, lang),
        stem.with_suffix(".html"): report_render.render_html(content, lang).encode(),
        stem.with_suffix(".csv"): report_render.to_csv(content).encode(),
        stem.with_suffix(".json"): report_render.to_json(content),
    }
    out.mkdir(parents=True, exist_ok=True)
    for path, data in files.items():
        path.write_bytes(data)
    return list(files)


def _existing(session: object, kind: str, period: str, subject: str | None) -> KriReport | None:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    query = select(KriReport).where(KriReport.kind == kind, KriReport.period == period)
    if kind == "customer":
        query = query.join(Tenant, Tenant.id == KriReport.tenant_id).where(Tenant.slug == subject)
    elif kind == "provider":
        query = query.join(Provider, Provider.id == KriReport.provider_id).where(
            Provider.slug == subject
        )
    else:
        query = query.where(KriReport.tenant_id.is_(None), KriReport.provider_id.is_(None))
    return session.scalar(query.order_by(KriReport.version.desc()).limit(1))


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report_command(
        period: str = typer.Option(..., "--period", help="The month, YYYY-MM."),
        tenant: str | None = typer.Option(None, "--tenant", help="One customer's report."),
        provider: str | None = typer.Option(None, "--provider", help="One provider's report."),
        end_to_end: bool = typer.Option(False, "--end-to-end", help="The end-to-end report."),
        out: Path | None = typer.Option(None, "--out", help="Write PDF/HTML/CSV/JSON here."),
        lang: str = typer.Option("en", "--lang", help="en or nl (the exported files)."),
    ) -> None:
        """Publish monthly reports (an existing version is kept, not republished)."""
        if not PERIOD.match(period):
            fail("--period is YYYY-MM", 2)
        if lang not in ("en", "nl"):
            fail("--lang is en or nl", 2)
        chosen = [
            (k, s)
            for k, s, on in (
                ("customer", tenant, tenant is not None),
                ("provider", provider, provider is not None),
                ("end_to_end", None, end_to_end),
            )
            if on
        ]
        if len(chosen) > 1:
            fail("name one of --tenant, --provider, --end-to-end (or none for all)", 2)
        settings = get_settings()
        store = build_store(settings)
        try:
            with cli_session() as session:
                now = utcnow()
                if chosen:
                    kind, subject = chosen[0]
                    row = _existing(session, kind, period, subject)
                    done = (
                        [row]
                        if row is not None
                        else [
                            reports.publish(
                                session, SYSTEM, settings, kind, period, subject, now, store
                            )
                        ]
                    )
                else:
                    reports.publish_month(
                        session,
                        SYSTEM,
                        settings,
                        period,
                        now,
                        store,
                        commit_every=reports.COMMIT_EVERY,
                    )
                    done = list(
                        session.scalars(select(KriReport).where(KriReport.period == period))
                    )
                for row in done:
                    typer.echo(f"{row.id}\t{row.kind}\tv{row.version}\t{row.sha256}")
                    if out is not None:
                        for path in _export(row, out, "nl" if lang == "nl" else "en"):
                            typer.echo(f"  {path}")
        finally:
            store.close()

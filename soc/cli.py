"""The `soc` command line: serve, migrate, demo data, tenants, users, keys, audit, detect."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import typer

from detections.cli import detect, rules_app
from ingest.sources_cli import app as sources_app
from kri.cli import app as kri_app
from kri.dwh_cli import app as dwh_app
from risk.cli import app as risk_app
from soc import audit_cli
from soc.access_cli import access_overview, end_sessions, set_role
from soc.cmdb.cli import app as cmdb_app
from soc.core import audit
from soc.core.cli import cli_session, fail
from soc.core.migrate import upgrade
from soc.core.principal import Principal
from soc.core.settings import Settings, get_settings
from soc.ingest_cli import ingest
from soc.mail_cli import app as mail_app
from soc.mail_cli import mail_profile
from soc.pipeline_cli import hunt
from soc.secrets_cli import app as secrets_app
from soc.syslog_cli import app as syslog_app
from soc.tokens_cli import app as tokens_app
from soc.verify_cli import verify as verify_document
from tenants import scope as scope_service
from tenants import service as tenant_service
from tenants.billing.cli import app as billing_app

app = typer.Typer(
    help="soc: multi-tenant security operations. Settings come from SOC_* environment "
    "variables (see README); by default everything lives under ./var/.",
    no_args_is_help=True,
)
tenants_app = typer.Typer(help="Customer organisations (tenants).", no_args_is_help=True)
providers_app = typer.Typer(help="ICT service providers.", no_args_is_help=True)
users_app = typer.Typer(help="People and their roles.", no_args_is_help=True)
apikeys_app = typer.Typer(help="Per-tenant ingest API keys.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")
app.add_typer(providers_app, name="providers")
app.add_typer(users_app, name="users")
app.add_typer(apikeys_app, name="apikeys")
app.add_typer(audit_app, name="audit")
app.add_typer(billing_app, name="billing")
app.add_typer(cmdb_app, name="cmdb")
app.add_typer(sources_app, name="sources")
app.add_typer(risk_app, name="risk")
app.add_typer(kri_app, name="kri")
app.add_typer(dwh_app, name="dwh")
app.add_typer(syslog_app, name="syslog")
app.add_typer(mail_app, name="mail")
app.add_typer(tokens_app, name="tokens")
app.add_typer(secrets_app, name="secrets")
users_app.command("mail-profile")(mail_profile)
users_app.command("set-role")(set_role)
users_app.command("end-sessions")(end_sessions)
users_app.command("access")(access_overview)
rules_app.command("hunt")(hunt)  # raises cases: the shell adds it to the rules commands
app.add_typer(rules_app, name="rules")
app.command("detect")(detect)
app.command("ingest")(ingest)
app.command("verify")(verify_document)
audit_cli.register(audit_app)

CLI_ACTOR = Principal(actor="cli", role="admin")


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema to the newest version."""
    settings = get_settings()
    upgrade(settings.sqlalchemy_url)
    _seed_kri_catalogue(settings)
    typer.echo(f"database at {settings.sqlalchemy_url} is up to date")


def _seed_kri_catalogue(settings: Settings) -> None:
    """The shipped KRI catalogue's missing entries (API edits are never overwritten)."""
    from kri.catalogue import seed_catalogue
    from soc.core.db import Database

    db = Database(settings.sqlalchemy_url)
    try:
        with db.session() as session:
            seed_catalogue(session, settings)
    finally:
        db.engine.dispose()


@app.command()
def run(
    host: str = typer.Option(None, help="Bind address (default SOC_HOST or 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default SOC_PORT or 8000)."),
    demo: bool = typer.Option(
        False, "--demo", help="Load the demo tenant, users and events first."
    ),
) -> None:
    """Migrate, then serve the API and web pages."""
    import uvicorn

    from soc.app import create_app

    settings = get_settings()
    upgrade(settings.sqlalchemy_url)
    if demo:
        from soc.demo import demo_prices, load_demo, print_demo

        settings = demo_prices(settings)

        print_demo(load_demo(settings), host or settings.host, port or settings.port)
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_config=_server_log_config(),
    )


def _server_log_config() -> dict[str, Any]:
    """uvicorn's logging, plus the start-up line of the rule load (how many, from where)."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["detections.sources"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    return config


@app.command()
def worker(
    concurrency: int = typer.Option(2, help="Worker processes (one per core is a good start)."),
    queues: str = typer.Option("celery", help="Comma-separated queues to consume."),
    loglevel: str = typer.Option("INFO", help="Celery log level."),
) -> None:
    """Run a Celery worker (production mode): detection of ingested batches, scheduled jobs.
    Start as many as the load needs, on any machine that reaches Redis and the databases."""
    from soc.celery_app import celery_app

    celery_app.worker_main(
        ["worker", f"--concurrency={concurrency}", f"--queues={queues}", f"--loglevel={loglevel}"]
    )


@app.command()
def beat(loglevel: str = typer.Option("INFO", help="Celery log level.")) -> None:
    """Run the Celery beat scheduler (exactly one per deployment): retention and monthly jobs."""
    from soc.celery_app import celery_app

    settings = get_settings()
    schedule = settings.data_dir / "celerybeat-schedule"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    celery_app.start(["beat", f"--loglevel={loglevel}", f"--schedule={schedule}"])


@app.command()
def retention() -> None:
    """Delete every tenant's events older than its retention now (beat does this daily)."""
    from soc.services import build_services
    from soc.tasks import retention_for_all

    settings = get_settings()
    upgrade(settings.sqlalchemy_url)
    services = build_services(settings)
    try:
        for tenant, removed in retention_for_all(services).items():
            typer.echo(f"{tenant}: {removed} events removed")
    finally:
        services.close()


@app.command("demo")
def demo_cmd() -> None:
    """Load the demo tenant, provider, users, an ingest key and demo Windows events (idempotent)."""
    from soc.demo import load_demo, print_demo

    settings = get_settings()
    upgrade(settings.sqlalchemy_url)
    _seed_kri_catalogue(settings)
    print_demo(load_demo(settings), settings.host, settings.port)


@tenants_app.command("create")
def tenants_create(
    slug: str = typer.Argument(..., help="Short id: lowercase letters, digits, '-'."),
    name: str = typer.Option(..., "--name", help="Display name of the customer."),
    retention_days: int = typer.Option(365, help="Days of logs kept (at most 365)."),
) -> None:
    """Create a tenant (customer organisation)."""
    with cli_session() as session:
        tenant = tenant_service.create_tenant(session, CLI_ACTOR, slug, name, retention_days)
        typer.echo(f"tenant {tenant.slug} created (id {tenant.id})")


@tenants_app.command("list")
def tenants_list() -> None:
    """List tenants."""
    with cli_session() as session:
        for t in tenant_service.list_tenants(session, CLI_ACTOR):
            typer.echo(f"{t.id}\t{t.slug}\t{t.name}\tretention {t.retention_days}d")


@tenants_app.command("update")
def tenants_update(
    slug: str = typer.Argument(..., help="The tenant's slug."),
    name: str = typer.Option(None, "--name", help="New display name."),
    retention_days: int = typer.Option(None, help="New days of logs kept (1..365)."),
    sla_calendar: str = typer.Option(
        None, "--sla-calendar", help="business_hours or 24x7 (clocks started from now on)."
    ),
) -> None:
    """Change a tenant's name, log retention and/or SLA calendar (audited). Exit 1 for an
    unknown tenant or an invalid value, 2 when nothing is to change."""
    if name is None and retention_days is None and sla_calendar is None:
        fail("give --name, --retention-days and/or --sla-calendar", code=2)
    with cli_session() as session:
        tenant = tenant_service.update_tenant(
            session, CLI_ACTOR, slug, name, retention_days, sla_calendar
        )
        days, cal = tenant.retention_days, tenant.sla_calendar
        typer.echo(f"tenant {tenant.slug}: name {tenant.name!r}, retention {days}d, SLA {cal}")


@tenants_app.command("onboard")
def tenants_onboard(
    slug: str = typer.Argument(..., help="Short id: lowercase letters, digits, '-'."),
    name: str = typer.Option(..., "--name", help="Display name of the customer."),
    retention_days: int = typer.Option(365, help="Days of logs kept (at most 365)."),
    key_name: str = typer.Option("ingest", help="Name of the ingest key."),
    plan: str = typer.Option("standard", help="Price plan from this month: standard, enterprise."),
    ceiling: str = typer.Option(None, help="Monthly ceiling in EUR, e.g. 1500.00 (optional)."),
    sla_calendar: str = typer.Option(
        "business_hours", "--sla-calendar", help="SLA calendar: business_hours or 24x7."
    ),
    user: list[str] = typer.Option(
        [], "--user", help="A portal user (role customer) to create; repeat for more."
    ),
    disable_level: list[str] = typer.Option(
        [], "--disable-level", help="Disable the rules of this Sigma level; repeatable."
    ),
    disable_rule: list[str] = typer.Option(
        [], "--disable-rule", help="Disable this rule id; repeatable."
    ),
    enable_rule: list[str] = typer.Option(
        [], "--enable-rule", help="Enable this rule id (after the disables); repeatable."
    ),
) -> None:
    """Onboard a customer in one step: the tenant, its ingest key, its rule choices, its price
    plan and its portal users, in one transaction (on any error nothing is created, exit 1).
    Prints the ingest key and each user's initial password once."""
    from collections.abc import Sequence
    from decimal import Decimal, InvalidOperation

    from detections import service as rules_service
    from detections.sources import load_ruleset
    from detections.tenant_view import TenantViews
    from tenants import onboarding

    try:
        limit = Decimal(ceiling) if ceiling else None
    except InvalidOperation:
        fail(f"--ceiling {ceiling!r} is not an amount", code=2)
    choices = (
        [onboarding.RuleChoice("level", lv, False) for lv in disable_level]
        + [onboarding.RuleChoice("rule", r, False) for r in disable_rule]
        + [onboarding.RuleChoice("rule", r, True) for r in enable_rule]
    )
    settings = get_settings()
    with cli_session() as session:
        views = TenantViews(load_ruleset(settings)) if choices else None

        def apply(tenant: str, picked: Sequence[onboarding.RuleChoice]) -> int:
            assert views is not None
            return sum(
                rules_service.set_state(
                    session, CLI_ACTOR, views, tenant, c.selector, c.value, c.enabled
                ).rules_selected
                for c in picked
            )

        done = onboarding.onboard(
            session,
            CLI_ACTOR,
            onboarding.OnboardingRequest(
                slug, name, retention_days, key_name, choices, plan, limit, user, sla_calendar
            ),
            settings,
            apply if choices else None,
        )
        typer.echo(f"tenant {done.tenant.slug} onboarded (id {done.tenant.id})")
        typer.echo(f"plan {done.plan} from {done.plan_from}; rules selected {done.rules_selected}")
        clocks = ", ".join(f"{p} {c}" for p, c in done.sla_calendar.items())
        typer.echo(f"SLA calendar: {clocks} (tenant calendar {done.tenant.sla_calendar})")
        typer.echo("ingest key (store it now, it is not shown again):")
        typer.echo(done.secret)
        for created, password in done.users:
            typer.echo(f"portal user {created.username}: initial password {password}")


@providers_app.command("create")
def providers_create(
    slug: str = typer.Argument(..., help="Short id: lowercase letters, digits, '-'."),
    name: str = typer.Option(..., "--name", help="Display name of the provider."),
) -> None:
    """Create an ICT service provider."""
    with cli_session() as session:
        provider = tenant_service.create_provider(session, CLI_ACTOR, slug, name)
        typer.echo(f"provider {provider.slug} created (id {provider.id})")


@providers_app.command("serve")
def providers_serve(provider: str, tenant: str) -> None:
    """Let a provider serve a tenant: its provider-scoped users then see that tenant's data."""
    with cli_session() as session:
        changed = scope_service.serve(session, CLI_ACTOR, provider, tenant)
        typer.echo(f"{provider} serves {tenant}" + ("" if changed else " (already)"))


@providers_app.command("unserve")
def providers_unserve(provider: str, tenant: str) -> None:
    """Stop a provider serving a tenant (cases assigned to it stay until reassigned)."""
    with cli_session() as session:
        changed = scope_service.unserve(session, CLI_ACTOR, provider, tenant)
        typer.echo(f"{provider} no longer serves {tenant}" + ("" if changed else " (did not)"))


@providers_app.command("list")
def providers_list() -> None:
    """List providers and the tenants each serves."""
    with cli_session() as session:
        for view in scope_service.list_providers(session, CLI_ACTOR):
            served = ",".join(view.tenants) or "-"
            typer.echo(f"{view.provider.id}\t{view.provider.slug}\t{view.provider.name}\t{served}")


@users_app.command("create")
def users_create(
    username: str = typer.Argument(...),
    role: str = typer.Option(
        ...,
        "--role",
        help="admin, soc_analyst, customer, risk_owner, finance, provider, authority or "
        "tenant_admin (a tenant's local administrator, with --tenant).",
    ),
    tenant: str = typer.Option(None, "--tenant", help="Scope the user to this tenant slug."),
    provider: str = typer.Option(None, "--provider", help="Scope the user to this provider slug."),
    password: str = typer.Option(
        ...,
        "--password",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        help="At least SOC_PASSWORD_MIN_LENGTH (12) characters, not blank, without the "
        "username, not a common password.",
    ),
) -> None:
    """Create a user. Admins and analysts get a TOTP secret, shown once: enrol it in an
    authenticator app."""
    settings = get_settings()
    with cli_session() as session:
        created = tenant_service.create_user(
            session,
            CLI_ACTOR,
            username,
            password,
            role,
            tenant,
            provider,
            tuple(settings.totp_required_roles),
        )
        typer.echo(f"user {username} created (id {created.user.id}, role {role})")
        if created.totp_secret:
            from tenants.security import totp_uri

            typer.echo(f"TOTP secret (shown once): {created.totp_secret}")
            typer.echo(f"TOTP URI: {totp_uri(created.totp_secret, username)}")


@users_app.command("totp-code")
def users_totp_code(username: str = typer.Argument(...)) -> None:
    """Print a user's current TOTP code (for the local demo and for operators at the console)."""
    import pyotp
    from sqlalchemy import select

    from tenants.models import User

    with cli_session() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None or not user.totp_secret:
            fail(f"user '{username}' not found or has no TOTP secret")
        typer.echo(pyotp.TOTP(user.totp_secret).now())


@users_app.command("enroll-totp")
def users_enroll_totp(username: str = typer.Argument(...)) -> None:
    """Give a user a new TOTP secret (shown once) and require it from now on: for users of a
    role that requires TOTP but who have none, or who lost their authenticator."""
    from sqlalchemy import select

    from soc.core import audit as audit_log
    from tenants.models import User
    from tenants.security import new_totp_secret, totp_uri

    with cli_session() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            fail(f"user '{username}' not found")
        user.totp_secret, user.totp_enabled, user.totp_last_step = new_totp_secret(), True, None
        # Sessions opened before (with the old factor, or none) end with it.
        ended = tenant_service.end_sessions(session, user.id)
        audit_log.record(
            session,
            actor=CLI_ACTOR.actor,
            action="user.totp_reset",
            object_type="user",
            object_id=user.id,
            tenant_id=user.tenant_id,
            detail={"sessions_ended": ended},
        )
        typer.echo(f"TOTP secret for {username} (shown once): {user.totp_secret}")
        typer.echo(f"TOTP URI: {totp_uri(user.totp_secret, username)}")


@users_app.command("list")
def users_list(
    tenant: str = typer.Option(None, "--tenant", help="Only the users of this tenant slug."),
    role: str = typer.Option(None, "--role", help="Only the users of this role."),
) -> None:
    """List users: id, username, role, tenant id, TOTP, active or disabled."""
    with cli_session() as session:
        for u in tenant_service.list_users(session, CLI_ACTOR, tenant, role):
            totp = "totp" if u.totp_enabled else "no-totp"
            state = "active" if u.active else "disabled"
            typer.echo(f"{u.id}\t{u.username}\t{u.role}\t{u.tenant_id or '-'}\t{totp}\t{state}")


@users_app.command("disable")
def users_disable(username: str = typer.Argument(...)) -> None:
    """Disable a user: no more logins, and every session of the user ends now. Exit 1 for an
    unknown user."""
    with cli_session() as session:
        tenant_service.set_active(session, CLI_ACTOR, username, False)
        typer.echo(f"user {username} disabled")


@users_app.command("enable")
def users_enable(username: str = typer.Argument(...)) -> None:
    """Enable a disabled user again."""
    with cli_session() as session:
        tenant_service.set_active(session, CLI_ACTOR, username, True)
        typer.echo(f"user {username} enabled")


@users_app.command("reset-password")
def users_reset_password(
    username: str = typer.Argument(...),
    password: str = typer.Option(
        None,
        "--password",
        help="The new password (the policy applies); without it one is generated and printed once.",
    ),
) -> None:
    """Give a user a new password, lift a lockout and end the user's sessions. Exit 1 for an
    unknown user or a password the policy refuses."""
    with cli_session() as session:
        chosen = tenant_service.reset_password(session, CLI_ACTOR, username, password)
        typer.echo(f"password of {username} reset; sessions ended")
        if password is None:
            typer.echo(f"new password (shown once): {chosen}")


@apikeys_app.command("create")
def apikeys_create(
    tenant: str = typer.Argument(..., help="Tenant slug."),
    name: str = typer.Option("ingest", "--name", help="What the key is for, e.g. 'winlogbeat'."),
) -> None:
    """Create an ingest key for a tenant; the key is printed once and only its hash is kept."""
    with cli_session() as session:
        key, secret = tenant_service.create_api_key(session, CLI_ACTOR, tenant, name)
        typer.echo(f"api key {key.id} for {tenant} ({name}); store it now, it is not shown again:")
        typer.echo(secret)


@apikeys_app.command("list")
def apikeys_list(tenant: str = typer.Argument(..., help="Tenant slug.")) -> None:
    """List a tenant's keys (prefix only)."""
    with cli_session() as session:
        for k in tenant_service.list_api_keys(session, CLI_ACTOR, tenant):
            state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
            typer.echo(f"{k.id}\t{k.prefix}…\t{k.name}\t{state}")


@apikeys_app.command("revoke")
def apikeys_revoke(
    key_id: int = typer.Argument(..., help="Key id (see `soc apikeys list`)."),
) -> None:
    """Revoke an ingest key; requests with it get 401 from now on."""
    with cli_session() as session:
        tenant_service.revoke_api_key(session, CLI_ACTOR, key_id)
        typer.echo(f"api key {key_id} revoked")


@audit_app.command("verify")
def audit_verify(
    anchor: str = typer.Option(
        None,
        "--anchor",
        help="ID:HASH printed earlier by `soc audit head`: also detect that "
        "entries up to it were removed from the end of the log. With --public-key: a "
        "tenant's bundle file (`soc audit export`), checked without the database.",
    ),
    public_key: Path = typer.Option(
        None, "--public-key", help="The integrator's public key PEM, to check a bundle."
    ),
) -> None:
    """Check the audit chain; exit 1 naming every altered, deleted or broken entry. With
    --anchor BUNDLE --public-key KEY.pem, check a customer's bundle instead (no database)."""
    if public_key is not None:
        if not anchor:
            fail("--public-key checks a bundle: give it as --anchor BUNDLE", code=2)
        audit_cli.verify_bundle_file(Path(anchor), public_key)
        return
    with cli_session() as session:
        count, problems = audit.verify(session)
        if anchor:
            entry_id, _, entry_hash = anchor.partition(":")
            if not entry_id.isdigit() or len(entry_hash) != 64:
                fail("--anchor must be ID:HASH as printed by `soc audit head`", code=2)
            anchored = audit.verify_anchor(session, int(entry_id), entry_hash)
            if anchored:
                problems.append(anchored)
    if problems:
        for p in problems:
            typer.secho(f"entry {p.entry_id}: {p.reason}", err=True, fg=typer.colors.RED)
        fail(f"audit log is NOT intact: {len(problems)} problem(s) in {count} entries")
    typer.echo(f"audit log intact: {count} entries verified")


@audit_app.command("head")
def audit_head() -> None:
    """Print the newest entry as ID:HASH; keep it outside the database and give it to
    `soc audit verify --anchor` later (the chain alone cannot show a truncated end)."""
    with cli_session() as session:
        entry_id, entry_hash = audit.head(session)
    typer.echo(f"{entry_id}:{entry_hash}")


if __name__ == "__main__":
    app()

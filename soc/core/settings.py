"""Service settings from `SOC_*` environment variables (and an optional `.env` file).

The defaults give the embedded single-machine mode: SQLite files under `./var/`.
"""

from __future__ import annotations

import os
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from soc.core import secrets

MIB = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOC_", env_file=".env", extra="ignore")

    mode: Literal["embedded", "production"] = "embedded"
    data_dir: Path = Path("var")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite file in data_dir"
    )
    event_db_path: Path | None = Field(
        default=None, description="Embedded event store file; default data_dir/events.sqlite"
    )
    rules_dirs: list[Path] = Field(
        default_factory=list, description="Extra Sigma rule directories besides detections/rules"
    )
    include_builtin_rules: bool = True
    rule_cache: bool = Field(
        default=True, description="load compiled rule sets from the on-disk cache (and fill it)"
    )
    rule_cache_dir: Path | None = Field(
        default=None,
        description="compiled rule sets; default data_dir/cache/rules (`soc detect`: "
        "~/.cache/soc/rules)",
    )

    max_event_bytes: int = 1 * MIB
    max_request_bytes: int = 64 * MIB
    case_group_window_minutes: int = 60
    session_ttl_minutes: int = 12 * 60
    session_cookie_secure: bool = Field(
        default=False, description="send the session cookie over HTTPS only (set it behind TLS)"
    )
    hsts_max_age_seconds: int = Field(
        default=365 * 24 * 3600,
        ge=0,
        description="Strict-Transport-Security max-age, sent when session_cookie_secure is on",
    )
    # A tenant's administrator resets others' passwords and TOTP: it needs a second factor too.
    totp_required_roles: list[str] = Field(
        default_factory=lambda: ["admin", "soc_analyst", "tenant_admin"]
    )
    # Secrets at rest (soc.core.secrets): Fernet keys, comma-separated; the first encrypts,
    # all decrypt. Unset: a key generated into data_dir/secret.key (demo, development).
    secret_keys: str | None = Field(default=None, description="Fernet keys, first encrypts")
    # API tokens of integrations (tenants.api_tokens): an expiry is required, at most this far.
    api_token_max_days: int = Field(default=365, ge=1, le=3650, description="longest expiry")
    password_min_length: int = Field(default=12, ge=8, description="shortest password accepted")
    # Login defence: failures are counted in a sliding window per username and per client IP
    # (in-process: per server process); past a limit, 429 + Retry-After before any hashing.
    login_window_seconds: int = Field(default=300, ge=1)
    login_user_failures: int = Field(default=10, ge=1, description="per username per window")
    login_ip_failures: int = Field(default=30, ge=1, description="per client IP per window")
    login_lockout_failures: int = Field(
        default=10, ge=1, description="consecutive failures that lock the account (persisted)"
    )
    login_lockout_minutes: int = Field(default=15, ge=1)
    login_hash_slots: int = Field(
        default_factory=lambda: max(1, min(2, (os.cpu_count() or 1) // 2)),
        ge=1,
        description="password checks (argon2) at once; default half the cores, at most 2",
    )
    login_hash_queue: int = Field(
        default=8, ge=0, description="logins that may wait for a slot; past it 429 at once"
    )
    login_hash_wait_seconds: float = Field(
        default=2.0, ge=0, description="longest wait for a slot before 429"
    )

    # OpenID Connect sign-in: a JSON list of identity providers, each validated by
    # tenants.oidc_config (name, issuer, client, scopes, claim-to-role mappings).
    oidc_providers: list[dict[str, Any]] = Field(default_factory=list)
    oidc_clock_skew_seconds: int = Field(default=60, ge=0, le=600)
    oidc_redirect_base_url: str | None = Field(
        default=None, description="public base URL for OIDC callbacks; default: the request's"
    )

    host: str = "127.0.0.1"
    port: int = 8000

    # Production mode (issue 3): OpenSearch event store, Celery on Redis, PostgreSQL via
    # database_url. The event store follows the mode unless set explicitly.
    event_store: Literal["sqlite", "opensearch"] | None = None
    opensearch_url: str = "http://127.0.0.1:9200"
    opensearch_user: str | None = None
    opensearch_password: str | None = None
    opensearch_verify_certs: bool = True
    opensearch_ca_certs: Path | None = None
    opensearch_index_prefix: str = "soc-events"
    opensearch_bulk_chunk: int = 2000
    # None: 0 on a one-node cluster, 1 on more (see ingest.store.lifecycle.replicas_for)
    opensearch_replicas: int | None = Field(default=None, ge=0, le=5)
    opensearch_primary_gb: float = Field(default=30.0, gt=0, le=200)
    spool_dir: Path | None = Field(default=None, description="default data_dir/spool")
    spool_max_bytes: int = Field(
        default=1 << 30, description="past this, ingest answers 503 + Retry-After (back-pressure)"
    )
    # EVTX uploads are spooled to disk (never held in memory), then parsed chunk by chunk.
    ingest_evtx_max_bytes: int = Field(
        default=2 << 30, ge=1, description="largest EVTX upload (all files of a request); 413"
    )
    upload_dir: Path | None = Field(
        default=None, description="where uploads wait while parsed; default data_dir/uploads"
    )
    # Recovery of ingest batches whose request died between storing and recording.
    ingest_recovery_grace_seconds: float = Field(
        default=120.0, ge=0, description="a batch pending this long is recovered (> any request)"
    )
    ingest_recovery_every_seconds: float = Field(
        default=30.0, gt=0, description="how often the server looks for such batches"
    )
    redis_url: str = "redis://127.0.0.1:6379/0"
    # A task whose worker died (kill -9, a lost machine) is handed to another worker once this
    # long has passed since it was taken; keep it above the longest task (retro-hunts).
    celery_visibility_timeout_seconds: int = Field(
        default=3600, ge=1, description="redeliver a dead worker's unacknowledged task after"
    )
    detect_in_worker: bool | None = Field(
        default=None, description="run detection as Celery tasks (default: in production mode)"
    )

    # Lock waits stay short: a request that cannot get the database answers 503 + Retry-After
    # in seconds rather than a 500 after half a minute.
    db_busy_timeout_seconds: float = Field(
        default=5.0, gt=0, description="SQLite write-lock wait before answering 503 busy"
    )
    db_pool_timeout_seconds: float = Field(
        default=5.0, gt=0, description="wait for a pooled connection before answering 503 busy"
    )
    busy_retry_after_seconds: int = Field(default=2, ge=1, description="Retry-After on 503 busy")
    disk_min_free_bytes: int = Field(
        default=512 * MIB, ge=0, description="health says degraded below this free space"
    )
    disk_full_retry_after_seconds: int = Field(
        default=300, ge=1, description="Retry-After on 507 when the disk is full"
    )
    # Ingest admission: the stores write one batch at a time, so a few requests at once keep
    # them busy; the rest wait on the event loop (no thread held) or get 503/429 + Retry-After.
    ingest_slots: int = Field(default=2, ge=1, description="ingest requests working at once")
    ingest_queue: int = Field(
        default=64, ge=0, description="ingest requests that may wait for a slot (more: refused)"
    )
    ingest_wait_seconds: float = Field(
        default=10.0, gt=0, description="longest wait for an ingest slot, then refused"
    )
    # Syslog receiver (`soc syslog`, README "Syslog"): every port off unless set.
    syslog_host: str = Field(default="0.0.0.0", description="bind address of the listeners")
    syslog_udp_port: int | None = Field(default=None, ge=0, le=65535)
    syslog_tcp_port: int | None = Field(default=None, ge=0, le=65535)
    syslog_tls_port: int | None = Field(default=None, ge=0, le=65535)
    syslog_tls_cert: Path | None = Field(default=None, description="PEM certificate (chain)")
    syslog_tls_key: Path | None = Field(default=None, description="PEM private key")
    syslog_tenant_ports: dict[str, str] = Field(
        default_factory=dict,
        description='"udp/5141", "tcp/5141", "tls/6515" or "5141" (udp and tcp) -> tenant slug',
    )
    syslog_max_message_bytes: int = Field(default=64 * 1024, ge=480, le=MIB)
    syslog_batch_max: int = Field(default=5000, ge=1, description="messages per stored batch")
    syslog_udp_queue_max: int = Field(
        default=50_000, ge=1, description="UDP messages waiting to be stored; past it dropped"
    )
    job_workers: int = Field(
        default=1, ge=1, description="background jobs (retro-hunts) run at once, embedded mode"
    )

    # Billing (issue 6): the contract price table, as JSON or in a JSON file (see README, Billing).
    billing_prices: dict[str, Any] | None = Field(
        default=None, description="Price table JSON (SOC_BILLING_PRICES)"
    )
    billing_prices_file: Path | None = Field(
        default=None, description="Price table JSON file, used when billing_prices is not set"
    )

    # Security cases (issue 5): every contract number is a setting; see README, Security cases.
    case_priority_matrix: dict[str, dict[str, str]] = Field(
        default_factory=lambda: {
            "high": {"high": "P1", "medium": "P2", "low": "P3"},
            "medium": {"high": "P2", "medium": "P3", "low": "P4"},
            "low": {"high": "P3", "medium": "P4", "low": "P4"},
        },
        description="impact -> urgency -> priority (seed 004 section 3.3)",
    )
    case_urgency_by_level: dict[str, str] = Field(
        default_factory=lambda: {
            "critical": "high",
            "high": "high",
            "medium": "medium",
            "low": "low",
            "informational": "low",
        },
        description="Sigma rule level -> default urgency",
    )
    case_sla_minutes: dict[str, dict[str, int]] = Field(
        default_factory=lambda: {
            "P1": {"response": 15, "resolution": 120},
            "P2": {"response": 60, "resolution": 240},
            "P3": {"response": 120, "resolution": 960},
            "P4": {"response": 480, "resolution": 2400},
        },
        description="priority -> response/resolution targets in clock minutes (seed 004 5.1)",
    )
    case_warning_minutes: dict[str, int] = Field(
        default_factory=lambda: {"P1": 5, "P2": 15, "P3": 30, "P4": 60},
        description="priority -> breach warning this many wall-clock minutes before due",
    )
    case_timezone: str = "Europe/Brussels"
    case_office_start: str = "08:00"
    case_office_end: str = "17:00"
    case_working_days: list[int] = Field(
        default_factory=lambda: [0, 1, 2, 3, 4], description="ISO weekday - 1 (0 = Monday)"
    )
    case_holidays: list[date] = Field(
        default_factory=lambda: [
            date.fromisoformat(d)
            for d in (
                "2026-01-01",
                "2026-04-06",
                "2026-05-01",
                "2026-05-14",
                "2026-05-25",
                "2026-07-21",
                "2026-08-15",
                "2026-11-01",
                "2026-11-11",
                "2026-12-25",
                "2027-01-01",
                "2027-03-29",
                "2027-05-01",
                "2027-05-06",
                "2027-05-17",
                "2027-07-21",
                "2027-08-15",
                "2027-11-01",
                "2027-11-11",
                "2027-12-25",
            )
        ],
        description="public holidays (Belgium 2026-2027 by default): the office clock stops",
    )
    case_24x7: dict[str, list[str]] = Field(
        default_factory=dict,
        description="tenant slug (or '*') -> priorities whose clocks run 24/7 on a tenant whose "
        "sla_calendar is business_hours (kept as an override; a 24x7 tenant runs all)",
    )
    case_reassignment_limit: int = Field(
        default=2, description="provider reassignments above this flag the case as bouncing"
    )
    # Rule safety: a tenant rule is dry-run over recent events at upload; a rule raising more
    # alerts than this per tenant per hour opens cases that are not billed until confirmed.
    rule_dryrun_days: int = Field(default=7, ge=1, le=365)
    rule_dryrun_max_events: int = Field(default=10_000, ge=1, le=10_000)
    rule_dryrun_min_events: int = Field(
        default=100, ge=1, description="fewer sampled events than this never refuse a rule"
    )
    rule_max_match_rate: float = Field(
        default=0.05, ge=0, le=1, description="upload refused above this share of sampled events"
    )
    rule_runaway_alerts_per_hour: int = Field(
        default=200, ge=1, description="alerts of one rule per tenant per hour: past it, runaway"
    )
    case_critical_office_target_minutes: int = 90
    case_critical_outside_target_minutes: int = 240
    case_root_cause_working_days: int = 5
    case_evidence_max_bytes: int = 10 * MIB
    case_evidence_content_types: list[str] = Field(
        default_factory=lambda: [
            "application/pdf",
            "image/png",
            "image/jpeg",
            "text/plain",
            "text/csv",
            "application/json",
            "application/zip",
        ]
    )
    # ITSM connector (issue 5): outbound signed JSON, inbound signed webhook.
    itsm_url: str | None = Field(default=None, description="where case changes are POSTed")
    itsm_secret: str | None = Field(default=None, description="HMAC-SHA256 key, outbound")
    itsm_inbound_secret: str | None = Field(
        default=None, description="HMAC-SHA256 key of the inbound webhook (default itsm_secret)"
    )
    itsm_max_attempts: int = 8
    itsm_backoff_seconds: float = 2.0
    itsm_backoff_max_seconds: float = 600.0
    itsm_timeout_seconds: float = 10.0
    itsm_webhook_max_skew_seconds: int = 300
    itsm_poll_seconds: float = 5.0
    # Which ITSM tool the outbox talks to: the generic signed JSON above, ServiceNow's Table
    # API or 4me's requests API (see README, ServiceNow and 4me).
    itsm_kind: Literal["generic", "servicenow", "4me"] = "generic"
    itsm_inbound_token: str | None = Field(
        default=None, description="shared secret of the ServiceNow / 4me inbound webhooks"
    )
    itsm_assignment_groups: dict[str, str] = Field(
        default_factory=dict,
        description="provider slug -> ServiceNow assignment group (sys_id or name) / 4me team id",
    )
    itsm_default_assignment_group: str | None = None
    servicenow_url: str | None = Field(
        default=None, description="https://<instance>.service-now.com"
    )
    servicenow_user: str | None = None
    servicenow_password: str | None = None
    servicenow_token: str | None = Field(default=None, description="OAuth bearer, instead of basic")
    servicenow_table: Literal["incident", "sn_si_incident"] = "incident"
    servicenow_caller: str | None = Field(default=None, description="caller_id (sys_user sys_id)")
    servicenow_category: str | None = None
    servicenow_close_code: str = "Solution provided"
    servicenow_poll_seconds: float = Field(
        default=0.0, ge=0, description="poll sys_updated_on this often (0: webhook only)"
    )
    fourme_url: str | None = Field(default=None, description="https://api.4me.com")
    fourme_token: str | None = None
    fourme_account: str | None = None
    fourme_requested_by_id: int | None = None

    # CMDB and operational status (seed 000 §3.1.1.2.2; A12 availability rules).
    cmdb_flap_changes: int = Field(
        default=4, ge=2, description="state changes of one fingerprint that make it flapping"
    )
    cmdb_flap_minutes: int = Field(default=10, ge=1, description="... within this many minutes")
    cmdb_default_min_severity: str = Field(
        default="info",
        description="share policy of a provider without one: events at or above this are central",
    )
    availability_target_pct: float = Field(default=99.9, ge=0, le=100)
    availability_max_planned_minutes: int = Field(
        default=960, ge=0, description="planned weekend downtime excluded per month (16 h)"
    )
    availability_max_planned_weekends: int = Field(
        default=9, ge=0, description="weekends a year whose planned downtime may be excluded"
    )
    # Risk register and action registers (seed 000 §3.1.4.1; WAVE2 part b).
    risk_matrix_likelihood: list[dict[str, str]] = Field(
        default_factory=lambda: [
            {"en": "Rare", "nl": "Zeldzaam"},
            {"en": "Unlikely", "nl": "Onwaarschijnlijk"},
            {"en": "Possible", "nl": "Mogelijk"},
            {"en": "Likely", "nl": "Waarschijnlijk"},
            {"en": "Almost certain", "nl": "Vrijwel zeker"},
        ],
        min_length=2,
        max_length=10,
        description="likelihood levels, lowest first, labels per language",
    )
    risk_matrix_impact: list[dict[str, str]] = Field(
        default_factory=lambda: [
            {"en": "Negligible", "nl": "Verwaarloosbaar"},
            {"en": "Minor", "nl": "Beperkt"},
            {"en": "Moderate", "nl": "Matig"},
            {"en": "Major", "nl": "Groot"},
            {"en": "Severe", "nl": "Zeer groot"},
        ],
        min_length=2,
        max_length=10,
        description="impact levels, lowest first, labels per language",
    )
    risk_matrix_bands: list[int] = Field(
        default_factory=lambda: [5, 10, 15],
        min_length=3,
        max_length=3,
        description="lowest likelihood x impact score of medium, high, critical",
    )
    risk_acceptance_by: Literal["authority", "authority_and_customer"] = Field(
        default="authority",
        description="who accepts a specific risk (a common one: always the authority alone)",
    )
    risk_acceptance_max_days: int = Field(
        default=365, ge=1, description="an acceptance expires at the latest after this many days"
    )
    risk_early_warning_working_days: int = Field(
        default=5, ge=0, le=60, description="early warning this many working days before due"
    )
    risk_extra_closing_days: list[date] = Field(
        default_factory=list, description="closing days on top of Belgian public holidays"
    )
    risk_on_time_target_pct: float = Field(
        default=90.0, ge=0, le=100, description="share of items handled on time, per period"
    )
    risk_upkeep_seconds: float = Field(
        default=900.0, gt=0, description="how often warnings, reviews and expiries are checked"
    )
    risk_review_reminder_days: int = Field(
        default=7, ge=0, description="remind the owner this many days before a risk's review"
    )
    # KRIs, monthly reports and the data-warehouse feed (seed 000 §3.1.4.2, §3.1.4.6; 004-G).
    kri_catalogue_path: Path | None = Field(
        default=None, description="YAML catalogue to seed from (default: kri/catalogue.yaml)"
    )
    kri_due_working_days_provider: int = Field(
        default=3, ge=0, le=60, description="provider input due on this working day after"
    )
    kri_due_working_days_end_to_end: int = Field(
        default=6, ge=0, le=60, description="end-to-end report due on this working day after"
    )
    kri_penalty_tiers: list[tuple[float, float]] = Field(
        default_factory=lambda: [(95.0, 0.0), (90.0, 0.5), (80.0, 1.0), (0.0, 2.0)],
        description="(lowest domain score %, penalty %), best tier first",
    )
    kri_on_time_target_pct: float = Field(default=100.0, ge=0, le=100)
    kri_repeated_after: int = Field(
        default=3, ge=2, description="consecutive misses that make an SLA failure repeated"
    )
    kri_repeated_target_pct: float = Field(default=5.0, ge=0, le=100)
    kri_plan_working_days: int = Field(
        default=10, ge=1, description="a corrective-action plan is due this many working days"
    )
    kri_silent_source_hours: int = Field(
        default=24, ge=1, description="a declared log source silent this long is flagged"
    )
    kri_upkeep_seconds: float = Field(
        default=3600.0, gt=0, description="embedded server: how often KRI work is checked"
    )
    dwh_timezone: str = Field(default="Europe/Brussels", description="the feed's day boundary")
    status_refresh_seconds: int = Field(default=15, ge=2, description="status pages reload")
    status_upkeep_seconds: float = Field(
        default=20.0, gt=0, description="how often maintenance windows and flapping are checked"
    )
    smtp_host: str | None = Field(default=None, description="SMTP relay for every e-mail")
    smtp_port: int = 25
    smtp_from: str = "soc-status@localhost"
    smtp_starttls: bool = False
    smtp_ssl: bool = Field(default=False, description="SMTPS: TLS from the first byte (port 465)")
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    smtp_ca_file: str | None = Field(
        default=None, description="PEM file of CAs trusted for the relay (default: the system's)"
    )
    mail_max_attempts: int = Field(default=8, ge=1, description="mail outbox: then dead letter")
    mail_backoff_seconds: float = Field(default=30.0, gt=0, description="first retry delay")
    case_warning_seconds: float = Field(
        default=60.0, gt=0, description="embedded server: how often SLA breach warnings run"
    )
    mail_poll_seconds: float = Field(default=5.0, gt=0, description="embedded outbox delivery")
    mail_default_language: str = Field(default="en", pattern="^(en|nl)$")
    status_webhook_timeout_seconds: float = 5.0
    status_webhook_allow_private: bool = Field(
        default=False,
        description="let status webhooks reach loopback/private addresses (tests, closed networks)",
    )
    status_notify_max_attempts: int = Field(default=8, ge=1)
    status_notify_poll_seconds: float = 2.0
    invoice_supplier_name: str = Field(default="SOC Services BV", description="invoice issuer")
    invoice_supplier_address: list[str] = Field(
        default=["Kunstlaan 1", "1000 Brussel", "België"], description="issuer address lines"
    )
    invoice_supplier_vat: str = Field(default="BE0123.456.789", description="issuer VAT number")
    invoice_supplier_iban: str = "BE68 5390 0754 7034"
    invoice_supplier_bic: str = "GKCCBEBB"
    invoice_payment_days: int = Field(default=30, ge=0, description="payment terms in days")
    invoice_vat_rate: str = Field(default="21", description="standard VAT rate in percent")
    # Tamper evidence (README "Tamper evidence"): the integrator's Ed25519 key signs the audit
    # checkpoints, monthly reports and invoices.
    signing_key_path: Path | None = Field(
        default=None,
        description="Ed25519 private key PEM; embedded default data_dir/keys (generated)",
    )
    audit_checkpoint_seconds: float = Field(
        default=86400.0, ge=60, description="embedded server: a signed checkpoint this often"
    )

    @model_validator(mode="after")
    def _reveal_encrypted(self) -> Settings:
        """Settings given as `enc:...` (`soc secrets encrypt`) are decrypted here, once: the
        environment and `.env` then hold no plaintext password, token or signing key."""
        names = [n for n in type(self).model_fields if secrets.contains_encrypted(getattr(self, n))]
        try:
            if names:
                ring = secrets.keyring_for(self.secret_keys, self.data_dir, create=False)
                for name in names:
                    setattr(self, name, secrets.reveal_values(getattr(self, name), ring))
        except secrets.SecretKeyError as exc:  # a settings error, named, at start-up
            raise ValueError(f"{', '.join(names)}: {exc}") from None
        return self

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'soc.db').as_posix()}"

    @property
    def store_kind(self) -> str:
        return self.event_store or ("opensearch" if self.mode == "production" else "sqlite")

    @property
    def rule_cache_path(self) -> Path | None:
        """Where the server and the workers cache compiled rule sets; None when off."""
        if not self.rule_cache:
            return None
        return self.rule_cache_dir or self.data_dir / "cache" / "rules"

    @property
    def spool_path(self) -> Path:
        return self.spool_dir or self.data_dir / "spool"

    @property
    def upload_path(self) -> Path:
        return self.upload_dir or self.data_dir / "uploads"

    @property
    def detection_async(self) -> bool:
        return (
            self.detect_in_worker
            if self.detect_in_worker is not None
            else (self.mode == "production")
        )

    @property
    def events_path(self) -> Path:
        return self.event_db_path or self.data_dir / "events.sqlite"


@lru_cache
def get_settings() -> Settings:
    return Settings()


secrets.default_settings = get_settings  # encrypted columns outside a built service

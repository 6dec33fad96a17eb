"""Repeated SLA failure (kri.sla, C9): TC3 (repeated in March only; 2 of 40 is 5.00 % met,
3 of 40 is 7.50 % missed; a 3rd miss found 2026-04-09 makes the plan due 2026-04-23), TC4
(a miss found 2026-04-03: corrective actions due 2026-04-20), the plan created once in the
risk register, and what each principal sees of the repeated report."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from kri import rules, sla
from kri.models import KriDefinition, KriValue
from risk.models import RiskAction
from risk.workdays import WorkCalendar
from soc.core.audit import AuditEntry
from soc.core.principal import SYSTEM, Principal, Scope
from soc.core.settings import Settings
from soc.services import Services

MISS_JAN_TO_MAR = {"2026-01": False, "2026-02": False, "2026-03": False, "2026-04": True}


def define(session: Session, kri_id: str, scope: str = "end_to_end", **extra: object) -> None:
    fields: dict[str, object] = {
        "id": kri_id,
        "name_en": f"KRI {kri_id}",
        "name_nl": f"KRI {kri_id}",
        "direction": "higher_better",
        "norm": "95",
        "green": "95",
        "amber": "90",
        "scope": scope,
        "source": "submitted",
        "is_sla": True,
    }
    fields.update(extra)
    session.add(KriDefinition(**fields))
    session.flush()


def put(
    session: Session,
    kri_id: str,
    history: dict[str, bool],
    tenant_id: int | None = None,
    provider_id: int | None = None,
) -> None:
    for period, met in history.items():
        session.add(
            KriValue(
                kri_id=kri_id,
                period=period,
                tenant_id=tenant_id,
                provider_id=provider_id,
                value="99" if met else "80",
                source="submitted",
                due=date(2026, 1, 1),
                on_time=True,
                met=met,
                current=True,
            )
        )
    session.flush()


def test_tc3_repeated_in_march_only_and_one_plan_due_2026_04_23(
    services: Services, settings: Settings
) -> None:
    with services.db.session() as session:
        define(session, "s")
        put(session, "s", MISS_JAN_TO_MAR)
        found = {
            p: sla.mark_repeated(session, settings, p, date(2026, 4, 9)) for p in MISS_JAN_TO_MAR
        }
        again = sla.mark_repeated(session, settings, "2026-03", date(2026, 4, 9))
        flags = {k: v for k, v in session.execute(select(KriValue.period, KriValue.repeated))}
        plans = list(session.scalars(select(RiskAction)))
        assert sla.history(session, "s", sla.Subject(), "2026-04") == MISS_JAN_TO_MAR
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "kri.repeated_plan")
        ).all()
    assert flags == {"2026-01": False, "2026-02": False, "2026-03": True, "2026-04": False}
    assert [len(found[p]["repeated"]) for p in MISS_JAN_TO_MAR] == [0, 0, 1, 0]
    assert again["plans"] == []  # idempotent: the streak has its plan
    assert len(plans) == 1 and len(audited) == 1
    plan = plans[0]
    assert plan.register == "corrective_action" and plan.scope == "common"
    assert plan.due == date(2026, 4, 23)
    assert found["2026-03"]["plans"] == [plan.id]


def test_a_longer_streak_keeps_one_plan_and_stays_repeated_until_met(
    services: Services, settings: Settings
) -> None:
    history = {f"2026-0{m}": False for m in range(1, 6)} | {"2026-06": True}
    with services.db.session() as session:
        define(session, "s")
        put(session, "s", history)
        for period in ("2026-05", "2026-03", "2026-04", "2026-06"):
            sla.mark_repeated(session, settings, period, date(2026, 6, 3))
        flags = {k: v for k, v in session.execute(select(KriValue.period, KriValue.repeated))}
        plans = list(session.scalars(select(RiskAction)))
    assert [flags[p] for p in sorted(flags)] == [False, False, True, True, True, False]
    assert len(plans) == 1 and "(2026-03)" in plans[0].title


def _forty(session: Session, repeated: int) -> None:
    for n in range(40):
        define(session, f"sla{n:02d}")
        put(session, f"sla{n:02d}", MISS_JAN_TO_MAR if n < repeated else {"2026-03": True})


def test_tc3_two_of_forty_is_5_00_met(services: Services, settings: Settings) -> None:
    with services.db.session() as session:
        _forty(session, 2)
        report = sla.repeated_report(session, SYSTEM, settings, "2026-03")
    assert report["slas"] == 40 and len(report["repeated"]) == 2
    assert (report["repeated_pct"], report["target_pct"], report["met"]) == ("5.00", "5.00", True)
    assert report["repeated"][0]["since"] == "2026-03"


def test_tc3_three_of_forty_is_7_50_missed(services: Services, settings: Settings) -> None:
    with services.db.session() as session:
        _forty(session, 3)
        report = sla.repeated_report(session, SYSTEM, settings, "2026-03")
        april = sla.repeated_report(session, SYSTEM, settings, "2026-04")
    assert (report["repeated_pct"], report["met"]) == ("7.50", False)
    assert (april["slas"], april["repeated"], april["repeated_pct"]) == (3, [], "0.00")


def test_tc4_a_miss_found_2026_04_03_needs_actions_by_2026_04_20(
    services: Services, settings: Settings
) -> None:
    calendar = WorkCalendar.with_closing_days(settings.risk_extra_closing_days)
    assert rules.plan_due(calendar, date(2026, 4, 3), settings.kri_plan_working_days) == date(
        2026, 4, 20
    )
    with services.db.session() as session:
        define(session, "s")
        put(session, "s", {"2026-01": False, "2026-02": False, "2026-03": False})
        result = sla.mark_repeated(session, settings, "2026-03", date(2026, 4, 3))
        plan = session.get(RiskAction, result["plans"][0])
        assert plan is not None and plan.due == date(2026, 4, 20)


def test_a_tenant_sla_plan_is_specific_and_owned_by_the_serving_provider(
    services: Services, settings: Settings, world: object
) -> None:
    with services.db.session() as session:
        define(session, "t", scope="customer")
        put(session, "t", MISS_JAN_TO_MAR, tenant_id=1, provider_id=1)
        put(session, "t", {"2026-03": True}, tenant_id=2, provider_id=2)
        sla.mark_repeated(session, settings, "2026-03", date(2026, 4, 9))
        plan = session.scalars(select(RiskAction)).one()
        assert (plan.scope, plan.tenant_id, plan.owner_provider_id) == ("specific", 1, 1)
        alpha = Principal("customer-alpha", "customer", scope=Scope.of_tenants(1))
        beta = Principal("customer-beta", "customer", scope=Scope.of_tenants(2))
        prov_b = Principal("provider-prov-b", "provider", scope=Scope.of_provider(2, [2]))
        seen = {
            name: sla.repeated_report(session, p, settings, "2026-03")
            for name, p in (("alpha", alpha), ("beta", beta), ("prov-b", prov_b), ("all", SYSTEM))
        }
    assert [len(seen[n]["repeated"]) for n in ("alpha", "beta", "prov-b", "all")] == [1, 0, 0, 1]
    assert [seen[n]["slas"] for n in ("alpha", "beta", "prov-b", "all")] == [1, 1, 1, 2]
    assert seen["alpha"]["repeated"][0]["tenant"] == "alpha"

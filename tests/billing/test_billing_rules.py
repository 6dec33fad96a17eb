"""The billing rules, table by table (seed 000 §3.1.4.3), through `rules.simulate`: the same
code path as `soc billing simulate` and the monthly close."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from soc.core.errors import Invalid
from tenants.billing import rules
from tests.billing.conftest import example_prices

GB = 10**9


def run(
    usage: list[tuple[int, int]],
    plans: list[tuple[str, str]] | None = None,
    prices: dict[str, Any] | None = None,
    start: str = "2025-01",
) -> list[dict[str, Any]]:
    """Bill one customer whose months of service start at `start`, usage (bytes, cases)."""
    months = rules.month_range(start, rules.add_months(start, len(usage) - 1))
    data = {
        "prices": prices or example_prices(),
        "customers": [
            {
                "id": "acme",
                "plans": [{"from": m, "plan": p} for m, p in (plans or [(start, "standard")])],
                "usage": {
                    m: {"bytes": b, "cases": c} for m, (b, c) in zip(months, usage, strict=True)
                },
            }
        ],
    }
    return [bill.as_json() for bill in rules.simulate(data)]


@pytest.mark.parametrize(
    ("usage", "eligible", "avg_gb", "avg_cases"),
    [
        # month 1 of service: the average is that month alone
        ([(10 * GB - 1, 2)], False, "9.999999999", "2.00"),
        ([(10 * GB, 0)], True, "10.000000000", "0.00"),
        ([(0, 3)], True, "0.000000000", "3.00"),
        ([(0, 2)], False, "0.000000000", "2.00"),
        # month 2: the mean of two months
        ([(9 * GB, 0), (11 * GB, 0)], True, "10.000000000", "0.00"),
        ([(9 * GB, 0), (11 * GB - 1, 0)], False, "9.999999999", "0.00"),
        ([(0, 2), (0, 4)], True, "0.000000000", "3.00"),
        ([(0, 2), (0, 3)], False, "0.000000000", "2.50"),
        # month 3: three months; month 4: the first month drops out
        ([(0, 9), (0, 0), (0, 0)], True, "0.000000000", "3.00"),
        ([(0, 9), (0, 0), (0, 0), (0, 0)], False, "0.000000000", "0.00"),
        ([(30 * GB, 0), (0, 0), (0, 0), (0, 0)], False, "0.000000000", "0.00"),
        ([(30 * GB, 0), (0, 0), (0, 0)], True, "10.000000000", "0.00"),
        ([(30 * GB - 1, 0), (0, 0), (0, 0)], False, "9.999999999", "0.00"),
        # and/or: either threshold alone is enough
        ([(10 * GB, 3)], True, "10.000000000", "3.00"),
    ],
)
def test_rolling_average_and_thresholds(
    usage: list[tuple[int, int]], eligible: bool, avg_gb: str, avg_cases: str
) -> None:
    last = run(usage)[-1]
    assert last["enterprise_eligible"] is eligible
    assert last["avg_gb_3m"] == avg_gb
    assert last["avg_cases_3m"] == avg_cases
    assert last["plan"] == "standard" and last["total"] == "350.00"
    assert last["lines"] == [
        {
            "kind": "standard_fee",
            "description": "Standard subscription (monthly fee)",
            "quantity": "1",
            "unit_price": "350.00",
            "amount": "350.00",
        }
    ]


def test_months_without_usage_count_as_zero() -> None:
    data = {
        "prices": example_prices(),
        "customers": [
            {
                "id": "acme",
                "plans": [{"from": "2025-01", "plan": "standard"}],
                "usage": {"2025-03": {"bytes": 30 * GB, "cases": 0}},
            }
        ],
    }
    bills = rules.simulate(data)
    assert [b.month for b in bills] == ["2025-01", "2025-02", "2025-03"]
    assert bills[-1].as_json()["avg_gb_3m"] == "10.000000000"


TIER_EDGES = [
    (0, "0-25", "900.00"),
    (25, "0-25", "900.00"),
    (26, "26-50", "1600.00"),
    (50, "26-50", "1600.00"),
    (51, "51-75", "2250.00"),
    (75, "51-75", "2250.00"),
    (76, "76-100", "2850.00"),
    (100, "76-100", "2850.00"),
    (101, "101-125", "3400.00"),
    (125, "101-125", "3400.00"),
    (126, "126-150", "3900.00"),
    (150, "126-150", "3900.00"),
    (151, "151-175", "4350.00"),
    (175, "151-175", "4350.00"),
    (176, "176-200", "4750.00"),
    (200, "176-200", "4750.00"),
]


@pytest.mark.parametrize(("cases", "tier", "price"), TIER_EDGES)
def test_each_tier_edge(cases: int, tier: str, price: str) -> None:
    bill = run([(0, cases)], plans=[("2025-01", "enterprise")])[0]
    assert bill["case_tier"] == tier
    assert bill["lines"][1]["kind"] == "soc_cases"
    assert bill["lines"][1]["unit_price"] == price
    assert bill["total"] == price  # no volume above the included 10 GB


def test_above_200_there_is_no_invoice_and_the_error_names_the_customer() -> None:
    bill = run([(0, 201)], plans=[("2025-01", "enterprise")])[0]
    assert bill["total"] is None and bill["lines"] == [] and bill["case_tier"] is None
    assert "acme" in bill["error"] and "2025-01" in bill["error"] and "200" in bill["error"]
    # on the standard plan there is no tier to look up: the flat fee still applies
    assert run([(0, 201)])[0]["total"] == "350.00"


@pytest.mark.parametrize(
    ("rounding", "cases", "tier"),
    [
        ("half_up", (24, 25), "0-25"),  # 24.5 -> 25
        ("half_up", (25, 26), "26-50"),  # 25.5 -> 26
        ("half_up", (50, 51), "51-75"),  # 50.5 -> 51
        ("half_even", (50, 51), "26-50"),  # 50.5 -> 50
        ("down", (50, 51), "26-50"),
        ("up", (50, 50), "26-50"),
        ("up", (50, 51), "51-75"),
        ("half_up", (199, 200), "176-200"),  # 199.5 -> 200
        ("half_up", (200, 201), None),  # 200.5 -> 201: above the last tier
        ("down", (200, 201), "176-200"),
    ],
)
def test_case_average_rounding(rounding: str, cases: tuple[int, int], tier: str | None) -> None:
    prices = example_prices() | {"case_average_rounding": rounding}
    bill = run([(0, cases[0]), (0, cases[1])], [("2025-01", "enterprise")], prices)[-1]
    assert bill["case_tier"] == tier


@pytest.mark.parametrize(
    ("size", "billable", "amount"),
    [
        (0, "0", "0.00"),
        (9 * GB, "0", "0.00"),
        (10 * GB, "0E-9", "0.00"),
        (10 * GB + 1, "1E-9", "0.00"),
        (10 * GB + 10_000_000, "0.010000000", "0.01"),  # 0.005 rounds half up
        (10 * GB + 50_000_000, "0.050000000", "0.03"),  # 0.025 -> 0.03 (not 0.02)
        (10 * GB + 30_000_000, "0.030000000", "0.02"),  # 0.015 -> 0.02
        (10 * GB + 8_000_000, "0.008000000", "0.00"),  # 0.004 -> 0.00
        (25 * GB, "15.000000000", "7.50"),
    ],
)
def test_included_10_gb_and_cent_rounding(size: int, billable: str, amount: str) -> None:
    prices = example_prices() | {"vendor_price_per_gb": "0.50"}
    bill = run([(size, 0)], [("2025-01", "enterprise")], prices)[0]
    volume = bill["lines"][0]
    assert volume["kind"] == "siem_volume"
    assert Decimal(volume["quantity"]) == Decimal(billable)
    assert volume["amount"] == amount
    assert Decimal(bill["total"]) == Decimal(amount) + Decimal("900.00")


def test_vendor_price_is_passed_through_per_gb() -> None:
    bill = run([(12_345_678_901, 0)], [("2025-01", "enterprise")])[0]
    assert bill["lines"][0]["quantity"] == "2.345678901"
    assert bill["lines"][0]["amount"] == "4.34"  # 2.345678901 x 1.85 = 4.3395...
    assert bill["total"] == "904.34"


@pytest.mark.parametrize(
    ("cases", "plans", "notify"),
    [
        # one episode, one notice; a new episode after a break, a new notice
        ([3, 3, 0, 0, 9], [("2025-01", "standard")], [True, False, False, False, True]),
        ([0, 9, 9, 9, 9], [("2025-01", "standard")], [False, True, False, False, False]),
        # on enterprise nobody is told to move to enterprise
        ([9, 9], [("2025-01", "enterprise")], [False, False]),
        # back on standard while still eligible: a new episode starts
        (
            [9, 9, 9, 9],
            [("2025-01", "standard"), ("2025-02", "enterprise"), ("2025-04", "standard")],
            [True, False, False, True],
        ),
    ],
)
def test_notification_once_per_episode(
    cases: list[int], plans: list[tuple[str, str]], notify: list[bool]
) -> None:
    bills = run([(0, c) for c in cases], plans)
    assert [b["notify"] for b in bills] == notify


def test_plan_change_mid_year() -> None:
    usage = [(14 * GB, 4)] * 12
    plans = [("2025-01", "standard"), ("2025-07", "enterprise"), ("2025-11", "standard")]
    bills = run(usage, plans)
    assert [b["plan"] for b in bills] == ["standard"] * 6 + ["enterprise"] * 4 + ["standard"] * 2
    assert [b["total"] for b in bills[:6]] == ["350.00"] * 6
    july = bills[6]
    assert july["month"] == "2025-07" and july["case_tier"] == "0-25"
    assert [line["kind"] for line in july["lines"]] == ["siem_volume", "soc_cases"]
    assert july["lines"][0]["quantity"] == "4.000000000"
    assert july["total"] == "907.40"  # 4 GB x 1.85 + 900.00
    assert bills[10]["total"] == "350.00" and bills[10]["case_tier"] is None


def test_per_case_unit_multiplies_by_the_rounded_average() -> None:
    prices = example_prices() | {"case_unit": "case"}
    bill = run([(0, 30)], [("2025-01", "enterprise")], prices)[0]
    assert bill["lines"][1]["quantity"] == "30"
    assert bill["lines"][1]["amount"] == "48000.00"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"case_tiers": [{"from": 1, "to": 25, "unit_price": "1"}]}, "start at 0"),
        (
            {
                "case_tiers": [
                    {"from": 0, "to": 25, "unit_price": "1"},
                    {"from": 27, "to": 50, "unit_price": "2"},
                ]
            },
            "should start at 26",
        ),
        ({"standard_monthly_fee": "-1"}, "standard_monthly_fee"),
        ({"surprise": 1}, "surprise"),
        ({"case_average_rounding": "banker"}, "case_average_rounding"),
    ],
)
def test_invalid_price_tables_are_refused_with_a_reason(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(Invalid, match=message):
        run([(0, 0)], prices=example_prices() | change)


@pytest.mark.parametrize(
    ("customer", "message"),
    [
        (
            {
                "id": "x",
                "plans": [{"from": "2025-02", "plan": "standard"}],
                "usage": {"2025-01": {"bytes": 1, "cases": 0}},
            },
            "before its first plan",
        ),
        (
            {"id": "x", "plans": [{"from": "2025-13", "plan": "standard"}], "usage": {}},
            "not a month",
        ),
        ({"id": "x", "plans": [{"from": "2025-01", "plan": "gold"}], "usage": {}}, "plan"),
        (
            {
                "id": "x",
                "plans": [{"from": "2025-01", "plan": "standard"}],
                "usage": {"2025-01": {"bytes": -1}},
            },
            "bytes",
        ),
    ],
)
def test_invalid_simulate_input(customer: dict[str, Any], message: str) -> None:
    with pytest.raises(Invalid, match=message):
        rules.simulate({"prices": example_prices(), "customers": [customer]})


def test_month_arithmetic() -> None:
    assert rules.add_months("2025-01", -1) == "2024-12"
    assert rules.add_months("2024-11", 3) == "2025-02"
    assert rules.month_range("2024-12", "2025-02") == ["2024-12", "2025-01", "2025-02"]
    assert rules.to_gb(1) == Decimal("0.000000001")

"""Billing services: price table, plan decisions, running usage, the monthly close, ceiling
alerts and corrections, for the callers that import them from here. No HTTP here; the API, the
CLI and a Celery task call these.

A closed month is immutable: its invoices keep the usage they were computed from, and a later
change is a correction line (credit or debit) billed in a later, open month. Every change is
recorded in the audit log.

The code lives in tenants.billing.months (months, price table), .accounts (start of service,
ceiling, plans, notices), .usage (meters, running usage, ceilings), .closing (the monthly
close) and .invoices (invoices, corrections); the pure rules in tenants.billing.rules.
"""

from __future__ import annotations

from tenants.billing.accounts import Account, account, decide_plan, notifications, set_account
from tenants.billing.closing import CloseResult, close_month
from tenants.billing.invoices import InvoiceView, add_correction, invoice, invoices
from tenants.billing.months import load_prices, month_days, month_of
from tenants.billing.usage import RunningUsage, check_ceilings, running_usage

__all__ = [
    "Account",
    "CloseResult",
    "InvoiceView",
    "RunningUsage",
    "account",
    "add_correction",
    "check_ceilings",
    "close_month",
    "decide_plan",
    "invoice",
    "invoices",
    "load_prices",
    "month_days",
    "month_of",
    "notifications",
    "running_usage",
    "set_account",
]

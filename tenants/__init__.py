"""Tenants: customers, providers, users, roles, MFA, API keys and metering."""

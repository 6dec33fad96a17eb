"""Ingest: parse and normalise logs per tenant, write them to the event store."""

"""Event stores: one interface, an embedded SQLite implementation (OpenSearch to follow)."""

from ingest.store.base import EventStore, HuntQuery, SearchPage, StoreStats

__all__ = ["EventStore", "HuntQuery", "SearchPage", "StoreStats"]

"""Billing tests run with the example price table in the settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from soc.core.settings import Settings

PRICES_FILE = Path(__file__).resolve().parents[2] / "docs" / "billing-prices.example.json"


def example_prices() -> dict[str, Any]:
    return json.loads(PRICES_FILE.read_text())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "var",
        max_event_bytes=4096,
        max_request_bytes=200_000,
        billing_prices=example_prices(),
    )

"""Country → region, from ``pipeline/data/regions.csv`` (the network's own five desks)."""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

REGIONS_FILE = Path(__file__).with_name("data") / "regions.csv"
REGION_IDS = ("africa", "americas", "asia-pacific", "europe-central-asia", "mena")


@lru_cache(maxsize=1)
def region_table() -> dict[str, str]:
    """``{"NG": "africa", ...}``; refuses a row with an unknown region or a repeated code."""
    table: dict[str, str] = {}
    with REGIONS_FILE.open(encoding="utf-8", newline="") as fh:
        rows = (line for line in fh if line.strip() and not line.startswith("#"))
        for lineno, row in enumerate(csv.DictReader(rows), 2):
            code, region = row["code"].strip().upper(), row["region"].strip()
            if region not in REGION_IDS:
                raise ValueError(f"{REGIONS_FILE}: {code}: unknown region {region!r}")
            if code in table:
                raise ValueError(f"{REGIONS_FILE}: {code} listed twice (row {lineno})")
            table[code] = region
    return table


def region_of(country: str | None) -> str | None:
    """The region id of an ISO 3166-1 alpha-2 code, or None if it is not in the table."""
    if not country:
        return None
    return region_table().get(country.strip().upper())

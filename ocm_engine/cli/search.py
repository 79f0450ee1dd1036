"""``ocm search``: find scenes in a STAC catalog by place, dates and cloud cover."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ocm_engine.cli.options import add_place_options, add_search_options, run_search
from ocm_engine.stac.catalogs import EARTH_SEARCH_URL
from ocm_engine.stac.search import ItemSummary


def format_table(items: Sequence[ItemSummary]) -> str:
    """Items as a text table: id, date, cloud %, platform."""
    width = max([len("id"), *(len(i.id) for i in items)])
    lines = [f"{'id':<{width}}  {'date':<10}  {'cloud %':>7}  platform"]
    for i in items:
        cloud = "-" if i.cloud_percent is None else f"{i.cloud_percent:.1f}"
        lines.append(f"{i.id:<{width}}  {i.date:<10}  {cloud:>7}  {i.platform}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``ocm search``; returns 1 when nothing matches."""
    items = run_search(args)
    if not items:
        print("no items match (widen the dates, the place or --max-cloud)", file=sys.stderr)
        return 1
    print(format_table(items))
    return 0


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``ocm search`` to the ``ocm`` command's sub-parsers.

    Returns:
        The ``search`` sub-parser (its ``func`` runs the command).
    """
    p: argparse.ArgumentParser = subparsers.add_parser(
        "search", help="find scenes in a STAC catalog by place, dates and cloud cover",
        description="Search a STAC API (or a static catalog) and print id, date, catalog cloud % and platform.",
    )
    add_search_options(p, catalog_required=True,
                       catalog_help=f"STAC API root or static catalog.json URL (Earth Search: {EARTH_SEARCH_URL})")
    add_place_options(p, required=True, bbox_help="west,south,east,north in degrees (lon/lat)",
                      point_help="lon,lat in degrees")
    p.set_defaults(func=run)
    return p

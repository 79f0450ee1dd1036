"""Search a STAC API (pystac-client) or a static catalog (pystac) by place, dates and cloud cover.

An API that conforms to *STAC API - Item Search* is asked with ``bbox``/``intersects``,
``datetime`` and ``query={"eo:cloud_cover": {"lte": N}}``; a static catalog is walked and
filtered here. The same filters are applied again to what comes back, so a server that
ignores ``query`` still gives the right list. Requests have timeouts and one retry.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from ocm_engine.checked_http import checked_session
from ocm_engine.errors import CatalogError, Hints, PolicyError, WindowError, one_line
from ocm_engine.netpolicy import NetPolicy, check, refused_again
from ocm_engine.stac.catalogs import CatalogPreset, find_preset
from ocm_engine.stac.http import DEFAULT_TIMEOUT_S, error_from, fetch_json, request_error

BBox = tuple[float, float, float, float]
DEFAULT_LIMIT = 20
_EARTH_M_PER_DEG = 111_320.0


@dataclass(frozen=True, slots=True)
class ItemSummary:
    """One search result.

    Attributes:
        id: Item id.
        collection: Collection id (``""`` when the item names none).
        datetime: Acquisition time, ISO 8601 (``""`` when unknown).
        cloud_percent: The catalog's ``eo:cloud_cover`` in percent, or ``None``.
        platform: ``platform`` property (e.g. ``sentinel-2a``), or ``""``.
        bbox: The item's footprint bounds in lon/lat ``(west, south, east, north)``.
        thumbnail_href: Href of the ``thumbnail`` asset, or ``None``.
        self_href: The item's own URL, or ``None``.
        item: The item's JSON (not compared or hashed).
    """

    id: str
    collection: str
    datetime: str
    cloud_percent: float | None
    platform: str
    bbox: BBox | None
    thumbnail_href: str | None
    self_href: str | None
    item: dict[str, Any] = field(compare=False, hash=False, repr=False)

    @property
    def date(self) -> str:
        """The acquisition date (``YYYY-MM-DD``)."""
        return self.datetime[:10]


def summarise(item: Mapping[str, Any]) -> ItemSummary:
    """An :class:`ItemSummary` of an item's JSON."""
    props: Mapping[str, Any] = item.get("properties") or {}
    cloud = props.get("eo:cloud_cover")
    assets: Mapping[str, Any] = item.get("assets") or {}
    thumb = next((a.get("href") for k, a in assets.items()
                  if k == "thumbnail" or "thumbnail" in (a.get("roles") or [])), None)
    self_href = next((link.get("href") for link in item.get("links") or [] if link.get("rel") == "self"), None)
    bbox = item.get("bbox")
    return ItemSummary(
        id=str(item.get("id", "")), collection=str(item.get("collection") or ""),
        datetime=str(props.get("datetime") or props.get("start_datetime") or ""),
        cloud_percent=float(cloud) if isinstance(cloud, int | float) else None,
        platform=str(props.get("platform") or ""),
        bbox=tuple(float(v) for v in bbox[:2] + bbox[-2:]) if isinstance(bbox, list) and len(bbox) >= 4 else None,  # type: ignore[arg-type]
        thumbnail_href=str(thumb) if thumb else None, self_href=str(self_href) if self_href else None,
        item=dict(item),
    )


# ----------------------------------------------------------------------------- places and dates
_BBOX_FORM = "west,south,east,north in degrees (4 numbers)"
_POINT_FORM = "lon,lat in degrees (e.g. 13.4,52.5)"


def _numbers(text: str | Sequence[float], subject: str, form: str) -> list[float]:
    parts = re.split(r"[,\s]+", text.strip()) if isinstance(text, str) else list(text)
    try:
        return [float(v) for v in parts if v != ""]
    except (TypeError, ValueError) as err:
        raise WindowError(subject, arrived=text, expected=form) from err


def parse_bbox(text: str | Sequence[float]) -> BBox:
    """Parse ``W,S,E,N`` in degrees.

    Raises:
        WindowError: Not four numbers, or not a valid lon/lat box (also a ``ValueError``).
    """
    values = _numbers(text, "Bbox", _BBOX_FORM)
    if len(values) != 4:
        raise WindowError("Bbox", arrived=text, expected=_BBOX_FORM)
    west, south, east, north = values
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise WindowError("Bbox", arrived=(west, south, east, north),
                          expected="west<east and south<north within lon -180..180, lat -90..90 "
                                   "(order: west,south,east,north)")
    return west, south, east, north


def parse_point(text: str | Sequence[float]) -> tuple[float, float]:
    """Parse ``LON,LAT`` in degrees.

    Raises:
        WindowError: Not two numbers in range (also a ``ValueError``).
    """
    values = _numbers(text, "Point", _POINT_FORM)
    if len(values) != 2 or not (-180 <= values[0] <= 180 and -90 <= values[1] <= 90):
        raise WindowError("Point", arrived=text, expected=f"{_POINT_FORM}, lon -180..180, lat -90..90")
    return values[0], values[1]


def point_bbox(lon: float, lat: float, size_m: float) -> BBox:
    """A lon/lat box of about ``size_m`` x ``size_m`` metres centred on a point."""
    half_lat = size_m / 2 / _EARTH_M_PER_DEG
    half_lon = size_m / 2 / (_EARTH_M_PER_DEG * max(math.cos(math.radians(lat)), 0.01))
    return (max(-180.0, lon - half_lon), max(-90.0, lat - half_lat),
            min(180.0, lon + half_lon), min(90.0, lat + half_lat))


def parse_dates(text: str | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Parse ``A/B`` (ISO dates or datetimes, ``..`` for open) or one date (that whole day).

    Raises:
        WindowError: Unparseable dates or an end before the start (a time window; also a ``ValueError``).
    """
    if not text:
        return None, None
    parts = text.split("/")
    if len(parts) not in (1, 2):
        raise WindowError("Dates", arrived=text, expected="START/END, e.g. 2024-06-01/2024-06-30")

    def one(value: str, end: bool) -> dt.datetime | None:
        value = value.strip()
        if value in ("", ".."):
            return None
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as err:
            raise WindowError(f"Date {value!r} of {text!r}", arrived=value,
                              expected="an ISO date (YYYY-MM-DD) or datetime, or '..' for open") from err
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        if end and len(value) == 10:
            parsed += dt.timedelta(days=1) - dt.timedelta(microseconds=1)
        return parsed

    start = one(parts[0], False)
    stop = one(parts[-1], True)
    if start and stop and stop < start:
        raise WindowError("Dates", arrived=f"{text} (its end before its start)", expected="START before END")
    return start, stop


def _datetime_param(start: dt.datetime | None, stop: dt.datetime | None) -> str | None:
    if start is None and stop is None:
        return None
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return (f"{start.astimezone(dt.UTC).strftime(fmt) if start else '..'}/"
            f"{stop.astimezone(dt.UTC).strftime(fmt) if stop else '..'}")


def _item_time(item: Mapping[str, Any]) -> dt.datetime | None:
    props = item.get("properties") or {}
    raw = props.get("datetime") or props.get("start_datetime")
    try:
        parsed = dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _matches(item: Mapping[str, Any], collection: str | None, bbox: BBox | None,
             start: dt.datetime | None, stop: dt.datetime | None, max_cloud: float | None) -> bool:
    if collection and item.get("collection") not in (collection, None):
        return False
    ibox = item.get("bbox")
    if bbox is not None and isinstance(ibox, list) and len(ibox) >= 4:
        w, s, e, n = ibox[0], ibox[1], ibox[-2], ibox[-1]
        if w > bbox[2] or e < bbox[0] or s > bbox[3] or n < bbox[1]:
            return False
    when = _item_time(item)
    if when is not None and ((start and when < start) or (stop and when > stop)):
        return False
    cloud = (item.get("properties") or {}).get("eo:cloud_cover")
    return not (max_cloud is not None and isinstance(cloud, int | float) and cloud > max_cloud)


# ----------------------------------------------------------------------------- search
def _checked_io(policy: NetPolicy, timeout_s: float) -> Any:
    """pystac-client's I/O with every href checked by ``policy`` and requests sent through the checked layer."""
    from pystac_client.stac_api_io import StacApiIO

    class CheckedStacApiIO(StacApiIO):
        def read_text(self, source: Any, *args: Any, **kwargs: Any) -> str:
            href = source.href if hasattr(source, "href") else str(source)
            check(str(href), policy)  # a local path is refused here, before pystac opens it
            return str(super().read_text(source, *args, **kwargs))

        def request(self, href: str, *args: Any, **kwargs: Any) -> str:
            check(href, policy)  # raised as PolicyError, not wrapped in APIError
            return str(super().request(href, *args, **kwargs))

    io = CheckedStacApiIO(timeout=(timeout_s, timeout_s), max_retries=None)
    io.session = checked_session(policy)
    return io


def _client(url: str, timeout_s: float, preset: CatalogPreset | None, policy: NetPolicy | None = None) -> Any:
    from pystac_client import Client
    from pystac_client.stac_api_io import StacApiIO

    if policy is not None and policy.hosted:
        io = _checked_io(policy, timeout_s)
    else:
        io = StacApiIO(timeout=(timeout_s, timeout_s), max_retries=1)
    modifier = None
    if preset is not None and preset.signer == "planetary_computer":
        import planetary_computer

        modifier = planetary_computer.sign_inplace
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NoConformsTo on static catalogs: handled below
        return Client.open(url, stac_io=io, modifier=modifier, timeout=(timeout_s, timeout_s))


def _policy_refusal(err: BaseException) -> PolicyError | None:
    """The policy refusal behind ``err`` (pystac-client wraps errors of its requests in ``APIError``)."""
    seen: BaseException | None = err
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, PolicyError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _wrap(err: Exception, url: str, timeout_s: float | None = None) -> CatalogError:
    from pystac_client.exceptions import APIError

    if isinstance(err, APIError):
        status = getattr(err, "status_code", None)
        if status is None:  # pystac-client wraps network errors (timeouts, refused) in APIError too
            return error_from(CatalogError, err, url, timeout_s=timeout_s)
        return request_error(CatalogError, url, status=int(status), kind="status", detail=one_line(err, limit=300))
    if isinstance(err, requests.RequestException | OSError):
        return error_from(CatalogError, err, url, timeout_s=timeout_s)
    return CatalogError(f"Catalog {url}", arrived=f"an answer that is not STAC ({type(err).__name__}: "
                        f"{one_line(err, limit=200)})", expected="a STAC API or a static catalog's root", url=url)


def search_items(
    catalog_url: str,
    collection: str | None,
    *,
    bbox: BBox | None = None,
    point: tuple[float, float] | None = None,
    dates: str | None = None,
    max_cloud_percent: float | None = None,
    limit: int = DEFAULT_LIMIT,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    policy: NetPolicy | None = None,
) -> list[ItemSummary]:
    """Search a STAC API or a static catalog.

    Args:
        catalog_url: Root URL of a STAC API, or of a static ``catalog.json``.
        collection: Collection id (``None``: every collection).
        bbox: Lon/lat ``(west, south, east, north)`` the items must intersect.
        point: Lon/lat point the items must contain (used when ``bbox`` is ``None``).
        dates: ``START/END`` ISO dates (``..`` open), or one date.
        max_cloud_percent: Largest ``eo:cloud_cover`` kept (items without one are kept).
        limit: Most items returned.
        timeout_s: Seconds per request.
        policy: Network and file policy (default: trust the caller). Hosted: the catalog URL and
            every link followed are checked, requests go through the checked HTTP layer.

    Returns:
        The matching items, in the catalog's order.

    Raises:
        CatalogError: The catalog does not answer, answers an error, or is not STAC.
        PolicyError: The catalog URL, a link or a redirect refused by ``policy``.
        WindowError: Unparseable dates (also a ``ValueError``).
    """
    start, stop = parse_dates(dates)
    area = bbox or ((point[0], point[1], point[0], point[1]) if point else None)
    if policy is not None:
        check(catalog_url, policy)
    preset = find_preset(catalog_url, collection)
    try:
        client = _client(catalog_url, timeout_s, preset, policy)
        from pystac_client import ConformanceClasses

        if client.conforms_to(ConformanceClasses.ITEM_SEARCH):
            found = _api_search(client, collection, bbox, point, start, stop, max_cloud_percent, limit)
        else:
            found = _static_search(client, collection, area, start, stop, max_cloud_percent, limit)
    except (CatalogError, PolicyError):
        raise
    except Exception as err:  # pystac/pystac-client raise many types for bad answers
        refusal = _policy_refusal(err)
        if refusal is not None:
            raise refused_again(refusal) from err
        raise _wrap(err, catalog_url, timeout_s) from err
    kept = [i for i in found if _matches(i, collection, area, start, stop, max_cloud_percent)]
    return [summarise(i) for i in kept[:limit]]


def _api_search(client: Any, collection: str | None, bbox: BBox | None, point: tuple[float, float] | None,
                start: dt.datetime | None, stop: dt.datetime | None, max_cloud: float | None,
                limit: int) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"max_items": limit, "limit": min(limit, 100)}
    if collection:
        params["collections"] = [collection]
    if bbox is not None:
        params["bbox"] = list(bbox)
    elif point is not None:
        params["intersects"] = {"type": "Point", "coordinates": list(point)}
    when = _datetime_param(start, stop)
    if when:
        params["datetime"] = when
    if max_cloud is not None:
        params["query"] = {"eo:cloud_cover": {"lte": max_cloud}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(client.search(**params).items_as_dicts())


def _static_search(client: Any, collection: str | None, area: BBox | None, start: dt.datetime | None,
                   stop: dt.datetime | None, max_cloud: float | None, limit: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for item in client.get_items(recursive=True):
            data = item.to_dict(transform_hrefs=True)
            for key, asset in item.assets.items():
                data["assets"][key]["href"] = asset.get_absolute_href() or asset.href
            if _matches(data, collection, area, start, stop, max_cloud):
                found.append(data)
                if len(found) >= limit:
                    break
    return found


# ----------------------------------------------------------------------------- one item
def fetch_item(item: str | Mapping[str, Any], *, catalog_url: str | None = None, collection: str | None = None,
               timeout_s: float = DEFAULT_TIMEOUT_S, policy: NetPolicy | None = None) -> dict[str, Any]:
    """Get an item's JSON: from its URL, from ``catalog/collections/C/items/ID``, or as given.

    Args:
        item: An item URL, a local item JSON file, an item id (with ``catalog_url`` and
            ``collection``), or the item's dict.
        catalog_url: Root URL of the STAC API (for an id).
        collection: Collection id (for an id).
        timeout_s: Seconds per request.
        policy: Network and file policy (default: trust the caller).

    Returns:
        The item as a dict, its asset hrefs absolute.

    Raises:
        CatalogError: Not found, no answer, or not a STAC item.
        PolicyError: The item URL or file refused by ``policy``.
    """
    session = checked_session(policy) if policy is not None and policy.hosted else None
    if isinstance(item, Mapping):
        data: Any = dict(item)
        url = "the item"
    elif re.match(r"^https?://", item):
        url = item
        if policy is not None:
            check(item, policy)
        data = fetch_json(item, timeout_s=timeout_s, session=session)
    elif item.lower().endswith((".json", ".geojson")):
        if policy is not None:
            check(item, policy)
        import json
        from pathlib import Path

        url = item
        try:
            data = json.loads(Path(item).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise CatalogError(f"STAC item file {item}", arrived=f"a read error ({one_line(err)})",
                               expected="a readable item JSON file") from err
    else:
        if not catalog_url or not collection:
            raise CatalogError(
                f"Item {item!r}", arrived="an item id without a catalog URL and collection",
                expected="an item URL or file, or an id with its catalog URL and collection",
                hints=Hints(python="Pass catalog_url= and collection= with the id, or the item's URL.",
                            cli="Pass --item ID --catalog URL --collection C, or the item's URL.",
                            app="Choose the catalog and collection, or paste the item's URL."),
            )
        url = f"{catalog_url.rstrip('/')}/collections/{collection}/items/{item}"
        if policy is not None:
            check(url, policy)
        data = fetch_json(url, timeout_s=timeout_s, session=session)
    if not isinstance(data, dict) or data.get("type") != "Feature" or not isinstance(data.get("assets"), dict):
        if not isinstance(data, dict):
            shape = f"a JSON {type(data).__name__}"
        elif data.get("type") != "Feature":
            shape = f"a JSON object of type {data.get('type')!r}"
        else:
            shape = "a Feature without an 'assets' object"
        where = f"{data.get('id')!r}" if url == "the item" and isinstance(data, dict) else url
        raise CatalogError(f"Item {where}", arrived=shape, expected="a STAC Item (a GeoJSON Feature with 'assets')",
                           url="" if url == "the item" else url)
    return _absolute_hrefs(data, None if url == "the item" else url)


def _absolute_hrefs(item: dict[str, Any], base: str | None) -> dict[str, Any]:
    """Asset hrefs made absolute against the item's URL or file (relative hrefs are legal STAC)."""
    from pathlib import Path
    from urllib.parse import urljoin

    if base is None:
        return item

    def absolute(href: str) -> str:
        if re.match(r"^[a-z][a-z0-9+.-]*://", href) or href.startswith("/"):
            return href
        if base.startswith(("http://", "https://")):
            return urljoin(base, href)
        return str((Path(base).parent / href).resolve())

    assets = {key: dict(asset, href=absolute(str(asset.get("href", ""))))
              for key, asset in item["assets"].items()}
    return dict(item, assets=assets)

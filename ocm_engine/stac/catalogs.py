"""Presets of the STAC collections the engine knows: where they live and which assets are which band.

Presets are data (a plain dict, like :data:`ocm_engine.sensors.SENSORS`): a catalog URL, a
collection id, the asset keys of Red, Green, NIR and Blue, the sensor preset of the
product, and whether hrefs must be signed (Planetary Computer). Items of other
collections are still usable: their bands are found by ``eo:bands`` common names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ocm_engine.errors import UnknownSensorError

EARTH_SEARCH_URL = "https://earth-search.aws.element84.com/v1"
PLANETARY_COMPUTER_URL = "https://planetarycomputer.microsoft.com/api/stac/v1"

Signer = Literal["planetary_computer"]


@dataclass(frozen=True, slots=True)
class CatalogPreset:
    """One known STAC collection.

    Attributes:
        key: Registry key, snake_case.
        label: Name shown to users.
        url: Root URL of the STAC API.
        collection: Collection id in that API.
        red: Asset key of the Red band.
        green: Asset key of the Green band.
        nir: Asset key of the NIR band.
        blue: Asset key of the Blue band (display only), or ``None``.
        sensor: Sensor preset key of the product (``ocm sensors``).
        signer: How hrefs are signed before reading, or ``None`` for public hrefs.
        nodata: Nodata value of the product's assets when they declare none.
    """

    key: str
    label: str
    url: str
    collection: str
    red: str
    green: str
    nir: str
    blue: str | None = None
    sensor: str | None = None
    signer: Signer | None = None
    nodata: float = 0.0

    @property
    def asset_keys(self) -> tuple[str, str, str]:
        """Red, Green and NIR asset keys."""
        return self.red, self.green, self.nir


CATALOGS: dict[str, CatalogPreset] = {
    p.key: p
    for p in (
        CatalogPreset(
            key="earth_search_sentinel2_l2a", label="Earth Search: Sentinel-2 L2A (COGs)", url=EARTH_SEARCH_URL,
            collection="sentinel-2-l2a", red="red", green="green", nir="nir", blue="blue",
            sensor="sentinel2_l2a_b08",
        ),
        CatalogPreset(
            key="earth_search_landsat_c2_l2", label="Earth Search: Landsat Collection 2 L2", url=EARTH_SEARCH_URL,
            collection="landsat-c2-l2", red="red", green="green", nir="nir08", blue="blue",
            sensor="landsat8_9_oli",
        ),
        CatalogPreset(
            key="planetary_computer_sentinel2_l2a", label="Planetary Computer: Sentinel-2 L2A",
            url=PLANETARY_COMPUTER_URL, collection="sentinel-2-l2a", red="B04", green="B03", nir="B08",
            blue="B02", sensor="sentinel2_l2a_b08", signer="planetary_computer",
        ),
        CatalogPreset(
            key="planetary_computer_landsat_c2_l2", label="Planetary Computer: Landsat Collection 2 L2",
            url=PLANETARY_COMPUTER_URL, collection="landsat-c2-l2", red="red", green="green", nir="nir08",
            blue="blue", sensor="landsat8_9_oli", signer="planetary_computer",
        ),
    )
}


def get_catalog(name: str) -> CatalogPreset:
    """Return the catalog preset registered under ``name``.

    Raises:
        UnknownSensorError: If ``name`` is not a preset key (the message lists the valid ones).
    """
    try:
        return CATALOGS[name]
    except KeyError as err:
        raise UnknownSensorError(name, sorted(CATALOGS), kind="catalog preset") from err


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


def find_preset(url: str | None, collection: str | None) -> CatalogPreset | None:
    """The preset of a catalog URL and collection, if any.

    A collection id alone matches a preset of the same collection on any catalog (a mirror
    or a test server keeps the asset keys) but never turns on signing: only the
    preset's own URL (or a host of the same name) is signed.

    Args:
        url: The catalog's root URL (``None``: unknown).
        collection: The collection id (``None``: unknown).

    Returns:
        The matching preset, or ``None``.
    """
    if collection is None:
        return None
    matches = [p for p in CATALOGS.values() if p.collection == collection]
    for preset in matches:
        if url is not None and _same_url(url, preset.url):
            return preset
    unsigned = [p for p in matches if p.signer is None]
    if url is not None and "planetarycomputer" in url.lower():
        signed = [p for p in matches if p.signer is not None]
        return signed[0] if signed else None
    return unsigned[0] if unsigned else None

"""Which asset of a STAC item is Red, Green, NIR (and Blue, for display).

The bands are found from each asset's band metadata, the ``eo:bands`` list (STAC 1.0,
``common_name``) or the ``bands`` list (STAC 1.1, ``eo:common_name``): Red is ``red``,
Green ``green``, NIR ``nir`` or else ``nir08``, Blue ``blue``. A collection preset's asset
keys are used first when the item has them; explicit keys override both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ocm_engine.errors import StacBandError
from ocm_engine.stac.catalogs import CatalogPreset

#: Common names accepted for each role, most preferred first.
COMMON_NAMES: dict[str, tuple[str, ...]] = {
    "red": ("red",),
    "green": ("green",),
    "nir": ("nir", "nir08"),
    "blue": ("blue",),
}
REQUIRED_ROLES = ("red", "green", "nir")
_NON_DATA_ROLES = {"thumbnail", "overview", "metadata", "visual"}


@dataclass(frozen=True, slots=True)
class BandAsset:
    """One band of an item: its asset key, href and 1-based band within that asset.

    Attributes:
        key: Asset key (e.g. ``"red"``, ``"B04"``).
        href: The asset's href as the item gives it (sign it before reading).
        band: 1-based band of the asset (1 for single-band assets).
    """

    key: str
    href: str
    band: int = 1


@dataclass(frozen=True, slots=True)
class BandAssets:
    """The assets of an item's Red, Green, NIR (and optional Blue) bands."""

    red: BandAsset
    green: BandAsset
    nir: BandAsset
    blue: BandAsset | None = None

    @property
    def ordered(self) -> tuple[BandAsset, ...]:
        """Red, Green, NIR and (when present) Blue, in that order."""
        return (self.red, self.green, self.nir) + ((self.blue,) if self.blue else ())

    @property
    def keys(self) -> tuple[str, ...]:
        """The asset keys in :attr:`ordered` order."""
        return tuple(b.key for b in self.ordered)


def common_names(asset: Mapping[str, Any]) -> tuple[str, ...]:
    """Common band names of an asset, from ``eo:bands`` or ``bands`` (in band order)."""
    names: list[str] = []
    for band in asset.get("eo:bands") or asset.get("bands") or []:
        if isinstance(band, Mapping):
            name = band.get("common_name") or band.get("eo:common_name")
            if isinstance(name, str):
                names.append(name.lower())
    return tuple(names)


def _is_raster(asset: Mapping[str, Any]) -> bool:
    roles = set(asset.get("roles") or [])
    media = str(asset.get("type") or "").lower()
    if roles and roles <= _NON_DATA_ROLES:
        return False
    return not media or "tiff" in media or "jp2" in media or "geotiff" in media


def _rank(key: str, asset: Mapping[str, Any], name: str) -> tuple[int, int, int]:
    """Sort key of candidate assets: COG over JP2, the key named after the band, shorter keys."""
    media = str(asset.get("type") or "").lower()
    cog = 0 if "cloud-optimized" in media else (1 if "tiff" in media or not media else 2)
    return cog, 0 if key.lower() == name else 1, len(key)


def _discover(assets: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[str, int]]:
    """Role -> (asset key, 1-based band) from the assets' common names; single-band assets first."""
    found: dict[str, tuple[str, int]] = {}
    for role, names in COMMON_NAMES.items():
        for name in names:
            single = [key for key, asset in assets.items() if _is_raster(asset) and common_names(asset) == (name,)]
            if single:
                found[role] = (min(single, key=lambda k: _rank(k, assets[k], name)), 1)
                break
            multi = [key for key, asset in assets.items() if _is_raster(asset) and name in common_names(asset)]
            if multi:
                key = min(multi, key=lambda k: _rank(k, assets[k], name))
                found[role] = (key, common_names(assets[key]).index(name) + 1)
                break
    return found


def map_bands(
    item: Mapping[str, Any],
    preset: CatalogPreset | None = None,
    assets: Sequence[str] | None = None,
) -> BandAssets:
    """Find the Red, Green, NIR (and Blue) assets of a STAC item.

    Args:
        item: The item as a dict (GeoJSON Feature with ``assets``).
        preset: The collection's preset; its asset keys are used when the item has them.
        assets: Explicit Red, Green, NIR[, Blue] asset keys; override everything.

    Returns:
        The band assets with their hrefs (as in the item: sign them before reading).

    Raises:
        StacBandError: If Red, Green or NIR is missing (the message lists the assets found).
    """
    item_assets: Mapping[str, Mapping[str, Any]] = item.get("assets") or {}
    item_id = str(item.get("id", "?"))
    found_names = {key: common_names(a) for key, a in item_assets.items() if _is_raster(a)}
    chosen: dict[str, tuple[str, int]] = {}
    if assets:
        roles = ("red", "green", "nir", "blue")[: len(assets)]
        chosen = {role: (key, 1) for role, key in zip(roles, assets, strict=False) if key in item_assets}
        missing = [f"{role} (asset {key!r})" for role, key in zip(roles, assets, strict=False)
                   if key not in item_assets]
        missing += list(REQUIRED_ROLES[len(assets):])
        if missing:
            raise StacBandError(item_id, missing, found_names)
    else:
        if preset is not None and all(k in item_assets for k in preset.asset_keys):
            chosen = {role: (key, 1) for role, key in zip(REQUIRED_ROLES, preset.asset_keys, strict=True)}
            if preset.blue and preset.blue in item_assets:
                chosen["blue"] = (preset.blue, 1)
        for role, found in _discover(item_assets).items():
            chosen.setdefault(role, found)
        missing = [role for role in REQUIRED_ROLES if role not in chosen]
        if missing:
            raise StacBandError(item_id, missing, found_names)

    def pick(role: str) -> BandAsset:
        key, band = chosen[role]
        return BandAsset(key, str(item_assets[key]["href"]), band)

    return BandAssets(pick("red"), pick("green"), pick("nir"), pick("blue") if "blue" in chosen else None)


def asset_nodata(asset: Mapping[str, Any]) -> float | None:
    """The nodata value an asset declares (``raster:bands`` / ``bands``), if any."""
    for band in asset.get("raster:bands") or asset.get("bands") or []:
        if isinstance(band, Mapping):
            value = band.get("nodata", band.get("raster:nodata"))
            if isinstance(value, int | float):
                return float(value)
    return None

"""What the app says about the model: name, version, what its card measured, its training scenes.

Everything is read from ``ocm_engine/weights/`` (``ensemble.json`` and ``MODEL_CARD.md``), so
the line the app shows changes with the shipped model, never by hand. The scenes the model was
trained on come from one place, the ``"training_scenes"`` list of ``ensemble.json`` (written
by the training export): the app never re-derives the training split.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from ocm_engine.errors import Hints, SceneReadError
from ocm_engine.models.sources import DEFAULT_WEIGHTS_DIR, MANIFEST_NAME

#: The embedded default model's folder (the engine's, wherever the package is installed).
WEIGHTS_DIR = DEFAULT_WEIGHTS_DIR
CARD_URL_PATH = "model-card"


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """The default model as its files describe it.

    Attributes:
        name: ``ensemble.json`` name.
        version: ``ensemble.json`` version.
        members: Member architectures.
        measured: One sentence: what the model card measured on held-out scenes ("" if unknown).
        card: Path of the model card (may not exist).
    """

    name: str
    version: str
    members: tuple[str, ...]
    measured: str
    card: Path


def _manifest() -> dict[str, Any]:
    try:
        data = json.loads((WEIGHTS_DIR / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _range(values: list[float]) -> str:
    if not values:
        return ""
    low, high = min(values), max(values)
    return f"{low:.2f}" if abs(high - low) < 0.005 else f"{low:.2f}-{high:.2f}"


def measured_line(card_text: str) -> str:
    """Summarise the card's held-out table: the default model's cloud and shadow F1 ranges.

    The table is the one whose header has ``cloud F1`` and ``shadow F1`` columns; rows of the
    shipped model are the ones whose model cell is bold (``**...**``).
    """
    cloud: list[float] = []
    shadow: list[float] = []
    columns: list[str] = []
    for line in card_text.splitlines():
        if not line.startswith("|"):
            columns = [] if not line.strip() else columns
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if "cloud F1" in cells and "shadow F1" in cells:
            columns = cells
            continue
        if not columns or len(cells) != len(columns) or not any(c.startswith("**") for c in cells[:2]):
            continue
        for name, found in (("cloud F1", cloud), ("shadow F1", shadow)):
            match = re.match(r"\d+(\.\d+)?", cells[columns.index(name)])
            if match:
                found.append(float(match.group(0)))
    parts = [f"{label} F1 {_range(values)}" for label, values in (("cloud", cloud), ("shadow", shadow)) if values]
    return f"its card measured {' and '.join(parts)} on held-out scenes" if parts else ""


@functools.lru_cache(maxsize=1)
def default_model() -> ModelFacts:
    """Facts of the embedded default model (cached: the files do not change while the app runs)."""
    manifest = _manifest()
    card = WEIGHTS_DIR / str(manifest.get("card", "MODEL_CARD.md"))
    try:
        measured = measured_line(card.read_text(encoding="utf-8"))
    except OSError:
        measured = ""
    members = tuple(str(m.get("arch", "?")) for m in manifest.get("members", []) if isinstance(m, dict))
    return ModelFacts(str(manifest.get("name", "default model")), str(manifest.get("version", "?")), members,
                      measured, card)


def card_text(facts: ModelFacts) -> str:
    """The model card's Markdown.

    Raises:
        SceneReadError: The card file is missing or unreadable in this installation.
    """
    try:
        return facts.card.read_text(encoding="utf-8")
    except OSError as err:
        raise SceneReadError(f"Model card {facts.card.name}", arrived=f"a read error ({err.strerror or err})",
                             expected="the card shipped in ocm_engine/weights/",
                             hints=Hints.same("Reinstall the package (pip install -e .).")) from err


OFFICIAL_ACCURACY: Final = "clear 92.4 %, cloud 91.5 %, shadow 81.4 %"
"""The reference's published balanced accuracy of the v4 weights on PixBox-S2 (clear / cloud / shadow)."""


def official_line(where: str = "") -> str:
    """One line of Markdown for the official pair: what it is and its published accuracy.

    Args:
        where: Where the files were found, in words (never a server path), or ``""``.
    """
    found = f" Found in {where}." if where else ""
    return ("Model: **OmniCloudMask v4 (official)** (2 U-Nets: regnety_004, edgenext_small); published "
            f"balanced accuracy on PixBox-S2: {OFFICIAL_ACCURACY}.{found}")


def model_line(source: str, override: str | None, where: str = "") -> str:
    """One line of Markdown: which model runs, what its card measured, a link to the card.

    Args:
        source: The model that runs (``"default"`` or ``"official"``).
        override: ``$OCM_APP_MODEL`` when set (a custom weights folder replaces the default).
        where: For the official pair: where it was found, in words.
    """
    if override and source == "default":
        return f"Model: custom weights from `{Path(override).name}` (`OCM_APP_MODEL`); no model card."
    if source == "official":
        return official_line(where)
    facts = default_model()
    members = f" ({len(facts.members)} U-Nets: {', '.join(facts.members)})" if facts.members else ""
    measured = f"; {facts.measured}" if facts.measured else ""
    return f"Model: **{facts.name} v{facts.version}**{members}{measured}. [Model card](/{CARD_URL_PATH})"


@functools.lru_cache(maxsize=1)
def training_scenes() -> frozenset[str]:
    """Names (``ocm_engine.training.data`` style, e.g. ``oncloudn_chip_id_1``) of scenes trained on.

    The ``"training_scenes"`` list of the default model's ``ensemble.json``; empty (no scene is
    flagged) when the manifest has none, as for weights trained elsewhere.
    """
    listed = _manifest().get("training_scenes")
    return frozenset(str(name) for name in listed) if isinstance(listed, list) else frozenset()


def was_trained_on(dataset_name: str) -> bool:
    """Whether the default model was trained on this scene (``False`` for unknown names)."""
    return bool(dataset_name) and dataset_name in training_scenes()

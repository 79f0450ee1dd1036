"""Accuracy of masks against reference labels: per-class precision, recall, F1, IoU.

Any label encoding is mapped with a *label map* (raw value -> ``clear``, ``thick``,
``thin``, ``cloud``, ``shadow`` or ``ignore``). The scheme scored is the coarsest the
labels support:

* labels with ``thick``/``thin``: the model's four classes;
* otherwise ``clear`` / ``cloud`` / ``shadow`` (thick and thin predictions merged),
  dropping ``cloud`` or ``shadow`` when the labels lack it (their predictions then
  count as ``clear``, which means "everything else").

Balanced accuracy is the mean recall over classes present in the labels. Arrays are
``(height, width)``; images ``(bands, height, width)``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from ocm_engine.errors import Hints, InvalidImageError, SceneReadError
from ocm_engine.metrics import ClassScore, Scores, confusion_matrix, scores_from_confusion

__all__ = [
    "FOUR_CLASS",
    "PEER_TO_MODEL",
    "TARGET_NAMES",
    "ClassScore",
    "EvalResult",
    "confusion_matrix",
    "encode_prediction",
    "encode_reference",
    "evaluate_masks",
    "format_table",
    "parse_label_map",
    "result_to_dict",
    "run_evaluate_command",
    "scheme_for",
    "scores_from_confusion",
]

TARGET_NAMES: Final = ("clear", "thick", "thin", "cloud", "shadow", "ignore")
FOUR_CLASS: Final = ("clear", "thick", "thin", "shadow")
#: ukis-csmask output (0 clear, 1 cloud, 2 shadow) in the model's class codes.
PEER_TO_MODEL: Final = np.array([0, 1, 3], dtype=np.uint8)


EvalResult = Scores
"""Scores of a mask against reference labels (the metrics module's :class:`Scores`)."""


def parse_label_map(text: str | Mapping[int, str]) -> dict[int, str]:
    """Parse ``"0=shadow,4=cloud,1=clear"`` (or JSON ``{"0": "shadow"}``) into a mapping.

    Raises:
        InvalidImageError: On a malformed entry or an unknown target name.
    """
    if isinstance(text, Mapping):
        items = [(int(k), str(v)) for k, v in text.items()]
    elif text.strip().startswith("{"):
        items = [(int(k), str(v)) for k, v in json.loads(text).items()]
    else:
        items = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = part.partition("=")
            if not sep:
                raise InvalidImageError(f"Label map entry {part!r}", arrived="no '='",
                                        expected="VALUE=CLASS, e.g. '4=cloud'")
            try:
                items.append((int(float(key)), value.strip().lower()))
            except ValueError as err:
                raise InvalidImageError(f"Label value in {part!r}", arrived=key, expected="a number") from err
    for _, name in items:
        if name not in TARGET_NAMES:
            raise InvalidImageError("Label map class", arrived=name, expected=f"one of {', '.join(TARGET_NAMES)}")
    return dict(items)


def scheme_for(label_map: Mapping[int, str]) -> tuple[str, ...]:
    """The class scheme the mapped labels support (see the module docstring)."""
    names = set(label_map.values())
    if names & {"thick", "thin"}:
        return FOUR_CLASS
    scheme = ["clear"]
    if "cloud" in names:
        scheme.append("cloud")
    if "shadow" in names:
        scheme.append("shadow")
    return tuple(scheme)


def encode_reference(
    labels: npt.NDArray[np.generic], label_map: Mapping[int, str], scheme: Sequence[str]
) -> npt.NDArray[np.int64]:
    """Map raw labels to scheme indices; ``-1`` for ignored or unmapped values."""
    out = np.full(labels.shape, -1, dtype=np.int64)
    for value, name in label_map.items():
        if name == "ignore":
            continue
        target = "cloud" if name in ("thick", "thin") and name not in scheme else name
        if target == "cloud" and "cloud" not in scheme:
            raise InvalidImageError(
                "Label map classes", arrived="'cloud' together with 'thick'/'thin'",
                expected="either thick and thin, or cloud alone",
                hints=Hints.same("Map every cloud value to thick or thin, or all of them to cloud."),
            )
        out[labels == value] = list(scheme).index(target)
    return out


def encode_prediction(classes: npt.NDArray[np.generic], scheme: Sequence[str]) -> npt.NDArray[np.int64]:
    """Map model classes (0 clear, 1 thick, 2 thin, 3 shadow) to scheme indices."""
    if tuple(scheme) == FOUR_CLASS:
        return classes.astype(np.int64)
    lookup = np.zeros(4, dtype=np.int64)
    if "cloud" in scheme:
        lookup[1] = lookup[2] = list(scheme).index("cloud")
    if "shadow" in scheme:
        lookup[3] = list(scheme).index("shadow")
    return lookup[np.clip(classes.astype(np.int64), 0, 3)]


def evaluate_masks(
    predicted: npt.NDArray[np.generic],
    labels: npt.NDArray[np.generic],
    label_map: Mapping[int, str] | str,
    *,
    valid: npt.NDArray[np.bool_] | None = None,
) -> EvalResult:
    """Score model classes ``(h, w)`` against raw labels ``(h, w)`` mapped by ``label_map``.

    Args:
        predicted: Model classes (0 clear, 1 thick, 2 thin, 3 shadow).
        labels: Reference labels in their own encoding.
        label_map: Raw value -> class name (see :func:`parse_label_map`).
        valid: Pixels to score (e.g. ``Prediction.valid``); all when ``None``.

    Returns:
        The scores.
    """
    mapping = parse_label_map(label_map)
    scheme = scheme_for(mapping)
    reference = encode_reference(labels, mapping, scheme)
    pred = encode_prediction(predicted, scheme)
    if valid is not None:
        reference = np.where(valid, reference, -1)
    return scores_from_confusion(confusion_matrix(reference, pred, len(scheme)), scheme)


def format_table(rows: Sequence[tuple[str, str, EvalResult]]) -> str:
    """A Markdown table: one row per (dataset, model), F1/precision/recall per class."""
    lines = [
        "| data | model | class | precision | recall | F1 | IoU | pixels |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for data, model, result in rows:
        for s in result.scores:
            lines.append(
                f"| {data} | {model} | {s.name} | {s.precision:.3f} | {s.recall:.3f} | "
                f"{s.f1:.3f} | {s.iou:.3f} | {s.support} |"
            )
        lines.append(f"| {data} | {model} | *balanced acc.* | | | {result.balanced_accuracy:.3f} | | |")
    return "\n".join(lines)


def result_to_dict(result: EvalResult) -> dict[str, object]:
    """A JSON-serialisable view of a result."""
    return result.as_dict()


def _guess_reflectance(image: npt.NDArray[np.generic], scale: float) -> npt.NDArray[np.float32]:
    if scale > 0:
        return (image.astype(np.float32) / scale).astype(np.float32)
    if image.dtype == np.uint8:
        return (image.astype(np.float32) / 255.0).astype(np.float32)
    if np.issubdtype(image.dtype, np.integer) or float(np.nanmax(image)) > 5.0:
        return (image.astype(np.float32) / 10000.0).astype(np.float32)
    return image.astype(np.float32)


def _read(path: str) -> tuple[npt.NDArray[np.generic], float]:
    import rasterio

    try:
        with rasterio.open(path) as src:
            return src.read(), float(abs(src.res[0]))
    except Exception as err:
        raise SceneReadError(f"Raster {path}", arrived=f"a read error ({err})",
                             expected="a raster rasterio can open") from err


def _band_indices(text: str) -> list[int]:
    """0-based Red, Green, NIR indices from 1-based ``"R,G,NIR"`` text."""
    try:
        bands = [int(b) - 1 for b in text.split(",")]
    except ValueError as err:
        raise _bands_error(text) from err
    if len(bands) != 3 or min(bands) < 0:
        raise _bands_error(text)
    return bands


def _bands_error(text: str) -> InvalidImageError:
    return InvalidImageError(
        "Band numbers (Red, Green, NIR)", arrived=text, expected="three 1-based numbers R,G,NIR",
        hints=Hints(python="Set args.bands to three 1-based numbers, e.g. '3,2,4'.",
                    cli="Pass --bands R,G,NIR (1-based), e.g. --bands 3,2,4.",
                    app="Map Red, Green and NIR to 1-based band numbers."),
    )


def run_evaluate_command(args: argparse.Namespace) -> int:
    """Implementation of ``ocm evaluate`` (see :func:`~ocm_engine.training.cli.add_evaluate_parser`)."""
    from ocm_engine import load_ensemble, predict_array

    if not args.images or len(args.images) != len(args.labels):
        raise InvalidImageError(
            "Images and label files", arrived=f"{len(args.images)} image(s), {len(args.labels)} label file(s)",
            expected="one or more images, one label file per image",
            hints=Hints(python="Give args.images and args.labels of the same length.",
                        cli="Give as many --labels as --images.",
                        app="Give one label file per image."),
        )
    mapping = parse_label_map(args.label_map)
    scheme = scheme_for(mapping)
    bands = _band_indices(args.bands)
    ensemble = load_ensemble(args.model)
    totals: dict[str, npt.NDArray[np.int64]] = {}
    for image_path, label_path in zip(args.images, args.labels, strict=True):
        image, resolution_m = _read(image_path)
        labels = _read(label_path)[0][0]
        pred = predict_array(image, bands=(bands[0], bands[1], bands[2]), nodata=args.nodata, ensemble=ensemble)
        reference = np.where(pred.valid, encode_reference(labels, mapping, scheme), -1)
        outputs = {"ocm-studio": pred.classes}
        if args.peer == "ukis-csmask":
            from ocm_engine.training.teacher import run_teacher

            if args.blue_band <= 0:
                raise InvalidImageError(
                    "Blue band number (for the ukis-csmask peer)", arrived=args.blue_band,
                    expected="a 1-based band number",
                    hints=Hints(python="Set args.blue_band to the image's 1-based Blue band.",
                                cli="Pass --blue-band N (1-based) with --peer ukis-csmask.",
                                app="Choose the image's Blue band."),
                )
            refl = _guess_reflectance(image[[bands[0], bands[1], bands[2], args.blue_band - 1]], args.scale)
            peer = run_teacher(refl, resolution_m, "l2a")
            outputs["ukis-csmask"] = PEER_TO_MODEL[np.minimum(peer, 2)]
        for name, classes in outputs.items():
            cm = confusion_matrix(reference, encode_prediction(classes, scheme), len(scheme))
            totals[name] = totals.get(name, 0) + cm
    rows = [("images", name, scores_from_confusion(cm, scheme)) for name, cm in totals.items()]
    print(format_table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({n: result_to_dict(r) for _, n, r in rows}, indent=2))
    return 0

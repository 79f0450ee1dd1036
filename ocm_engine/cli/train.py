r"""``ocm train`` and ``ocm evaluate``, and the training shortcuts of ``python -m ocm_engine.training.cli``.

:func:`add_train_parser` and :func:`add_evaluate_parser` are registered in the ``ocm`` command's
table (:data:`ocm_engine.cli.main.COMMANDS`). Building their parsers imports no training code
(scipy, the chip sampler): that loads when a command runs. The stand-alone form (kept for the
model card's recipes; ``python -m ocm_engine.training.cli`` runs :func:`main`)::

    python -m ocm_engine.training.cli pack
    python -m ocm_engine.training.cli train --member regnety_004 --time-budget-s 1500
    python -m ocm_engine.training.cli export --checkpoint regnety_004=runs/regnety_004/checkpoint.pt ...
    python -m ocm_engine.training.cli evaluate --images a.tif --labels a_mask.tif \\
        --label-map "0=clear,1=cloud,255=ignore" --bands 3,2,4 --peer ukis-csmask
    python -m ocm_engine.training.cli validate   # the model card's held-out table
    python -m ocm_engine.training.cli heldout --model default --json out.json   # by resolution/product
    python -m ocm_engine.training.cli curve --run regnety_004=runs/v1_regnety_004 \
        --run edgenext_small=runs/v1_edgenext_small --json curve.json   # learning curve
    python -m ocm_engine.training.cli failures --model old_weights_dir --model default \
        --png cases.png        # issue 10's failure cases, measured, and a before/after picture
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ocm_engine.errors import InvalidImageError, OcmError, one_line


def _train(args: argparse.Namespace) -> int:
    from ocm_engine.training.data import DEFAULT_DATA_ROOT, DEFAULT_PACK_DIR
    from ocm_engine.training.train import DEFAULT_RUNS_DIR, TrainConfig, export_ensemble, train_member

    args.data_root = args.data_root or str(DEFAULT_DATA_ROOT)
    args.pack_dir = args.pack_dir or str(DEFAULT_PACK_DIR)
    args.runs_dir = args.runs_dir or str(DEFAULT_RUNS_DIR)
    if args.action == "pack":
        from ocm_engine.training.data import pack

        pack(Path(args.data_root), Path(args.pack_dir), run_teacher=not args.no_teacher)
        return 0
    if args.action == "export":
        from ocm_engine.training.data import scene_names

        pairs = dict(item.split("=", 1) for item in args.checkpoint)
        splits = scene_names(Path(args.pack_dir))
        manifest = export_ensemble(
            {k: Path(v) for k, v in pairs.items()},
            Path(args.out_dir),
            name=args.name,
            version=args.version,
            extra={
                "training_scenes": splits.get("train", []),
                "validation_scenes": splits.get("validation", []),
                "card": "MODEL_CARD.md",  # the app reads this key
            },
        )
        print(f"wrote {manifest}")
        return 0
    config = TrainConfig(
        member=args.member,
        run_name=args.run_name or args.member,
        steps=args.steps,
        time_budget_s=args.time_budget_s,
        batch_size=args.batch_size,
        chip_px=args.chip_px,
        chip_sizes=_chip_sizes(args.chip_sizes),
        ema_decay=args.ema_decay,
        lr=args.lr,
        threads=args.threads,
        seed=args.seed,
        warmup_steps=args.warmup_steps,
        shadow_weight=args.shadow_weight,
        snapshot_every=args.snapshot_every,
        bf16=not args.fp32,
        init_from=args.init_from,
        p_whole_clear=args.p_whole_clear,
        p_whole_cloud=args.p_whole_cloud,
        pack_dir=args.pack_dir,
        runs_dir=args.runs_dir,
    )
    print(f"checkpoint: {train_member(config)}")
    return 0


def _chip_sizes(text: str) -> tuple[int, ...]:
    """Parse ``--chip-sizes`` ("192,288,384"); empty means the single ``--chip-px``."""
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as err:
        raise InvalidImageError("--chip-sizes", arrived=text,
                                expected="comma-separated integers like 192,288,384") from err


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``train`` (actions ``fit`` (default), ``pack``, ``export``) to a subparsers object.

    Args:
        subparsers: The object returned by ``ArgumentParser.add_subparsers()``.

    Returns:
        The new sub-parser (its ``func`` default runs the command).
    """
    from ocm_engine.models.registry import MODEL_SPECS

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "train", help="Pack data, train a member, or export members as the default ensemble."
    )
    parser.add_argument("action", nargs="?", default="fit", choices=("fit", "pack", "export"))
    parser.add_argument("--member", default="regnety_004", choices=sorted(MODEL_SPECS))
    parser.add_argument("--run-name", default="")
    parser.add_argument("--steps", type=int, default=100_000, help="Cosine schedule length.")
    parser.add_argument("--time-budget-s", type=float, default=1500.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--chip-px", type=int, default=192)
    parser.add_argument(
        "--chip-sizes",
        default="",
        help="comma-separated chip sides to mix (e.g. 192,288,384), batch scaled to batch-size x chip-px^2 pixels",
    )
    parser.add_argument("--ema-decay", type=float, default=0.0, help="weight moving average for snapshots (0: none)")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warmup-steps", type=int, default=60)
    parser.add_argument("--shadow-weight", type=float, default=2.5, help="loss weight of shadow pixels")
    parser.add_argument("--snapshot-every", type=int, default=500, help="keep member weights every N steps (0: none)")
    parser.add_argument("--fp32", action="store_true", help="train in fp32 (default: bf16 autocast where native)")
    parser.add_argument(
        "--init-from", default="", help="start from member weights: a safetensors file or 'default' (embedded)"
    )
    parser.add_argument("--p-whole-clear", type=float, default=0.0, help="share of chips wholly inside clear ground")
    parser.add_argument("--p-whole-cloud", type=float, default=0.0, help="share of chips wholly inside cloud")
    parser.add_argument("--data-root", default="", help="labelled scenes to pack (default: ../shared/data)")
    parser.add_argument("--pack-dir", default="", help="packed scenes (default: .data/packed in the repository)")
    parser.add_argument("--runs-dir", default="", help="run records (default: runs/ in the repository)")
    parser.add_argument("--no-teacher", action="store_true", help="pack without ukis-csmask labels")
    parser.add_argument(
        "--checkpoint", action="append", default=[], help="ARCH=PATH (export; a checkpoint.pt or snap_*.safetensors)"
    )
    parser.add_argument("--out-dir", default=str(Path(__file__).resolve().parents[1] / "weights"))
    parser.add_argument("--name", default="ocm-studio-default")
    parser.add_argument("--version", default="0.1.0")
    parser.set_defaults(func=_train)
    return parser


#: Class names of :data:`ocm_engine.labels.LABEL_SCHEMES` in ``--label-map`` words (others are the same word).
_LABEL_MAP_WORDS = {"not_cloud": "clear", "not_shadow": "clear", "thick_cloud": "thick", "thin_cloud": "thin",
                    "cloud_shadow": "shadow"}


def scheme_label_map(key: str) -> str:
    """The ``--label-map`` text of a named label scheme (``--scheme oncloudn`` -> ``"0=clear,1=cloud"``).

    Raises:
        UnknownLabelSchemeError: No such scheme.
    """
    from ocm_engine.labels import get_label_scheme

    scheme = get_label_scheme(key)
    return ",".join(f"{raw}={_LABEL_MAP_WORDS.get(scheme.classes[i], scheme.classes[i])}" for raw, i in scheme.values)


def _evaluate(args: argparse.Namespace) -> int:
    if getattr(args, "scheme", None):
        args.label_map = scheme_label_map(args.scheme)
    if args.validation:
        from ocm_engine.training.validation import run_validation

        return run_validation(args)
    from ocm_engine.training.evaluate import run_evaluate_command

    return run_evaluate_command(args)


def add_evaluate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``evaluate`` to a subparsers object.

    ``evaluate --images A.tif B.tif --labels A_mask.tif B_mask.tif --label-map MAP``
    scores the ensemble (and optionally ukis-csmask) against label rasters. ``MAP`` maps
    label values to ``clear``, ``thick``, ``thin``, ``cloud``, ``shadow`` or ``ignore``,
    e.g. ``"0=shadow,4=cloud,1=clear,3=clear"``; unmapped values are ignored.
    ``evaluate --validation`` prints the held-out table of the packed data instead.

    Returns:
        The new sub-parser.
    """
    from ocm_engine.labels import LABEL_SCHEMES

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "evaluate", help="Per-class precision/recall/F1/IoU against label rasters."
    )
    parser.add_argument("--images", nargs="*", default=[])
    parser.add_argument("--labels", nargs="*", default=[])
    parser.add_argument("--label-map", default="0=clear,1=cloud,255=ignore",
                        help="VALUE=CLASS pairs (clear, thick, thin, cloud, shadow, ignore; default: %(default)s)")
    parser.add_argument("--scheme", choices=list(LABEL_SCHEMES),
                        help="the labels' class scheme by name, instead of --label-map (see ocm_engine.labels)")
    parser.add_argument("--bands", default="1,2,3", help="1-based Red,Green,NIR band indices")
    parser.add_argument("--blue-band", type=int, default=0, help="1-based Blue band (for the peer)")
    parser.add_argument(
        "--scale", type=float, default=0.0, help="divide by this to get reflectance (peer only; 0 = guess)"
    )
    parser.add_argument("--nodata", type=float, default=0.0)
    parser.add_argument("--model", default="default", help="'default', 'official' or a weights path")
    parser.add_argument("--peer", choices=("ukis-csmask",), default=None)
    parser.add_argument("--validation", action="store_true", help="score the held-out packed scenes (model card table)")
    parser.add_argument("--tta", action="store_true", help="with --validation: test-time augmentation")
    parser.add_argument("--pack-dir", default="")
    parser.add_argument("--json", default="", help="also write the results as JSON here")
    parser.set_defaults(func=_evaluate)
    return parser


def _heldout_or_curve(args_list: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ocm_engine.training.cli " + args_list[0])
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        help="heldout: 'default', 'official' or a weights path (failures: repeat to compare; "
        "member files joined by '+')",
    )
    parser.add_argument("--patch", type=int, default=0, help="failures: patch size (0: the engine's default)")
    parser.add_argument("--png", default="", help="failures: write the before/after picture here")
    parser.add_argument(
        "--first-look", action="store_true",
        help="failures: issue 19's cases instead (demo truth, clear chips, cloud-interior chips, the card's table)",
    )
    parser.add_argument("--demo", default="", help="failures --first-look: the demo imagery (.cache/demo/rgbn.tif)")
    parser.add_argument("--fit-calibration", action="store_true",
                        help="failures --first-look: also fit a per-class logit bias on the training side")
    parser.add_argument("--tta", action="store_true", help="heldout: test-time augmentation")
    parser.add_argument("--no-peer", action="store_true", help="heldout: skip ukis-csmask")
    parser.add_argument("--run", action="append", default=[], help="curve: ARCH=RUN_FOLDER (twice)")
    parser.add_argument("--every", type=int, default=1, help="curve: score every n-th snapshot")
    parser.add_argument("--train-fit", action="store_true", help="curve: also score the labelled training scenes")
    parser.add_argument("--pack-dir", default="")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default="")
    args = parser.parse_args(args_list[1:])
    import json

    import torch

    from ocm_engine.training.data import DEFAULT_PACK_DIR
    from ocm_engine.training.heldout import format_matrix, heldout_matrix, learning_curve

    torch.set_num_threads(args.threads)
    pack_dir = Path(args.pack_dir) if args.pack_dir else DEFAULT_PACK_DIR
    out = Path(args.json) if args.json else None
    if args_list[0] == "curve":
        runs = {arch: Path(folder) for arch, folder in (item.split("=", 1) for item in args.run)}
        learning_curve(runs, pack_dir, every=args.every, out_json=out, train_fit=args.train_fit)
        return 0
    models = args.model or ["default"]
    if args_list[0] == "failures":
        return _failures(models, pack_dir, args)
    from ocm_engine import load_ensemble

    rows = heldout_matrix(load_ensemble(models[0], device="cpu"), pack_dir, with_peer=not args.no_peer, tta=args.tta)
    print(format_matrix(rows))
    if out is not None:
        payload = [
            {"dataset": r.dataset, "condition": r.condition, "model": r.model, **r.result.as_dict()} for r in rows
        ]
        out.write_text(json.dumps(payload, indent=2))
    return 0


def _failures(models: list[str], pack_dir: Path, args: argparse.Namespace) -> int:
    import json

    from ocm_engine.options import InferenceOptions
    from ocm_engine.training.failure_cases import format_cases, measure, picture, run_models

    options = InferenceOptions(patch_px=args.patch, overlap_px=min(300, args.patch // 3)) if args.patch else None
    specs: list[str | list[str]] = [m.split("+") if "+" in m else m for m in models]
    if args.first_look:
        from ocm_engine.training.first_look import run_report

        run_report(specs, pack_dir, demo_path=Path(args.demo) if args.demo else None, fit=args.fit_calibration,
                   out_json=Path(args.json) if args.json else None, options=options)
        return 0
    scenes, runs = run_models(specs, pack_dir, options)
    figures = {run.model: measure(scenes, run.classes) for run in runs}
    print(format_cases(figures))
    if args.png:
        print(f"wrote {picture(scenes, runs, Path(args.png))}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``train`` or ``evaluate`` (or ``heldout`` / ``curve``) as a stand-alone command."""
    parser = argparse.ArgumentParser(
        prog="python -m ocm_engine.training.cli",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "shortcuts (each has its own --help):\n"
            "  pack               = train pack (scenes from ../shared/data into .data/packed)\n"
            "  export             = train export (snapshots into a weights folder)\n"
            "  validate           = evaluate --validation (the model card's held-out table)\n"
            "  heldout            held-out sets by resolution and product range\n"
            "  curve              held-out F1 of every kept snapshot of two runs (learning curve)\n"
            "  failures           issue 10's failure cases, measured, with a before/after picture\n"
            "                     (--first-look: issue 19's demo / clear-chip / cloud-interior cases)"
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub)
    add_evaluate_parser(sub)
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in ("heldout", "curve", "failures"):
        try:
            return _heldout_or_curve(args_list)
        except OcmError as err:
            print(f"error: {one_line(err, frontend='cli')}", file=sys.stderr)
            return 2
    if args_list and args_list[0] in ("pack", "export"):
        args_list = ["train", *args_list]
    if args_list and args_list[0] == "validate":
        args_list = ["evaluate", "--validation", *args_list[1:]]
    args = parser.parse_args(args_list)
    try:
        return int(args.func(args))
    except OcmError as err:
        print(f"error: {one_line(err, frontend='cli')}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

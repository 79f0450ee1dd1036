"""``python -m ocm_engine.training.cli``: the training command line (pack, train, export, validate, ...).

Kept so the model card's recipes keep working; the code lives in :mod:`ocm_engine.cli.train`,
whose ``train`` and ``evaluate`` parsers the ``ocm`` command registers too.
"""

from ocm_engine.cli.train import add_evaluate_parser, add_train_parser, main

__all__ = ["add_evaluate_parser", "add_train_parser", "main"]

if __name__ == "__main__":
    raise SystemExit(main())

"""``python -m ocm_engine`` runs the ``ocm`` command."""

import sys

from ocm_engine.cli import main

sys.exit(main())

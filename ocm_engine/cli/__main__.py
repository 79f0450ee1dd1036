"""``python -m ocm_engine.cli`` runs the ``ocm`` command."""

import sys

from ocm_engine.cli.main import main

sys.exit(main())

"""Run ``streamlit run app.py`` with the official pins swapped for tiny test files (browser test only).

``python tests/app/official_hub_app.py PAYLOAD_DIR [streamlit options...]``: the files of
``PAYLOAD_DIR`` (sorted) become the official pair's pinned sizes and digests in this process,
where Streamlit runs the app, so the app downloads them from the loopback hub named by
``HF_ENDPOINT`` exactly as it would the real pair. Nothing in the product reads such a override.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from ocm_engine.models import weights  # noqa: E402
from tests.helpers.hub_server import tiny_official_specs  # noqa: E402

if __name__ == "__main__":
    payloads = [p.read_bytes() for p in sorted(Path(sys.argv[1]).iterdir())]
    weights.OFFICIAL_WEIGHTS = tiny_official_specs(payloads)  # type: ignore[misc]
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(REPO / "app.py"), *sys.argv[2:]]
    sys.exit(cli.main())

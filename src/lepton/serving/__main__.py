"""One replica of a deployment: ``python -m lepton.serving`` with LEPTON_SERVE_* set.

The control plane starts replicas this way; LEPTON_SERVE_HOST/PORT say where to listen.
"""

import os

from lepton.serving._server import run

run(
    "lepton.serving._server:app_from_env",
    os.environ.get("LEPTON_SERVE_HOST", "127.0.0.1"),
    int(os.environ["LEPTON_SERVE_PORT"]),
    factory=True,
)

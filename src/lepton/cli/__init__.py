"""The ``lepton`` command line. Each command is a few lines that call one SDK function."""

from __future__ import annotations

import sys


def main() -> None:
    """Entry point of the ``lepton`` console script: errors become one readable paragraph."""
    from lepton.cli._app import app
    from lepton.cli._output import print_error
    from lepton.errors import LeptonError

    try:
        app()
    except LeptonError as exc:
        print_error(exc)
        sys.exit(1)
    except KeyboardInterrupt:
        print_error("Interrupted.")
        sys.exit(130)

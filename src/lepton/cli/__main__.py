"""``python -m lepton.cli``: the same as the ``lepton`` command."""

from lepton.cli import main

main()

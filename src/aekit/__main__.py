"""``python -m aekit`` is the ``aekit`` command."""

from aekit.cli import main

main()

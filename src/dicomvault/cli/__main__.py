"""``python -m dicomvault.cli``: the same as the ``dicomvault`` console script."""

from dicomvault.cli import main

main()

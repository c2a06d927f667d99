"""`python -m komet_ftd_ops` is the `komet-ftd-ops` command."""

from .cli import main

main()

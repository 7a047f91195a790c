"""`python -m kokemus` is the `kokemus` command."""

from kokemus.cli import main

main()

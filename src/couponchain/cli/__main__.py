"""`python -m couponchain.cli`: the `couponchain` command."""

from couponchain.cli import main

main()

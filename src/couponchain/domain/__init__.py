"""Pure domain rules: no I/O, no chain, no database."""

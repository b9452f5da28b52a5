"""Pure release planning: no I/O, no ``dagger`` import. Every function and the CLI call into it."""

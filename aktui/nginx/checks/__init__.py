"""The linter's checks, one module per family."""

"""Subcommands of the aktui CLI: each module has configure(parser) and run(args)."""

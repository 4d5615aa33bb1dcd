"""Subcommands of this part (filled in by the part's owner)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this part's subcommands to the ``srscope`` app."""

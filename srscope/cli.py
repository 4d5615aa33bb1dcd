"""The ``srscope`` command line: one typer app, subcommands registered by each part.

Each part owns ``<part>/cli.py`` with ``register(app)``; heavy imports (torch,
Qt, onnxruntime) stay inside the command functions so ``srscope --help`` is fast
and works without the optional extras.
"""

from __future__ import annotations

import sys

import typer

from srscope.errors import SrscopeError

app = typer.Typer(
    name="srscope",
    help="Live deep-learning super-resolution for light microscopes (Micro-Manager).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def version() -> None:
    """Print the srscope version and the versions of its main dependencies."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    for dist in ("srscope", "pymmcore-plus", "useq-schema", "onnxruntime", "torch"):
        try:
            typer.echo(f"{dist} {dist_version(dist)}")
        except PackageNotFoundError:
            typer.echo(f"{dist} (not installed)")


def _register_parts() -> None:
    import acquisition.cli
    import sr_engine.cli
    import training.cli
    import training.evaluation.cli
    import ui.cli

    for part in (acquisition.cli, sr_engine.cli, training.cli, training.evaluation.cli, ui.cli):
        part.register(app)


@app.callback()
def _root() -> None:
    """Live deep-learning super-resolution for light microscopes (Micro-Manager)."""


_register_parts()


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors become one line on stderr and exit code 2.

    Click itself handles usage errors (exit 2) and ``--help``; anything that is
    not an :class:`SrscopeError` is a bug and keeps its traceback.
    """
    try:
        app(args=argv, prog_name="srscope")
    except SystemExit as exc:  # click ends every run with sys.exit
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except SrscopeError as exc:
        typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
        return 2
    except KeyboardInterrupt:
        typer.secho("interrupted: what was acquired or computed so far is kept", err=True)
        return 130
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

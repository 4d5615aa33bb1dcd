"""The ``srscope`` command line: one typer app, subcommands registered by each part.

The composition root: the only module that imports every part (nothing imports
it; ``tests/core/test_layers.py`` checks). Each part owns ``<part>/cli.py`` with
``register(app)``; a command that joins parts (``bench``) lives beside this file.
Heavy imports (torch, Qt, onnxruntime) stay inside the command functions so
``srscope --help`` is fast and works without the optional extras.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from srscope._logger import configure_logging
from srscope.errors import SrscopeError

app = typer.Typer(
    name="srscope",
    help="Live deep-learning super-resolution for light microscopes (Micro-Manager).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # click's plain help: a flag shows no value type (typer's rich panels print
    # "--help <bool>" for every flag, as if it took a value)
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},  # up to 120 columns where the terminal has them
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
    from srscope_cli.bench import bench
    from srscope_cli.demo import demo

    acquisition.cli.register(app)
    sr_engine.cli.register(app)
    app.command("bench")(bench)
    app.command("demo")(demo)
    for part in (training.cli, training.evaluation.cli, ui.cli):
        part.register(app)


@app.callback()
def _root(
    ctx: typer.Context,
    verbose: int = typer.Option(
        0, "--verbose", "-v", count=True, help="Show progress messages (-v) and debug detail (-vv)"
    ),
    log_file: Path | None = typer.Option(
        None, "--log-file", help="Also write every message, debug included, to this file"
    ),
) -> None:
    """Live deep-learning super-resolution for light microscopes (Micro-Manager).

    Warnings are one line each on stderr, each shown once.
    """
    if log_file is not None and log_file.is_dir():
        raise SrscopeError(f"--log-file {log_file} is a folder")
    try:
        undo = configure_logging(verbose, log_file)
    except OSError as exc:
        raise SrscopeError(f"--log-file {log_file}: {exc.strerror or exc}") from None
    ctx.call_on_close(undo)


_register_parts()


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors become one line on stderr and exit code 2.

    Usage errors (a bad option value, an unknown option) are one line too, with
    click's exit code (2); ``--help`` and ``typer.Exit`` keep theirs. Anything
    that is not an :class:`SrscopeError` is a bug and keeps its traceback.
    """
    try:
        code = app(args=argv, prog_name="srscope", standalone_mode=False)
    except SystemExit as exc:  # a command may still end with sys.exit
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except typer.TyperException as exc:  # click's usage errors (typer vendors click)
        if type(exc).__name__ != "NoArgsIsHelpError":  # that one's help is already shown
            _error_line(_usage_message(exc))
        return getattr(exc, "exit_code", 2)
    except typer.Abort:
        _error_line("aborted")
        return 1
    except SrscopeError as exc:
        _error_line(str(exc))
        return 2
    except KeyboardInterrupt:
        typer.secho("interrupted: what was acquired or computed so far is kept", err=True)
        return 130
    return code if isinstance(code, int) else 0


def _error_line(message: str) -> None:
    """One line on stderr: ``error: MESSAGE`` with its whitespace folded."""
    typer.secho(f"error: {' '.join(message.split())}", err=True, fg=typer.colors.RED)


def _usage_message(exc: typer.TyperException) -> str:
    """Click's message, prefixed with the subcommand it is about (``snap: ...``)."""
    ctx = getattr(exc, "ctx", None)
    where = ctx.command_path.removeprefix("srscope").strip() if ctx is not None else ""
    text = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    return f"{where}: {text}" if where else text


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

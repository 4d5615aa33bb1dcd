"""One set of conventions on every command: help screens, flags, shared options, types."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from srscope_cli.app import app

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = typer.main.get_command(app).commands  # name -> click command
SHARED = ("--config", "--rig", "--sim", "--roi", "--specimen", "--allow-mismatch")
OWN = {"--roi": {"demo"}}  # demo's ROI is its own: 512 px by default, at least 64


def options(name: str) -> list:
    return [p for p in COMMANDS[name].params if p.param_type_name == "option" and not p.hidden]


@pytest.mark.parametrize(
    "name",
    [n if n in ("predict", "scan") else pytest.param(n, marks=pytest.mark.soak)
     for n in sorted(COMMANDS)],  # two subprocesses by default; every screen in the soak run
)  # fmt: skip
def test_every_help_screen_shows_no_value_type_on_a_flag(name: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "srscope", name, "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "120"},
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "--help" in run.stdout and "<bool>" not in run.stdout


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_an_off_by_default_flag_has_no_negative_twin(name: str) -> None:
    twins = [p.opts for p in options(name) if p.is_flag and p.default is False and p.secondary_opts]
    assert twins == []


@pytest.mark.parametrize("flag", SHARED)
def test_a_shared_option_means_the_same_on_every_command(flag: str) -> None:
    helps = {
        name: p.help
        for name in COMMANDS
        if name not in OWN.get(flag, ())
        for p in options(name)
        if flag in p.opts
    }
    assert len(helps) >= 2 and len(set(helps.values())) == 1, helps


def _none_default_annotations(name: str) -> list[str]:
    """Options whose default is None but whose annotation does not admit None."""
    params = inspect.signature(COMMANDS[name].callback).parameters
    wrong = []
    for pname, param in params.items():
        info = param.default
        default = getattr(info, "default", info)
        if default is None and "None" not in str(param.annotation):
            wrong.append(f"{pname}: {param.annotation}")
    return wrong


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_an_option_without_a_default_is_typed_optional(name: str) -> None:
    assert _none_default_annotations(name) == []

"""Shared fixtures. Each part keeps its own tests in tests/<part>/."""

import os
import signal

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


# --- acquisition: the simulated rig (owned by acquisition) ------------------------
import pytest

# A suite started in the background (`pytest ... &` from a script) inherits SIGINT ignored,
# and so would every scan it starts: the Ctrl-C tests need the terminal's behaviour.
# A Python handler (unlike SIG_IGN) is reset to the default in the processes they exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def microscope():
    """A fresh :class:`acquisition.Microscope` on the simulated rig, closed after the test.

    The camera runs as fast as it can (``RealTime`` off) at its full 1024² frame;
    call ``microscope.set_centered_roi(256)`` for quicker frames.
    """
    from acquisition import Microscope

    scope = Microscope.open()
    scope.core.setProperty("Camera", "RealTime", "Off")
    try:
        yield scope
    finally:
        scope.close()


@pytest.fixture
def sim_core(microscope):
    """The pymmcore-plus ``UniMMCore`` of the ``microscope`` fixture (sim rig loaded)."""
    return microscope.core


# --- test layers: unit / integration / e2e markers, given by what a test uses ------
import inspect  # noqa: E402
import sys  # noqa: E402

LAYERS = ("unit", "integration", "e2e")
SIM_RIG_FIXTURES = {"microscope", "sim_core", "rig", "viewer"}
WORKER_NAMES = {"SRFrameProcessor", "sr_processor", "multiprocessing"}  # a worker process


def _names(fn, module, seen: set) -> set[str]:
    """The global names ``fn`` uses, with those of the functions and fixtures of its
    own module that it calls (transitively)."""
    fn = getattr(fn, "__wrapped__", fn)  # a fixture's function
    code = getattr(fn, "__code__", None)
    if code is None or code in seen:
        return set()
    seen.add(code)
    names = set(code.co_names)
    for const in code.co_consts:  # nested functions and lambdas
        if inspect.iscode(const):
            names |= set(const.co_names)
    for name in list(names):
        helper = vars(module).get(name)
        if callable(helper) and inspect.getmodule(helper) is module:
            names |= _names(helper, module, seen)
    return names


def layer_of(item) -> str:
    """``e2e``: runs the command line (``srscope_cli.main`` or a subprocess);
    ``integration``: the simulated rig or a worker process; ``unit``: none of these."""
    module = item.module
    used: set[str] = set()
    for fn in [item.function, *(vars(module)[n] for n in item.fixturenames if n in vars(module))]:
        used |= _names(fn, module, set())
    cli_main = getattr(sys.modules.get("srscope_cli"), "main", None)
    if "subprocess" in used or ("main" in used and vars(module).get("main") is cli_main):
        return "e2e"
    if SIM_RIG_FIXTURES & set(item.fixturenames) or WORKER_NAMES & used:
        return "integration"
    return "unit"


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        if not any(item.get_closest_marker(layer) for layer in LAYERS):
            item.add_marker(layer_of(item))

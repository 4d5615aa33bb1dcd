"""``srscope demo``: the whole loop on the simulated rig (see :mod:`srscope_cli.demo.run`)."""

from srscope_cli.demo.command import demo

__all__ = ["demo"]

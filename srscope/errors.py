"""The one exception type the CLI turns into a one-line message and exit code 2.

Every part raises a subclass of :class:`SrscopeError` (it is also a ``ValueError``
so library users can catch it as bad input) for anything a user can fix:
bad files, wrong shapes, unknown devices. Anything else is a bug and keeps its
traceback.
"""


class SrscopeError(ValueError):
    """A problem with user input, files or configuration, stated in one line."""

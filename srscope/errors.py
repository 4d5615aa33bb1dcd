"""The one exception type the CLI turns into a one-line message and exit code 2.

Every part raises :class:`SrscopeError` (it is also a ``ValueError`` so library
users can catch it as bad input) for anything a user can fix, as the subclass
that says what kind of thing is wrong where one fits: :class:`ImageError`,
:class:`OutputError`, :class:`SettingsError`, :class:`DeviceError` here,
``ModelError`` (``sr_engine.errors``) and a few more local to their part.
Anything else is a bug and keeps its traceback.
"""


class SrscopeError(ValueError):
    """A problem with user input, files or configuration, stated in one line."""


class ImageError(SrscopeError):
    """An image (a file or an array) that cannot be used: missing, unreadable, damaged,
    or of a shape, dtype or values (NaN) the step does not take."""


class OutputError(SrscopeError):
    """An output path refused: it exists (and no ``--overwrite``), is not a folder, or
    cannot be written."""


class SettingsError(SrscopeError):
    """A settings, plan or record file (or an option's value) that is missing or invalid."""


class DeviceError(SrscopeError):
    """The microscope refused a request or lacks what it needs: a device, a group or
    preset, a stage position, a frame."""

"""Atomic file writes: a reader (or a crash) never sees half a file.

Acquired data and trained models are the expensive things here; every part
writes them through :func:`atomic_path` so an interrupted write leaves the old
file (or none), never a truncated one that looks complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a new file should follow the umask
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def check_output(
    path: str | os.PathLike, overwrite: bool, flag: str = "--overwrite", *, folder: bool = False
) -> None:
    """Refuse, before anything is written, an output that cannot or should not be written.

    An existing ``path`` (unless ``overwrite``), a path under a regular file, or a
    folder this process cannot write into is one :class:`~srscope.errors.OutputError` line;
    ``folder``: the output is a folder, so an existing non-folder there is refused too.
    """
    from srscope.errors import OutputError

    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise OutputError(f"{path} exists and is not a folder")
    if path.exists() and not overwrite:
        raise OutputError(f"{path} exists; pass {flag} to replace it")
    parent = path.parent if str(path.parent) else Path(".")
    for p in (parent, *parent.parents):
        if p.exists():
            if not p.is_dir():
                raise OutputError(f"cannot write {path}: {p} is not a folder")
            if not os.access(p, os.W_OK | os.X_OK):
                raise OutputError(f"cannot write {path}: no permission to write in {p}")
            break


def check_output_folder(
    folder: str | os.PathLike, overwrite: bool, flag: str = "--overwrite"
) -> None:
    """Refuse, before any work, a report folder used before (unless ``overwrite``).

    A report must come from one run only: an existing non-empty ``folder`` is refused
    without ``overwrite`` (with it, the command calls :func:`clear_owned` before it
    writes). A regular file, a path under one, or an unwritable place is refused too.
    """
    from srscope.errors import OutputError

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise OutputError(
            f"{folder} exists and is not empty; pass {flag} to replace what this command "
            "wrote there, or choose a new folder"
        )
    check_output(folder, overwrite=True)


def clear_owned(folder: str | os.PathLike, owned: Sequence[str]) -> None:
    """Remove what a command owns in ``folder`` (glob patterns), before it writes again.

    Only the matches go (folders among them with their contents); anything else a
    user keeps there stays. Folders left empty by removing their files go too.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return
    for pattern in owned:
        for p in sorted(folder.glob(pattern), key=lambda q: len(q.parts), reverse=True):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink(missing_ok=True)
            parent = p.parent
            while parent != folder and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent

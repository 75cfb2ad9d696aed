"""Atomic output: every file resgenome writes appears under its final name complete, or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

from .errors import InputError, ResgenomeError


def check_input_file(path: str | os.PathLike, expected: str) -> tuple[Path, str]:
    """``(Path, name for messages)`` of an existing regular file; a one-line :class:`InputError` otherwise.

    ``expected`` says what the file should be ("a CSV with header ..."), so the message tells how to fix it.
    """
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise InputError(f"{name}: file not found; expected {expected}")
    if path.is_dir():
        raise InputError(f"{name}: is a directory; expected {expected}")
    if not path.is_file():  # a pipe, <(...) or a device: the readers open their input more than once (format sniff,
        # then the read), and the bytes of the first opening would be lost without any error
        raise InputError(f"{name}: is a pipe or device, not a file; write it to a file first")
    return path, name


def check_writable_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` if needed and check files can be written there; raise a one-line error if not."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResgenomeError(f"{path}: cannot create output directory ({exc.strerror})") from None
    if not path.is_dir():
        raise ResgenomeError(f"{path}: is not a directory")
    if not os.access(path, os.W_OK):
        raise ResgenomeError(f"{path}: output directory is not writable; choose another with --out")
    return path


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it is fsynced and renamed onto ``path``.

    If the block raises (or the process dies), ``path`` is untouched and the temporary file is removed.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    except FileNotFoundError:
        raise ResgenomeError(f"{path}: output directory {parent} does not exist") from None
    except PermissionError:
        raise ResgenomeError(f"{path}: output directory {parent} is not writable") from None
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _set_default_mode(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        _remove_quietly(tmp)
        if exc.errno is not None and exc.strerror:
            raise ResgenomeError(f"{path}: could not write ({exc.strerror}); nothing was written") from None
        raise
    except BaseException:
        _remove_quietly(tmp)
        raise


def atomic_path(path: str | os.PathLike) -> contextlib.AbstractContextManager[Path]:
    """Like :func:`atomic_open`, for writers that want a file name (``torch.save``, ``savefig``)."""
    return _atomic_path(Path(path))


@contextlib.contextmanager
def _atomic_path(path: Path) -> Iterator[Path]:
    parent = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=parent)
    os.close(fd)
    try:
        yield Path(tmp)
        _set_default_mode(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        _remove_quietly(tmp)
        if exc.strerror:
            raise ResgenomeError(f"{path}: could not write ({exc.strerror}); nothing was written") from None
        raise
    except BaseException:
        _remove_quietly(tmp)
        raise


def _set_default_mode(path: str) -> None:
    """Give a temporary file the mode ``open()`` would have (0666 less the umask); mkstemp makes it 0600."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)

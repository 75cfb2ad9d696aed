"""Files and streams in one place: inputs read once, outputs complete or absent, and clean-up on failure or signal.

Inputs (:func:`open_input`). ``-`` is standard input. A file is opened once and read once, front to back: the
compression (gzip, bzip2, xz, by their magic bytes, whatever the name) and the format are recognised on bytes already
read and kept in a pushback buffer, never by opening the file again — so a pipe, a FIFO or ``<(...)`` reads exactly
like a file. Other compressed or binary formats (zstd, zip, 7z, lz4, BAM, UTF-16 text, ...) are refused by name.

Outputs (:func:`open_output`). ``-`` is standard output. A regular path is written atomically: a temporary file beside
it is fsynced and renamed onto it, so it appears complete or not at all. A symbolic link is followed and its target
replaced the same way (the link stays). A FIFO, a character device or ``/dev/stdout`` cannot be replaced and is written
directly: atomicity is impossible there. :func:`check_paths` refuses, before anything is read or written, an output
that is the same file as an input (same device and inode, so through symbolic and hard links too).

Failure. :func:`output_folder` removes an output folder a failed command created; :func:`signals_raise` turns SIGTERM
and SIGINT into :class:`Interrupted`, so every ``with`` block above removes its temporary files on the way out.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import io
import lzma
import os
import re
import shutil
import signal
import stat
import sys
import tempfile
import threading
import zlib
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator, Mapping

from .errors import InputError, ResgenomeError

#: The file name meaning standard input (as an input) or standard output (as an output).
STDIO = "-"
STDIN_NAME = "<stdin>"
STDOUT_NAME = "<stdout>"

_SNIFF = 64  # bytes looked at to recognise a format
_BOM = b"\xef\xbb\xbf"
# Paths that name an already-open descriptor: written in place, never replaced.
_DESCRIPTOR_PATH = re.compile(r"^/(dev/(stdout|stderr|fd/\d+)|proc/(self|\d+)/fd/\d+)$")

# Compression the standard library reads, by magic bytes: (name, opener of a binary file object).
_DECODERS = (
    (b"\x1f\x8b", "gzip", lambda raw: gzip.GzipFile(fileobj=raw, mode="rb")),
    (b"BZh", "bzip2", lambda raw: bz2.BZ2File(raw, "rb")),
    (b"\xfd7zXZ\x00", "xz", lambda raw: lzma.LZMAFile(raw, "rb")),
)
_DECODE_ERRORS = (EOFError, zlib.error, lzma.LZMAError, OSError)  # gzip.BadGzipFile and bz2's errors are OSErrors
# Formats we do not read, by magic bytes (after decompression, so BAM inside its gzip blocks is found too).
_FOREIGN = (
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data", "decompress it first (zstd -d), or recompress with gzip"),
    (b"PK\x03\x04", "a zip archive (a PyTorch model file is one too)", "unzip it and give the file inside"),
    (b"7z\xbc\xaf\x27\x1c", "a 7z (7-Zip) archive", "extract it first (7z x) and give the file inside"),
    (b"\x04\x22\x4d\x18", "LZ4-compressed data", "decompress it first (lz4 -d), or recompress with gzip"),
    (b"Rar!\x1a\x07", "a RAR archive", "extract it first and give the file inside"),
    (b"BAM\x01", "a BAM file (binary alignments)", "convert it to FASTA first (samtools fasta)"),
    (b"CRAM", "a CRAM file (compressed alignments)", "convert it to FASTA first (samtools fasta)"),
    (b"BCF\x02", "a BCF file (binary variant calls)", "this is not sequence or table data"),
    (b"\xff\xfe", "UTF-16 text", "save it as UTF-8 (iconv -f UTF-16 -t UTF-8)"),  # with a NUL after an ASCII byte
    (b"\xfe\xff", "UTF-16 text", "save it as UTF-8 (iconv -f UTF-16 -t UTF-8)"),  # with a NUL before an ASCII byte
    (b"%PDF", "a PDF document", "export the data as text"),
    (b"\x89HDF", "an HDF5 file", "export the data as text"),
    (b"SQLite format 3\x00", "an SQLite database", "export the data as text"),
    (b"\x7fELF", "a program (ELF executable)", "give a data file"),
)


# ================================================================================================================
# Inputs
class _Peekable(io.RawIOBase):
    """A read-only stream with a pushback buffer: :meth:`peek` looks ahead without consuming, so a format can be
    recognised on a pipe without reading it twice. Closing it leaves the wrapped stream to its owner."""

    def __init__(self, inner) -> None:
        super().__init__()
        self._inner = inner
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def peek(self, size: int) -> bytes:
        """Up to ``size`` bytes from the read position (fewer only at the end), without consuming them."""
        while len(self._buffer) < size:
            chunk = self._inner.read(size - len(self._buffer))
            if not chunk:
                break
            self._buffer += chunk
        return self._buffer[:size]

    def read(self, size: int | None = -1) -> bytes:
        """``size`` bytes (fewer only at the end of the stream), or everything left for ``size < 0``."""
        if size is None or size < 0:
            data, self._buffer = self._buffer + self._inner.read(), b""
            return data
        data = self.peek(size)
        self._buffer = self._buffer[len(data) :]
        return data

    def readinto(self, target) -> int:
        if not self._buffer:
            chunk = self._inner.read(len(target))
            target[: len(chunk)] = chunk
            return len(chunk)
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n


class _Tally(io.RawIOBase):
    """Counts (and optionally hashes) the bytes read, for the identity of an input read as a stream."""

    def __init__(self, raw, digest: bool) -> None:
        super().__init__()
        self._raw = raw
        self.size = 0
        self.sha256 = hashlib.sha256() if digest else None

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self._raw.read() if size is None or size < 0 else self._raw.read(size)
        data = data or b""
        self.size += len(data)
        if self.sha256 is not None:
            self.sha256.update(data)
        return data

    def readinto(self, target) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)


class _Decoded(io.RawIOBase):
    """The decompressed content; a truncated or corrupt stream becomes one :class:`InputError` naming the format."""

    def __init__(self, decoder, name: str, kind: str) -> None:
        super().__init__()
        self._decoder, self._name, self._kind = decoder, name, kind

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            return self._decoder.read(-1 if size is None else size)
        except InputError:
            raise
        except _DECODE_ERRORS as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise InputError(f"{self._name}: cannot read ({exc.strerror or exc})") from None
            raise InputError(
                f"{self._name}: truncated or corrupt {self._kind} data ({exc}); download or compress the file again"
            ) from None

    def readinto(self, target) -> int:
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)


class Input:
    """One input, opened once and read once, front to back, decompressed when gzip, bzip2 or xz.

    Use :func:`open_input` to make one. ``name`` is the path (or ``<stdin>``) for messages. :meth:`peek` looks at the
    start of the (decompressed) content without consuming it; :meth:`read` and :meth:`text` consume it. An ``Input``
    handed to a reader is shared, not reopened: :func:`open_input` on an ``Input`` returns it with one more user, and
    :meth:`close` closes the file when the last user is done.

    Attributes
    ----------
    name : str
    compression : str or None
        ``"gzip"``, ``"bzip2"``, ``"xz"`` or None.
    """

    def __init__(self, raw, name: str, *, owns_raw: bool, digest: bool = False) -> None:
        self.name = name
        self._raw, self._owns_raw, self._users = raw, owns_raw, 1
        head = _Peekable(raw)
        magic = self._guarded(lambda: head.peek(_SNIFF))
        self.compression = None
        content = head
        for prefix, kind, opener in _DECODERS:
            if magic.startswith(prefix):
                self.compression = kind
                content = _Decoded(opener(head), name, kind)
                break
        # the content is what is counted and hashed: the same sequences read plain or compressed are the same input
        self._tally = _Tally(content, digest)
        self._content = _Peekable(self._tally)
        self._check_format()

    # ---------------------------------------------------------------------------------------------- reading
    def peek(self, size: int) -> bytes:
        """The first ``size`` bytes not yet read (decompressed), without consuming them."""
        return self._guarded(lambda: self._content.peek(size))

    def read(self, size: int = -1) -> bytes:
        """``size`` bytes (fewer only at the end), or all that is left for ``size < 0``; decompressed."""
        return self._guarded(lambda: self._content.read(size))

    def text(self, encoding: str = "utf-8") -> IO[str]:
        """The rest of the content as text, without newline translation (for :mod:`csv`). A leading UTF-8 byte-order
        mark is dropped. After this, read only through the returned object."""
        if self.peek(len(_BOM)) == _BOM:
            self.read(len(_BOM))
        return io.TextIOWrapper(io.BufferedReader(self._content), encoding=encoding, newline="")

    def size(self) -> int | None:
        """Bytes of the file as stored (compressed for a compressed input), or None for a pipe or a terminal: the
        total of a progress bar."""
        try:
            info = os.fstat(self._raw.fileno())
        except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
            return None
        return info.st_size if stat.S_ISREG(info.st_mode) else None

    def position(self) -> int | None:
        """Bytes of the file as stored read so far (ahead of the content read, by the decoders' buffers), or None
        where a stream cannot tell (a pipe)."""
        try:
            return self._raw.tell()
        except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
            return None

    def digest(self) -> tuple[int, str]:
        """``(size, sha256 hex)`` of the whole content (decompressed), reading what is left of it.

        Only for an input opened with ``digest=True``.
        """
        if self._tally.sha256 is None:
            raise RuntimeError("open_input(..., digest=True) is needed for digest()")
        self._guarded(lambda: self._tally.read())  # a reader may stop early; the identity covers everything
        return self._tally.size, self._tally.sha256.hexdigest()

    def _guarded(self, action: Callable):
        try:
            return action()
        except InputError:
            raise
        except OSError as exc:
            raise InputError(f"{self.name}: cannot read ({exc.strerror or exc})") from None

    def _check_format(self) -> None:
        head = self.peek(_SNIFF)
        for prefix, what, advice in _FOREIGN:
            if head.startswith(prefix) and not (what == "UTF-16 text" and not _utf16_ascii(head)):
                raise InputError(f"{self.name}: {what}, not a text file; {advice}")

    # ---------------------------------------------------------------------------------------------- lifetime
    def share(self) -> "Input":
        self._users += 1
        return self

    def close(self) -> None:
        self._users -= 1
        if self._users == 0 and self._owns_raw:
            self._raw.close()

    def __enter__(self) -> "Input":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _utf16_ascii(head: bytes) -> bool:
    """A UTF-16 byte-order mark followed by an ASCII character (half NUL), not two odd bytes of a UTF-8 file."""
    if head.startswith(b"\xff\xfe"):
        return len(head) >= 4 and head[2] != 0 and head[3] == 0
    return len(head) >= 4 and head[2] == 0 and head[3] != 0


def is_stdio(path) -> bool:
    """True if ``path`` is ``-`` (standard input or output)."""
    return not isinstance(path, Input) and str(path) == STDIO


def input_name(path) -> str:
    """The name of an input in messages: the path, or ``<stdin>``."""
    if isinstance(path, Input):
        return path.name
    return STDIN_NAME if is_stdio(path) else str(path)


def open_input(path: str | os.PathLike | Input, expected: str, *, digest: bool = False) -> Input:
    """Open an input for one front-to-back read; ``-`` is standard input.

    Parameters
    ----------
    path : path-like, ``-`` or an :class:`Input` (returned as it is, shared).
    expected : what the file should be ("a FASTA file ..."), for the messages.
    digest : also hash the raw bytes, for :meth:`Input.digest`.

    Raises
    ------
    InputError
        One line: missing, a directory, unreadable, or a format named for what it is (zstd, zip, BAM, UTF-16 ...).
    """
    if isinstance(path, Input):
        return path.share()
    if is_stdio(path):
        stdin = sys.stdin
        if stdin is None:
            raise InputError(f"{STDIN_NAME}: there is no standard input; expected {expected}")
        return Input(getattr(stdin, "buffer", stdin), STDIN_NAME, owns_raw=False, digest=digest)
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise InputError(f"{name}: file not found; expected {expected}")
    if path.is_dir():
        raise InputError(f"{name}: is a directory; expected {expected}")
    try:
        raw = open(path, "rb", buffering=0)
    except OSError as exc:
        raise InputError(f"{name}: cannot read ({exc.strerror or exc})") from None
    try:
        return Input(raw, name, owns_raw=True, digest=digest)
    except BaseException:
        raw.close()
        raise


# ================================================================================================================
# Checks before anything is read or written
def _identity(path) -> tuple[int, int] | None:
    """(device, inode) of a regular file behind ``path`` (links followed; ``-`` = the standard stream), else None."""
    try:
        if is_stdio(path):
            return None
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None


def _stream_identity(stream) -> tuple[int, int] | None:
    try:
        info = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None


def check_paths(inputs: Mapping[str, object], outputs: Mapping[str, object]) -> None:
    """Refuse, before any work: an output that is the same file as an input, an output that cannot be written, or
    more than one input read from standard input.

    Parameters
    ----------
    inputs, outputs : option name (for messages, e.g. ``"--input"``) -> path, ``-`` or None (absent). A value may
        also be a list of paths (the parts of merge-predictions, the files of a PREFIX).
    """
    refuse_overwriting_inputs(inputs, outputs)
    for value in outputs.values():
        for out in _as_list(value):
            check_output(out)


def refuse_overwriting_inputs(inputs: Mapping[str, object], outputs: Mapping[str, object]) -> None:
    """Refuse an output that is the same file as an input: same device and inode, so through links too; ``-`` as an
    output is standard output, which may have been redirected onto an input (``>> input.fa``). Also refuses more
    than one input read from standard input."""
    readers = [option for option, value in inputs.items() for p in _as_list(value) if is_stdio(p)]
    if len(readers) > 1:
        raise ResgenomeError(f"{' and '.join(sorted(set(readers)))}: only one input can be '-' (standard input)")
    identities = {}
    for option, value in inputs.items():
        for p in _as_list(value):
            key = _stream_identity(sys.stdin) if is_stdio(p) else _identity(p)
            if key is not None:
                identities.setdefault(key, (option, input_name(p)))
    for option, value in outputs.items():
        for out in _as_list(value):
            key = _stream_identity(sys.stdout) if is_stdio(out) else _identity(out)
            if key in identities:
                source_option, source = identities[key]
                shown = STDOUT_NAME if is_stdio(out) else str(out)
                raise ResgenomeError(
                    f"{shown}: is the same file as the input {source} ({source_option}); writing {option} there"
                    " would destroy it, choose another output"
                )


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [v for v in value if v is not None]
    return [value]


def check_output(path: str | os.PathLike) -> None:
    """A one-line error now, not after the work, if ``path`` cannot be written (``-`` can always be)."""
    if is_stdio(path):
        return
    path = Path(path)
    direct, target = _output_target(path)
    if direct:
        return
    parent = target.parent
    if not parent.exists():
        raise ResgenomeError(f"{path}: output folder {parent} does not exist")
    if not parent.is_dir():
        raise ResgenomeError(f"{path}: {parent} is not a folder")
    if target.is_dir():
        raise ResgenomeError(f"{path}: is a directory; give a file name")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ResgenomeError(f"{path}: output folder {parent} is not writable")


def _output_target(path: Path) -> tuple[bool, Path]:
    """``(direct, target)``: direct for a descriptor path, a FIFO, a device or a socket (written in place); else the
    regular file to replace atomically, symbolic links followed."""
    if _DESCRIPTOR_PATH.match(os.path.abspath(path)):
        return True, path
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    if mode is not None and (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)):
        return True, path
    return False, Path(os.path.realpath(path))


# ================================================================================================================
# Outputs
@contextlib.contextmanager
def open_output(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open an output for writing: ``-`` is standard output; see the module docstring for links, FIFOs, devices.

    Parameters
    ----------
    path : path-like or ``-``.
    mode : ``"w"`` (text, ``kwargs`` as for :func:`open`) or ``"wb"``.

    A regular file appears complete or not at all: if the block raises (or the process is interrupted), nothing is
    written. A stream or device receives what was written before the failure; if its reader goes away (``| head``),
    :class:`OutputClosed` is raised.
    """
    if is_stdio(path):
        try:
            with _stdout(mode, **kwargs) as handle:
                yield handle
        except BrokenPipeError:
            raise OutputClosed(STDOUT_NAME) from None
        return
    direct, target = _output_target(Path(path))
    if not direct:
        with atomic_open(target, mode, **kwargs) as handle:
            yield handle
        return
    try:
        # a descriptor path may be a regular file the shell opened with >>: appending keeps what it holds
        handle = open(path, mode.replace("w", "a") if _DESCRIPTOR_PATH.match(os.path.abspath(path)) else mode, **kwargs)
    except OSError as exc:
        raise ResgenomeError(f"{path}: cannot write ({exc.strerror or exc})") from None
    try:
        with handle:
            yield handle
    except BrokenPipeError:
        raise OutputClosed(str(path)) from None


class OutputClosed(BaseException):
    """The reader of a stream output went away (``| head -1``); like SIGPIPE, this ends the command quietly.

    A BaseException, so that nothing on the way (click turns an OSError into exit 1) mistakes it for an error.
    """


@contextlib.contextmanager
def _stdout(mode: str, **kwargs) -> Iterator[IO]:
    stdout = sys.stdout
    if stdout is None:
        raise ResgenomeError(f"{STDOUT_NAME}: there is no standard output; give the output a file name")
    stdout.flush()
    binary = getattr(stdout, "buffer", None)
    if binary is None:  # a text-only replacement of sys.stdout (a notebook's)
        yield stdout
    elif "b" in mode:
        yield binary
    else:
        yield _TextSink(binary, kwargs.get("encoding") or "utf-8")
    stdout.flush()


class _TextSink:
    """Text written straight to a binary stream, which stays open (unlike a TextIOWrapper, which closes it)."""

    def __init__(self, binary, encoding: str) -> None:
        self._binary, self._encoding = binary, encoding

    def write(self, text: str) -> int:
        self._binary.write(text.encode(self._encoding))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._binary.flush()


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
    except NotADirectoryError:
        raise ResgenomeError(f"{path}: {parent} is not a folder") from None
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


# ================================================================================================================
# Output folders
def check_writable_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` if needed and check files can be written there; raise a one-line error if not."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ResgenomeError(f"{path}: exists and is not a folder; choose another output folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResgenomeError(f"{path}: cannot create output directory ({exc.strerror})") from None
    if not os.access(path, os.W_OK):
        raise ResgenomeError(f"{path}: output directory is not writable; choose another with --out")
    return path


@contextlib.contextmanager
def output_folder(path: str | os.PathLike, *, keep: Callable[[Path, BaseException], bool] | None = None
                  ) -> Iterator[Path]:  # fmt: skip
    """Create an output folder (and its missing parents) for a command; if the command fails, remove what was
    created here, so a failure leaves no empty or partial folder.

    Parameters
    ----------
    keep : ``keep(folder, exception) -> bool``: True keeps the folder after all (a resumable state, finished runs).
        A folder that existed before is never removed.
    """
    path = Path(path)
    first_new = None
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        first_new = candidate
    folder = check_writable_dir(path)
    try:
        yield folder
    except BaseException as exc:
        if first_new is not None and not (keep is not None and keep(folder, exc)):
            shutil.rmtree(first_new, ignore_errors=True)
        raise


# ================================================================================================================
# Signals
class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGINT arrived: unwinds as a KeyboardInterrupt (so every ``with`` block cleans up on the way out,
    and code that stops cleanly on Ctrl-C, such as Snakemake's, does so on SIGTERM too).

    ``exit_code`` is 128 + the signal number (143, 130), as a shell reports a process killed by it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum
        self.hint = ""  # what to do next, added by whoever knows (e.g. "run again with --resume")


@contextlib.contextmanager
def signals_raise(signals: Iterable[int] = (signal.SIGTERM, signal.SIGINT)) -> Iterator[None]:
    """While the block runs (in the main thread), the given signals raise :class:`Interrupted`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_interrupted(signum, _frame):
        signal.signal(signum, signal.SIG_IGN)  # a second signal must not break off the clean-up the first started
        raise Interrupted(signum)

    previous = {s: signal.signal(s, raise_interrupted) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)

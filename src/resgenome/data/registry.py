"""Named public datasets: where each file comes from, how it is checked, where it is kept, and how to fetch it.

Where files live
    A dataset's files are relative paths (``viral/devset_train.csv``) under a *data directory*. :func:`locate` looks
    in ``$RESGENOME_DATA_DIR`` first, then in the cache (``$XDG_CACHE_HOME/resgenome``, by default
    ``~/.cache/resgenome``); :func:`fetch` downloads into :func:`cache_dir`. Datasets with ``url=None`` (the
    development copies) cannot be downloaded and exist only in a ``RESGENOME_DATA_DIR``.

Mirrors
    ``RESGENOME_MIRROR`` is a base URL that replaces ``https://raw.githubusercontent.com`` in every registered URL,
    for a mirror of GitHub's raw files or a local test server: with ``RESGENOME_MIRROR=http://127.0.0.1:8000``,
    ``mesc-khan2019`` is fetched from ``http://127.0.0.1:8000/asntech/improse/master/improse/data/original_data.csv``.
    ``fetch(..., url_override={filename: url})`` replaces single files' URLs instead, and wins over the mirror.

Integrity
    A file with a published sha256 is hashed while it downloads and kept only if the digest matches. A file without
    one is checked line by line for its format, and the sha256 of what was downloaded is recorded beside it in
    ``<file>.sha256`` (``sha256sum -c`` format), so a later change to the file is noticed and it is fetched again.
    Downloads go to a temporary file in the target directory and are renamed into place only once checked.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import re
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from .. import __version__
from ..errors import InputError, ResgenomeError
from ..io import atomic_open, atomic_path, check_writable_dir

__all__ = [
    "DATA_DIR_ENV",
    "DATASETS",
    "Dataset",
    "MIRROR_ENV",
    "RemoteFile",
    "cache_dir",
    "check_format",
    "describe",
    "fetch",
    "file_sha256",
    "get",
    "locate",
    "recorded_sha256",
    "resolve_data_argument",
    "search_dirs",
    "verify",
]

DATA_DIR_ENV = "RESGENOME_DATA_DIR"
MIRROR_ENV = "RESGENOME_MIRROR"
GITHUB_RAW = "https://raw.githubusercontent.com"
TASKS = ("superenhancer", "viral")

CHUNK_SIZE = 1 << 20  # 1 MiB: few read calls for the ~80 MB ViraMiner file, little memory
TIMEOUT_SECONDS = 60  # per socket operation, not for the whole download
USER_AGENT = f"resgenome/{__version__} (python-urllib)"
SIDECAR_SUFFIX = ".sha256"

_SHA256 = re.compile(r"[0-9a-f]{64}")


# ---------------------------------------------------------------------------------------------------------------------
# Format checks for files without a published checksum: cheap line scans, no pandas.

# seq_id,sequence,label; a final line may lack its newline.
_VIRAMINER_LINE = re.compile(rb"[^,\r\n]+,[ACGTN]+,[01]\r?\n?")
_IMPROSE_HEADER = b"chrom,start,end,Class,"
_IMPROSE_CLASSES = (b"SE", b"TE")


def _snippet(line: bytes, width: int = 60) -> str:
    text = line.rstrip(b"\r\n").decode("utf-8", "replace")
    return repr(text if len(text) <= width else text[:width] + "...")


def _check_viraminer_csv(path: Path, shown_as: str) -> int:
    records = 0
    with open(path, "rb") as handle:
        for records, line in enumerate(handle, 1):
            if not _VIRAMINER_LINE.fullmatch(line):
                raise InputError(
                    f"{shown_as} line {records}: expected seq_id,sequence,label with an ACGTN sequence and "
                    f"label 0 or 1, got {_snippet(line)}"
                )
    if records == 0:
        raise InputError(f"{shown_as}: file is empty, expected seq_id,sequence,label lines")
    return records


def _check_improse_csv(path: Path, shown_as: str) -> int:
    records = 0
    with open(path, "rb") as handle:
        header = handle.readline()
        if not header.startswith(_IMPROSE_HEADER):
            raise InputError(
                f"{shown_as} line 1: expected a header starting chrom,start,end,Class, got {_snippet(header)}"
            )
        width = header.count(b",") + 1
        for number, line in enumerate(handle, 2):
            fields = line.rstrip(b"\r\n").split(b",")
            if len(fields) != width or fields[3] not in _IMPROSE_CLASSES:
                raise InputError(
                    f"{shown_as} line {number}: expected {width} comma-separated fields with Class SE or TE, "
                    f"got {_snippet(line)}"
                )
            records += 1
    if records == 0:
        raise InputError(f"{shown_as}: no rows after the header")
    return records


FORMAT_CHECKS: dict[str, Callable[[Path, str], int]] = {
    "viraminer-csv": _check_viraminer_csv,
    "improse-csv": _check_improse_csv,
}


def check_format(path: str | os.PathLike, check: str, *, shown_as: str | None = None) -> int:
    """Scan ``path`` line by line for the format named ``check``; return its number of records.

    Parameters
    ----------
    path : path of the file to scan.
    check : a key of ``FORMAT_CHECKS``: ``"viraminer-csv"`` (no header; every line ``seq_id,sequence,label`` with a
        non-empty ACGTN sequence and label 0 or 1) or ``"improse-csv"`` (header ``chrom,start,end,Class,...``; every
        row as wide as the header, Class SE or TE).
    shown_as : how to name the file in error messages (default: the path).

    Raises
    ------
    InputError naming the first bad line.
    """
    try:
        checker = FORMAT_CHECKS[check]
    except KeyError:
        raise ValueError(f"unknown format check {check!r} (known: {', '.join(FORMAT_CHECKS)})") from None
    return checker(Path(path), shown_as or str(path))


# ---------------------------------------------------------------------------------------------------------------------
# The registry.


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset.

    Attributes
    ----------
    filename : path relative to a data directory, ``/``-separated (``viral/devset_train.csv``). A non-downloadable
        file may be a glob pattern (``viral/exp*.csv``) that must match at least one file.
    url : where to download it; None for files that only exist in a ``RESGENOME_DATA_DIR``.
    sha256 : published digest (64 lowercase hex digits), or None when none is known; then ``check`` is run on the
        download and the digest of what was downloaded is recorded in ``<filename>.sha256``.
    check : name of a format check (see :func:`check_format`) run on every download, or None.
    """

    filename: str
    url: str | None = None
    sha256: str | None = None
    check: str | None = None

    def __post_init__(self) -> None:
        relative = PurePosixPath(self.filename)
        if not self.filename or relative.is_absolute() or ".." in relative.parts or "\\" in self.filename:
            raise ValueError(f"RemoteFile filename must be a relative /-separated path, got {self.filename!r}")
        if self.sha256 is not None and not _SHA256.fullmatch(self.sha256):
            raise ValueError(f"{self.filename}: sha256 must be 64 lowercase hex digits, got {self.sha256!r}")
        if self.check is not None and self.check not in FORMAT_CHECKS:
            raise ValueError(f"{self.filename}: unknown format check {self.check!r}")
        if self.url is not None and self.is_pattern:
            raise ValueError(f"{self.filename}: a downloadable file needs a plain filename, not a pattern")

    @property
    def is_pattern(self) -> bool:
        return any(char in self.filename for char in "*?[")


@dataclass(frozen=True)
class Dataset:
    """A named set of files for one task, with where it comes from.

    Attributes
    ----------
    name : registry key, used on the command line (``resgenome data fetch NAME``).
    description : one line on what the files hold.
    files : the files, in a fixed order (train, validation, test where there is a split).
    source : citation, licence and upstream location.
    task : ``"superenhancer"`` or ``"viral"``.
    """

    name: str
    description: str
    files: tuple[RemoteFile, ...]
    source: str
    task: str

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"dataset {self.name!r}: task must be one of {TASKS}, got {self.task!r}")
        if not self.files:
            raise ValueError(f"dataset {self.name!r} has no files")

    @property
    def downloadable(self) -> bool:
        return all(remote.url is not None for remote in self.files)


_KHAN2019 = (
    "Khan & Zhang, 'Integrative modeling reveals key chromatin and sequence signatures predicting super-enhancers', "
    "Scientific Reports 9:2877 (2019); imPROSE, https://github.com/asntech/improse, improse/data/original_data.csv "
    "(BSD licence)"
)
_TAMPUU2019 = (
    "Tampuu et al., 'ViraMiner: Deep learning on raw DNA sequences for identifying viral genomes in human samples', "
    "PLoS ONE 14(9) (2019); https://github.com/NeuroCSUT/ViraMiner, data/DNA_data"
)
_SPLITS = ("train", "validation", "test")
_VIRAMINER_URL = GITHUB_RAW + "/NeuroCSUT/ViraMiner/master/data/DNA_data/fullset_{split}.csv"

DATASETS: dict[str, Dataset] = {
    dataset.name: dataset
    for dataset in (
        Dataset(
            name="mesc-khan2019",
            description="mouse ESC constituent enhancers, 36 features each; 10,019 rows, 646 in super-enhancers",
            files=(
                # The published digest (37966b7b...52315) has 66 hex digits, so it cannot be a SHA-256 as written.
                # Until the true digest is confirmed against the public file, the download is checked for format
                # and its digest recorded, as for ViraMiner's files.
                RemoteFile(
                    "mesc_khan2019.csv",
                    url=GITHUB_RAW + "/asntech/improse/master/improse/data/original_data.csv",
                    sha256=None,
                    check="improse-csv",
                ),
            ),
            source=_KHAN2019,
            task="superenhancer",
        ),
        Dataset(
            name="viraminer",
            description="ViraMiner's full set of 300-bp sequences, label 1 = viral; paper: 211,239 / 26,405 / 26,405",
            files=tuple(
                RemoteFile(
                    f"viraminer_fullset_{split}.csv",
                    url=_VIRAMINER_URL.format(split=split),
                    sha256=None,  # upstream publishes none
                    check="viraminer-csv",
                )
                for split in _SPLITS
            ),
            source=_TAMPUU2019,
            task="viral",
        ),
        Dataset(
            name="mesc-khan2019-dev",
            description="development copy of mesc-khan2019 without some chromosomes: 8,878 rows, 551 SE",
            files=(RemoteFile("superenhancers/mesc_khan2019_dev.csv", check="improse-csv"),),
            source=_KHAN2019 + "; development subset",
            task="superenhancer",
        ),
        Dataset(
            name="viral-devset",
            description="six ViraMiner experiments cut 80/10/10 like its full set: 18,908 / 2,364 / 2,364 sequences",
            files=tuple(
                RemoteFile(f"viral/devset_{split}.csv", check="viraminer-csv") for split in _SPLITS
            ),
            source=_TAMPUU2019 + "; development subset",
            task="viral",
        ),
        Dataset(
            name="viral-experiments",
            description="ViraMiner per-experiment files (exp*.csv), verbatim; experiment = seq_id after the first '_'",
            files=(RemoteFile("viral/exp*.csv", check="viraminer-csv"),),
            source=_TAMPUU2019 + "; development subset",
            task="viral",
        ),
    )
}


def get(name: str) -> Dataset:
    """The registered dataset called ``name``; a one-line error listing the known names if there is none."""
    try:
        return DATASETS[name]
    except KeyError:
        raise ResgenomeError(f"unknown dataset {name!r} (known: {', '.join(sorted(DATASETS))})") from None


# ---------------------------------------------------------------------------------------------------------------------
# Where datasets live.


def _default_cache() -> Path:
    # The XDG spec says to ignore a relative XDG_CACHE_HOME.
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "resgenome"


def cache_dir(dir: str | os.PathLike | None = None) -> Path:
    """Directory that :func:`fetch` writes to: ``dir``, else ``$RESGENOME_DATA_DIR``, else the user cache.

    The user cache is ``$XDG_CACHE_HOME/resgenome``, or ``~/.cache/resgenome`` when XDG_CACHE_HOME is unset.
    The directory is not created here.
    """
    if dir is not None:
        return Path(dir).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return _default_cache()


def search_dirs(dir: str | os.PathLike | None = None) -> list[Path]:
    """Directories :func:`locate` searches: ``dir`` alone if given, else ``$RESGENOME_DATA_DIR`` then the cache."""
    if dir is not None:
        return [Path(dir).expanduser()]
    dirs = []
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        dirs.append(Path(env).expanduser())
    default = _default_cache()
    if default not in dirs:
        dirs.append(default)
    return dirs


def _find_in(directory: Path, dataset: Dataset) -> list[Path] | None:
    """All of ``dataset``'s files under ``directory`` (patterns expanded, sorted), or None if any is missing."""
    found: list[Path] = []
    for remote in dataset.files:
        if remote.is_pattern:
            matches = sorted(path for path in directory.glob(remote.filename) if path.is_file())
            if not matches:
                return None
            found.extend(matches)
        else:
            path = directory / remote.filename
            if not path.is_file():
                return None
            found.append(path)
    return found


def locate(name: str, dir: str | os.PathLike | None = None) -> list[Path]:
    """Paths of dataset ``name``'s files, from the first directory of :func:`search_dirs` that holds all of them.

    Files are found by name only; their checksums are verified by :func:`fetch`, not here.

    Raises
    ------
    ResgenomeError if the name is unknown or the files are in none of the directories.
    """
    dataset = get(name)
    dirs = search_dirs(dir)
    for directory in dirs:
        found = _find_in(directory, dataset)
        if found is not None:
            return found
    where = ", ".join(str(directory) for directory in dirs)
    if dataset.downloadable:
        raise ResgenomeError(f"dataset {name!r} not found in {where}; run `resgenome data fetch {name}`")
    expected = ", ".join(remote.filename for remote in dataset.files)
    raise ResgenomeError(
        f"dataset {name!r} not found in {where}; it cannot be downloaded and is only available in a "
        f"{DATA_DIR_ENV} holding {expected}"
    )


def resolve_data_argument(value: str | os.PathLike) -> list[Path]:
    """Turn a ``--data`` argument into files: ``-`` (standard input) or an existing path as itself, else a dataset
    name via :func:`locate`."""
    path = Path(value)
    if str(value) == "-" or path.exists():
        return [path]
    if str(value) in DATASETS:
        return locate(str(value))
    raise ResgenomeError(f"{value}: no such file, and not a dataset name (known: {', '.join(sorted(DATASETS))})")


# ---------------------------------------------------------------------------------------------------------------------
# Checksums.


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of the file at ``path``."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def verify(path: str | os.PathLike, sha256: str) -> None:
    """Check that the file at ``path`` has digest ``sha256``; raise a one-line ResgenomeError if not."""
    path = Path(path)
    if not path.is_file():
        raise ResgenomeError(f"{path}: no such file")
    got = file_sha256(path)
    if got != sha256.lower():
        raise ResgenomeError(f"{path}: checksum mismatch: expected sha256 {sha256}, got {got}")


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def recorded_sha256(path: str | os.PathLike) -> str | None:
    """The digest recorded in ``<path>.sha256`` when ``path`` was downloaded without a published checksum, if any."""
    try:
        fields = _sidecar(Path(path)).read_text(encoding="ascii").split()
    except (OSError, UnicodeDecodeError):
        return None
    return fields[0] if fields and _SHA256.fullmatch(fields[0]) else None


def _write_sidecar(path: Path, digest: str) -> Path:
    sidecar = _sidecar(path)
    with atomic_open(sidecar, "w", encoding="ascii") as handle:
        handle.write(f"{digest}  {path.name}\n")  # `sha256sum -c` reads this, run from the file's directory
    return sidecar


def _is_intact(path: Path, remote: RemoteFile) -> bool:
    """Whether a file already at ``path`` can be kept instead of downloading it again."""
    if not path.is_file():
        return False
    digest = file_sha256(path)
    if remote.sha256 is not None:
        return digest == remote.sha256
    recorded = recorded_sha256(path)
    if recorded is not None:
        return digest == recorded
    # Put there by hand, or the process stopped before recording: keep it if its format is right.
    if remote.check is not None:
        try:
            check_format(path, remote.check)
        except InputError:
            return False
    _write_sidecar(path, digest)
    return True


# ---------------------------------------------------------------------------------------------------------------------
# Downloading.


def _mirrored(url: str) -> str:
    mirror = os.environ.get(MIRROR_ENV, "").rstrip("/")
    if mirror and url.startswith(GITHUB_RAW + "/"):
        return mirror + url[len(GITHUB_RAW) :]
    return url


@contextlib.contextmanager
def _progress_bar(label: str, total: int | None, enabled: bool) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n_bytes)``; draws a rich progress bar on stderr only when enabled and stderr is a terminal."""
    if not (enabled and sys.stderr.isatty()):
        yield lambda n: None
        return
    columns = (
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn()
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _stream(url: str, out, label: str, progress: bool) -> str:
    """Copy ``url`` into the open binary file ``out`` in CHUNK_SIZE pieces; return the hex sha256 of the bytes."""
    hasher = hashlib.sha256()
    received = 0
    try:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            total = response.length  # None without Content-Length
            with _progress_bar(label, total, progress) as advance:
                while chunk := response.read(CHUNK_SIZE):
                    hasher.update(chunk)
                    out.write(chunk)
                    received += len(chunk)
                    advance(len(chunk))
    except urllib.error.HTTPError as exc:
        raise ResgenomeError(f"could not download {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise ResgenomeError(f"could not download {url}: {exc.reason}") from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise ResgenomeError(f"could not download {url}: {exc or type(exc).__name__}") from None
    except ValueError as exc:  # a malformed URL, e.g. a RESGENOME_MIRROR without http://
        raise ResgenomeError(f"could not download {url}: {exc}") from None
    # http.client returns short reads at EOF without complaint; a truncated body must not pass as complete.
    if total is not None and received != total:
        raise ResgenomeError(f"could not download {url}: connection closed after {received} of {total} bytes")
    return hasher.hexdigest()


def _download(url: str, dest: Path, remote: RemoteFile, progress: bool) -> str:
    """Download ``url`` to ``dest`` through a temporary file beside it; return the digest of what was kept."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as out:
            digest = _stream(url, out, remote.filename, progress)
            out.flush()
            os.fsync(out.fileno())
        if remote.sha256 is not None and digest != remote.sha256:
            raise ResgenomeError(
                f"{remote.filename}: checksum mismatch for {url}: expected sha256 {remote.sha256}, got {digest}; "
                "the download was discarded"
            )
        records = check_format(tmp, remote.check, shown_as=url) if remote.check else None
    if remote.sha256 is None:
        sidecar = _write_sidecar(dest, digest)
        if progress:
            counted = f"{records:,} records, " if records is not None else ""
            print(
                f"{dest}: {counted}sha256 {digest} (no published checksum; recorded in {sidecar.name})",
                file=sys.stderr,
            )
    return digest


def fetch(
    name: str,
    dir: str | os.PathLike | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    url_override: dict[str, str] | None = None,
) -> list[Path]:
    """Download dataset ``name`` into :func:`cache_dir` (``dir``) and return its files' paths.

    Files already present and intact (matching the published sha256, or the digest recorded at download) are kept
    unless ``force``. Each download is hashed as it arrives, checked, and renamed into place only when complete,
    so an interrupted or rejected download leaves nothing behind.

    Parameters
    ----------
    name : a downloadable registry name (``resgenome data list``).
    dir : target directory; default ``$RESGENOME_DATA_DIR``, else the user cache.
    force : download even files that are present and intact.
    progress : show a progress bar (when stderr is a terminal) and print each recorded digest to stderr.
    url_override : ``{filename: url}`` to fetch single files from elsewhere; wins over ``$RESGENOME_MIRROR``, which
        replaces ``https://raw.githubusercontent.com`` in every registered URL.

    Raises
    ------
    ResgenomeError on an unknown or non-downloadable name, a network error, or a checksum mismatch;
    InputError when a file without a published checksum is not in the expected format.
    """
    dataset = get(name)
    if not dataset.downloadable:
        raise ResgenomeError(
            f"dataset {name!r} cannot be downloaded; it is only available in a {DATA_DIR_ENV} "
            "(see `resgenome data list`)"
        )
    overrides = dict(url_override or {})
    unknown = sorted(set(overrides) - {remote.filename for remote in dataset.files})
    if unknown:
        known = ", ".join(remote.filename for remote in dataset.files)
        raise ResgenomeError(f"url_override names {', '.join(unknown)}, not files of {name!r} ({known})")
    target = check_writable_dir(cache_dir(dir))
    paths = []
    for remote in dataset.files:
        dest = target / remote.filename
        if force or not _is_intact(dest, remote):
            url = overrides.get(remote.filename) or _mirrored(remote.url)
            _download(url, dest, remote, progress)
        paths.append(dest)
    return paths


def describe(dir: str | os.PathLike | None = None) -> list[dict[str, object]]:
    """One row per registered dataset for ``resgenome data list``.

    Keys: name, task, description, files (comma-separated relative paths), downloadable (bool), present (bool),
    where (the directory holding the files, or ""), source.
    """
    dirs = search_dirs(dir)
    rows = []
    for dataset in DATASETS.values():
        where = next((directory for directory in dirs if _find_in(directory, dataset) is not None), None)
        rows.append(
            {
                "name": dataset.name,
                "task": dataset.task,
                "description": dataset.description,
                "files": ", ".join(remote.filename for remote in dataset.files),
                "downloadable": dataset.downloadable,
                "present": where is not None,
                "where": str(where) if where is not None else "",
                "source": dataset.source,
            }
        )
    return rows

"""Tests for the dataset registry: lookup order, error messages, and downloads from a local HTTP server."""

from __future__ import annotations

import collections
import hashlib
import http.server
import os
import socket
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from resgenome.data import registry
from resgenome.data.registry import Dataset, RemoteFile
from resgenome.errors import InputError, ResgenomeError

# Read before any test changes the environment: the shared development data, if the run points at it.
SHARED_DATA = os.environ.get(registry.DATA_DIR_ENV)

TOY = b"id,value\na,1\nb,2\n"
VIRAL_GOOD = b"seq1_exp1,ACGTNACGT,0\nseq2_exp1,TTGCA,1\n"
VIRAL_BAD = b"seq1_exp1,ACGTNACGT,0\nseq2_exp1,TTGCA,2\n"
IMPROSE = b"chrom,start,end,Class,H3K27ac,length\r\nchr1,10,20,SE,0.5,10\r\nchr2,30,45,TE,0.1,15\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_under(directory: Path) -> list[str]:
    """Every file below ``directory``, hidden temporaries included, as sorted relative paths."""
    if not directory.exists():
        return []
    return sorted(path.relative_to(directory).as_posix() for path in directory.rglob("*") if path.is_file())


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """No test sees the caller's data dir, mirror, cache or proxies."""
    monkeypatch.delenv(registry.DATA_DIR_ENV, raising=False)
    monkeypatch.delenv(registry.MIRROR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www, counting GETs per path; stopped after the test."""
    root = tmp_path / "www"
    root.mkdir()
    hits: collections.Counter[str] = collections.Counter()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self):
            hits[self.path] += 1
            if self.path == "/truncated":  # promises 100 bytes, sends 10, hangs up
                self.send_response(200)
                self.send_header("Content-Length", "100")
                self.end_headers()
                self.wfile.write(b"0123456789")
                self.close_connection = True
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(root=root, url=f"http://127.0.0.1:{httpd.server_address[1]}", hits=hits)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def serve(server, path: str, data: bytes) -> str:
    """Put ``data`` at ``path`` on the server and return its URL."""
    file = server.root / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(data)
    return f"{server.url}/{path}"


def register(monkeypatch, *files: RemoteFile, name: str = "toy") -> Dataset:
    dataset = Dataset(name=name, description="test data", files=files, source="tests", task="viral")
    monkeypatch.setitem(registry.DATASETS, name, dataset)
    return dataset


# --- downloads -------------------------------------------------------------------------------------------------------


def test_fetch_with_correct_checksum(server, tmp_path, monkeypatch):
    url = serve(server, "toy.csv", TOY)
    register(monkeypatch, RemoteFile("sub/toy.csv", url=url, sha256=sha(TOY)))
    target = tmp_path / "cache"

    paths = registry.fetch("toy", target, progress=False)

    assert paths == [target / "sub" / "toy.csv"]
    assert paths[0].read_bytes() == TOY
    assert files_under(target) == ["sub/toy.csv"]  # no temporaries, no sidecar when the sha is published
    registry.verify(paths[0], sha(TOY))


def test_checksum_mismatch_raises_and_leaves_nothing(server, tmp_path, monkeypatch):
    url = serve(server, "toy.csv", TOY)
    register(monkeypatch, RemoteFile("toy.csv", url=url, sha256="0" * 64))
    target = tmp_path / "cache"

    with pytest.raises(ResgenomeError) as caught:
        registry.fetch("toy", target, progress=False)

    message = str(caught.value)
    assert "toy.csv" in message and "0" * 64 in message and sha(TOY) in message
    assert "\n" not in message
    assert files_under(target) == []


def test_http_404_is_a_clear_error_and_leaves_nothing(server, tmp_path, monkeypatch):
    register(monkeypatch, RemoteFile("toy.csv", url=f"{server.url}/missing.csv", sha256=sha(TOY)))
    target = tmp_path / "cache"

    with pytest.raises(ResgenomeError, match=r"could not download http://127\.0\.0\.1:\d+/missing\.csv: HTTP 404"):
        registry.fetch("toy", target, progress=False)
    assert files_under(target) == []


def test_refused_connection_is_a_clear_error(tmp_path, monkeypatch):
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    register(monkeypatch, RemoteFile("toy.csv", url=f"http://127.0.0.1:{port}/toy.csv"))
    target = tmp_path / "cache"

    with pytest.raises(ResgenomeError, match="could not download"):
        registry.fetch("toy", target, progress=False)
    assert files_under(target) == []


def test_truncated_download_is_rejected(server, tmp_path, monkeypatch):
    register(monkeypatch, RemoteFile("toy.csv", url=f"{server.url}/truncated"))
    target = tmp_path / "cache"

    with pytest.raises(ResgenomeError, match="10 of 100 bytes"):
        registry.fetch("toy", target, progress=False)
    assert files_under(target) == []


def test_present_file_is_not_downloaded_again(server, tmp_path, monkeypatch):
    url = serve(server, "toy.csv", TOY)
    register(monkeypatch, RemoteFile("toy.csv", url=url, sha256=sha(TOY)))
    target = tmp_path / "cache"

    registry.fetch("toy", target, progress=False)
    registry.fetch("toy", target, progress=False)
    assert server.hits["/toy.csv"] == 1

    registry.fetch("toy", target, progress=False, force=True)
    assert server.hits["/toy.csv"] == 2

    (target / "toy.csv").write_bytes(b"damaged")  # a damaged copy is replaced
    registry.fetch("toy", target, progress=False)
    assert server.hits["/toy.csv"] == 3
    assert (target / "toy.csv").read_bytes() == TOY


def test_mirror_env_and_url_override(server, tmp_path, monkeypatch):
    serve(server, "owner/repo/master/toy.csv", TOY)
    other = serve(server, "elsewhere.csv", TOY)
    upstream = registry.GITHUB_RAW + "/owner/repo/master/toy.csv"
    register(monkeypatch, RemoteFile("toy.csv", url=upstream, sha256=sha(TOY)))
    monkeypatch.setenv(registry.MIRROR_ENV, server.url + "/")

    registry.fetch("toy", tmp_path / "a", progress=False)
    assert server.hits["/owner/repo/master/toy.csv"] == 1

    registry.fetch("toy", tmp_path / "b", progress=False, url_override={"toy.csv": other})
    assert server.hits["/elsewhere.csv"] == 1

    with pytest.raises(ResgenomeError, match="not files of 'toy'"):
        registry.fetch("toy", tmp_path / "c", progress=False, url_override={"nope.csv": other})


def test_fetch_defaults_to_data_dir_env(server, tmp_path, monkeypatch):
    url = serve(server, "toy.csv", TOY)
    register(monkeypatch, RemoteFile("toy.csv", url=url, sha256=sha(TOY)))
    monkeypatch.setenv(registry.DATA_DIR_ENV, str(tmp_path / "env"))

    assert registry.fetch("toy", progress=False) == [tmp_path / "env" / "toy.csv"]


def test_dev_datasets_cannot_be_fetched(tmp_path):
    with pytest.raises(ResgenomeError, match="only available in a RESGENOME_DATA_DIR"):
        registry.fetch("viral-devset", tmp_path, progress=False)


# --- files without a published checksum ------------------------------------------------------------------------------

VIRAMINER_PATH = "NeuroCSUT/ViraMiner/master/data/DNA_data/fullset_{}.csv"


def test_viraminer_entry_records_sidecar_sha(server, tmp_path, monkeypatch, capsys):
    for split in ("train", "validation", "test"):
        serve(server, VIRAMINER_PATH.format(split), VIRAL_GOOD)
    monkeypatch.setenv(registry.MIRROR_ENV, server.url)
    target = tmp_path / "cache"

    paths = registry.fetch("viraminer", target)

    assert [path.name for path in paths] == [
        "viraminer_fullset_train.csv",
        "viraminer_fullset_validation.csv",
        "viraminer_fullset_test.csv",
    ]
    for path in paths:
        assert registry.recorded_sha256(path) == sha(VIRAL_GOOD)
        assert Path(str(path) + ".sha256").read_text() == f"{sha(VIRAL_GOOD)}  {path.name}\n"
    assert sha(VIRAL_GOOD) in capsys.readouterr().err  # reported to the user
    assert len(files_under(target)) == 6

    registry.fetch("viraminer", target, progress=False)  # recorded digests match: nothing downloaded
    assert sum(server.hits.values()) == 3

    paths[0].write_bytes(VIRAL_GOOD + b"seq3_exp1,ACGT,1\n")  # changed since download: fetched again
    registry.fetch("viraminer", target, progress=False)
    assert sum(server.hits.values()) == 4
    assert paths[0].read_bytes() == VIRAL_GOOD


def test_viraminer_format_check_rejects_label_2(server, tmp_path, monkeypatch):
    for split in ("train", "validation", "test"):
        serve(server, VIRAMINER_PATH.format(split), VIRAL_BAD)
    monkeypatch.setenv(registry.MIRROR_ENV, server.url)
    target = tmp_path / "cache"

    with pytest.raises(InputError, match=r"fullset_train\.csv line 2: .*label 0 or 1"):
        registry.fetch("viraminer", target, progress=False)
    assert files_under(target) == []


def test_hand_placed_file_without_sidecar_is_checked_and_kept(server, tmp_path, monkeypatch):
    url = serve(server, "viral.csv", VIRAL_GOOD)
    register(monkeypatch, RemoteFile("viral.csv", url=url, check="viraminer-csv"))
    target = tmp_path / "cache"
    target.mkdir()
    (target / "viral.csv").write_bytes(VIRAL_GOOD)

    registry.fetch("toy", target, progress=False)

    assert server.hits["/viral.csv"] == 0
    assert registry.recorded_sha256(target / "viral.csv") == sha(VIRAL_GOOD)


def test_mesc_entry_is_format_checked(server, tmp_path, monkeypatch):
    serve(server, "asntech/improse/master/improse/data/original_data.csv", IMPROSE)
    monkeypatch.setenv(registry.MIRROR_ENV, server.url)

    (path,) = registry.fetch("mesc-khan2019", tmp_path, progress=False)

    assert path == tmp_path / "mesc_khan2019.csv"
    assert registry.recorded_sha256(path) == sha(IMPROSE)


@pytest.mark.parametrize(
    ("check", "data", "error"),
    [
        ("viraminer-csv", b"", "empty"),
        ("viraminer-csv", b"a,ACGU,1\n", "line 1"),
        ("viraminer-csv", b"a,,1\n", "line 1"),
        ("viraminer-csv", b"a,ACGT,1,extra\n", "line 1"),
        ("viraminer-csv", b"<html>Not Found</html>\n", "line 1"),
        ("improse-csv", b"a,b,c\n1,2,3\n", "line 1"),
        ("improse-csv", b"chrom,start,end,Class,x\nchr1,1,2,SE\n", "line 2"),
        ("improse-csv", b"chrom,start,end,Class,x\nchr1,1,2,XX,0\n", "line 2"),
        ("improse-csv", b"chrom,start,end,Class,x\n", "no rows"),
    ],
)
def test_format_checks_reject(tmp_path, check, data, error):
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    with pytest.raises(InputError, match=error):
        registry.check_format(path, check)


def test_format_checks_accept_and_count(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(VIRAL_GOOD.rstrip(b"\n"))  # no final newline
    assert registry.check_format(path, "viraminer-csv") == 2
    path.write_bytes(IMPROSE)
    assert registry.check_format(path, "improse-csv") == 2


# --- lookup ----------------------------------------------------------------------------------------------------------


def test_cache_dir_order(tmp_path, monkeypatch):
    assert registry.cache_dir() == tmp_path / "xdg" / "resgenome"
    monkeypatch.setenv(registry.DATA_DIR_ENV, str(tmp_path / "env"))
    assert registry.cache_dir() == tmp_path / "env"
    assert registry.cache_dir(tmp_path / "explicit") == tmp_path / "explicit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.delenv(registry.DATA_DIR_ENV)
    assert registry.cache_dir() == Path.home() / ".cache" / "resgenome"


def test_data_dir_env_takes_precedence_over_cache(tmp_path, monkeypatch):
    register(monkeypatch, RemoteFile("sub/toy.csv", url="http://127.0.0.1:9/toy.csv"))
    cache = tmp_path / "xdg" / "resgenome"
    env = tmp_path / "env"
    for directory in (cache, env):
        (directory / "sub").mkdir(parents=True)
        (directory / "sub" / "toy.csv").write_bytes(TOY)

    assert registry.locate("toy") == [cache / "sub" / "toy.csv"]
    monkeypatch.setenv(registry.DATA_DIR_ENV, str(env))
    assert registry.locate("toy") == [env / "sub" / "toy.csv"]
    (env / "sub" / "toy.csv").unlink()
    assert registry.locate("toy") == [cache / "sub" / "toy.csv"]
    assert registry.locate("toy", dir=cache) == [cache / "sub" / "toy.csv"]


def test_locate_error_names_dataset_and_suggests_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv(registry.DATA_DIR_ENV, str(tmp_path / "env"))
    with pytest.raises(ResgenomeError) as caught:
        registry.locate("mesc-khan2019")
    message = str(caught.value)
    assert "'mesc-khan2019' not found in" in message
    assert str(tmp_path / "env") in message and str(tmp_path / "xdg" / "resgenome") in message
    assert "run `resgenome data fetch mesc-khan2019`" in message

    with pytest.raises(ResgenomeError, match="only available in a RESGENOME_DATA_DIR holding viral/exp\\*.csv"):
        registry.locate("viral-experiments")
    with pytest.raises(ResgenomeError, match=r"unknown dataset 'nope' \(known: .*viraminer"):
        registry.locate("nope")


def test_locate_needs_every_file(tmp_path):
    (tmp_path / "viral").mkdir()
    (tmp_path / "viral" / "devset_train.csv").write_bytes(VIRAL_GOOD)
    with pytest.raises(ResgenomeError, match="viral-devset"):
        registry.locate("viral-devset", dir=tmp_path)


def test_resolve_data_argument(tmp_path, monkeypatch):
    path = tmp_path / "mine.csv"
    path.write_bytes(VIRAL_GOOD)
    assert registry.resolve_data_argument(str(path)) == [path]

    (tmp_path / "viral").mkdir()
    for name in ("exp1_a.csv", "exp2_b.csv"):
        (tmp_path / "viral" / name).write_bytes(VIRAL_GOOD)
    monkeypatch.setenv(registry.DATA_DIR_ENV, str(tmp_path))
    assert registry.resolve_data_argument("viral-experiments") == [
        tmp_path / "viral" / "exp1_a.csv",
        tmp_path / "viral" / "exp2_b.csv",
    ]

    with pytest.raises(ResgenomeError, match=r"^no/such\.csv: no such file, and not a dataset name \(known: .*\)$"):
        registry.resolve_data_argument("no/such.csv")


def test_describe_rows(tmp_path, monkeypatch):
    (tmp_path / "superenhancers").mkdir()
    (tmp_path / "superenhancers" / "mesc_khan2019_dev.csv").write_bytes(IMPROSE)
    monkeypatch.setenv(registry.DATA_DIR_ENV, str(tmp_path))

    rows = {row["name"]: row for row in registry.describe()}

    assert set(rows) == set(registry.DATASETS)
    assert rows["mesc-khan2019-dev"]["present"] and rows["mesc-khan2019-dev"]["where"] == str(tmp_path)
    assert not rows["viraminer"]["present"] and rows["viraminer"]["downloadable"]
    assert rows["viraminer"]["task"] == "viral" and "ViraMiner" in rows["viraminer"]["source"]


def test_registry_entries_are_well_formed():
    for name, dataset in registry.DATASETS.items():
        assert name == dataset.name
        for remote in dataset.files:
            assert remote.sha256 is not None or remote.check is not None, remote.filename
    assert [remote.url for remote in registry.DATASETS["viraminer"].files] == [
        f"https://raw.githubusercontent.com/NeuroCSUT/ViraMiner/master/data/DNA_data/fullset_{split}.csv"
        for split in ("train", "validation", "test")
    ]
    with pytest.raises(ValueError):
        RemoteFile("../escape.csv")
    with pytest.raises(ValueError):
        RemoteFile("/abs.csv")
    with pytest.raises(ValueError):
        RemoteFile("x.csv", url="http://x", sha256="abc")


def test_verify(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(TOY)
    registry.verify(path, sha(TOY))
    with pytest.raises(ResgenomeError, match="checksum mismatch"):
        registry.verify(path, "1" * 64)
    with pytest.raises(ResgenomeError, match="no such file"):
        registry.verify(tmp_path / "absent", sha(TOY))


# --- the shared development data -------------------------------------------------------------------------------------

needs_shared = pytest.mark.skipif(
    not SHARED_DATA or not Path(SHARED_DATA).is_dir(), reason="RESGENOME_DATA_DIR not set to the shared data"
)


@needs_shared
def test_locate_finds_shared_dev_data(monkeypatch):
    shared = Path(SHARED_DATA)
    monkeypatch.setenv(registry.DATA_DIR_ENV, str(shared))

    (mesc,) = registry.locate("mesc-khan2019-dev")
    assert mesc == shared / "superenhancers" / "mesc_khan2019_dev.csv"
    assert registry.check_format(mesc, "improse-csv") == 8878

    devset = registry.locate("viral-devset")
    assert devset == [shared / "viral" / f"devset_{split}.csv" for split in ("train", "validation", "test")]
    assert [registry.check_format(path, "viraminer-csv") for path in devset] == [18908, 2364, 2364]

    experiments = registry.locate("viral-experiments")
    assert len(experiments) == 6 and all(path.name.startswith("exp") for path in experiments)

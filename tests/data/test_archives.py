"""Fetching archives: HTTP (a real server on 127.0.0.1), file:// URLs, zip, hard links, subfolders."""

from __future__ import annotations

import functools
import http.server
import threading
import zipfile

import pytest

from bertclf.archive import extract_safely, fetch_archive
from bertclf.config import DataConfig
from bertclf.data import load_data
from bertclf.errors import DataError
from conftest import synthetic_texts, tar_bytes

TOY = {f"toy/train/{label}/{i}.txt": text for label in ("neg", "pos")
       for i, text in enumerate(synthetic_texts(label, 6))}


class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802  (http.server's naming)
        type(self).requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def http_server(tmp_path):
    """Serves tmp_path/www on a free port of 127.0.0.1; yields (base URL, request log)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = type("Handler", (_CountingHandler,), {"requests": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    # A short poll: shutdown() waits out serve_forever's poll (0.5 s by default) in every test.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.requests, root
    finally:
        server.shutdown()
        server.server_close()


def test_http_download_is_fetched_and_unpacked_once(http_server):
    base, requests, root = http_server
    (root / "toy_v1.tar.gz").write_bytes(tar_bytes(TOY))
    config = DataConfig(archive_url=f"{base}/toy_v1.tar.gz", archive_subdir="toy", validation_split=0.25)
    data = load_data(config, seed=0)
    assert data.class_names == ["neg", "pos"] and len(data.train) + len(data.validation) == 12
    load_data(config, seed=0)
    assert requests == ["/toy_v1.tar.gz"]  # the second run reads the cache


def test_http_errors_are_one_line_with_the_fix(http_server):
    base, _, _ = http_server
    with pytest.raises(DataError, match=r"^data.archive_url: could not download .*/missing_v1.tar.gz \(HTTP 404 "
                                        r"File not found\)$"):
        fetch_archive(f"{base}/missing_v1.tar.gz")
    # Nothing listens on port 9 (discard) of 127.0.0.1: a network failure, so the data root is suggested.
    with pytest.raises(DataError, match=r"offline\? put the file at .*gone_v1.tar.gz \(or point BERTCLF_DATA at a "
                                        r"folder that has it\)"):
        fetch_archive("http://127.0.0.1:9/gone_v1.tar.gz")


def test_file_url(tmp_path):
    archive = tmp_path / "local_v1.tar.gz"
    archive.write_bytes(tar_bytes(TOY))
    unpacked = fetch_archive(archive.as_uri())
    assert (unpacked / "toy" / "train" / "pos" / "0.txt").read_text(encoding="utf-8") == TOY["toy/train/pos/0.txt"]
    with pytest.raises(DataError, match="absent_v1.tar.gz not found"):
        fetch_archive((tmp_path / "absent_v1.tar.gz").as_uri())


def test_zip_archive_and_an_escaping_zip_member(tmp_path):
    good = tmp_path / "toy.zip"
    with zipfile.ZipFile(good, "w") as bundle:
        for name, text in TOY.items():
            bundle.writestr(name, text)
    data = load_data(DataConfig(archive_url=good.as_uri(), archive_subdir="toy", validation_split=0.25), seed=0)
    assert sorted(data.train.texts + data.validation.texts) == sorted(TOY.values())
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as bundle:
        bundle.writestr("fine.txt", "a")
        bundle.writestr("../escape.txt", "pwned")
    with pytest.raises(DataError, match="refusing member '../escape.txt'"):
        extract_safely(evil, tmp_path / "target")
    assert not (tmp_path / "escape.txt").exists()


def test_hard_links_inside_are_kept_and_outside_refused(tmp_path):
    inside = tmp_path / "inside.tar.gz"
    inside.write_bytes(tar_bytes({"d/a.txt": "shared text"}, links={"d/b.txt": "d/a.txt"}))
    extract_safely(inside, tmp_path / "ok")
    assert (tmp_path / "ok" / "d" / "b.txt").read_text() == "shared text"
    outside = tmp_path / "outside.tar.gz"
    outside.write_bytes(tar_bytes({"d/a.txt": "x"}, links={"d/passwd": "../../../etc/passwd"}))
    with pytest.raises(DataError, match="refusing link 'd/passwd'"):
        extract_safely(outside, tmp_path / "refused")
    assert not (tmp_path / "refused" / "d" / "passwd").exists()


def test_missing_archive_subdir_names_what_the_archive_has(tmp_path):
    archive = tmp_path / "sub_v1.tar.gz"
    archive.write_bytes(tar_bytes(TOY))
    with pytest.raises(DataError, match=r"data.archive_subdir: the archive has no folder 'aclImdb'; "
                                        r"its top-level folders: toy"):
        load_data(DataConfig(archive_url=archive.as_uri(), archive_subdir="aclImdb"), seed=0)


def test_a_link_already_in_the_target_folder_is_not_followed_out(tmp_path):
    # Into an empty folder members are checked by their paths alone; a folder that already
    # holds a link to elsewhere must not let a member through it (zip extraction has no
    # filter of its own that would catch it).
    bundle_path = tmp_path / "through.zip"
    with zipfile.ZipFile(bundle_path, "w") as bundle:
        bundle.writestr("d/x.txt", "pwned")
    (tmp_path / "outside").mkdir()
    target = tmp_path / "target"
    target.mkdir()
    (target / "d").symlink_to(tmp_path / "outside")
    with pytest.raises(DataError, match="refusing member 'd/x.txt'"):
        extract_safely(bundle_path, target)
    assert not (tmp_path / "outside" / "x.txt").exists()

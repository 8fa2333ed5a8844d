"""The data root: `${BERTCLF_DATA}/...` paths in configs, files fetched from their source with a
checksum, one line for a file that is missing and has none, and archives found in the root."""

from __future__ import annotations

import hashlib
import http.server
import threading

import pytest

from bertclf.config import DataConfig
from bertclf.data import load_data
from bertclf.errors import DataError
from conftest import tar_bytes, write_config

ROWS = "text\tlabel\n" + "".join(f"{word} film\t{label}\n" for word, label in
                                 [("good", 1), ("bad", 0), ("fine", 1), ("awful", 0)] * 3)


@pytest.fixture()
def served(tmp_path):
    """A file server on 127.0.0.1 over tmp_path/served; yields (base URL, requested paths)."""
    folder = tmp_path / "served"
    folder.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll: shutdown() waits out serve_forever's poll (0.5 s by default).
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder, requests
    finally:
        server.shutdown()
        server.server_close()


def _config(url: str, checksum: str) -> DataConfig:
    return DataConfig(format="tsv", train_path="${BERTCLF_DATA}/toy/train.tsv",
                      sources={"toy/train.tsv": {"url": url, "checksum": checksum}}, validation_split=0.25)


def test_a_missing_root_file_is_downloaded_once_and_checked(served, tmp_path, monkeypatch):
    base, folder, requests = served
    (folder / "train.tsv").write_text(ROWS, encoding="utf-8")
    monkeypatch.setenv("BERTCLF_DATA", str(tmp_path / "root"))
    checksum = "sha256:" + hashlib.sha256(ROWS.encode()).hexdigest()
    data = load_data(_config(f"{base}/train.tsv", checksum), seed=0)
    assert len(data.train) + len(data.validation) == 12
    assert (tmp_path / "root" / "toy" / "train.tsv").read_text(encoding="utf-8") == ROWS
    load_data(_config(f"{base}/train.tsv", checksum), seed=0)
    assert requests == ["/train.tsv"]  # the second run reads the root


def test_a_download_that_does_not_match_its_checksum_is_one_line_and_kept_nowhere(served, tmp_path, monkeypatch):
    base, folder, _ = served
    (folder / "train.tsv").write_text(ROWS, encoding="utf-8")
    monkeypatch.setenv("BERTCLF_DATA", str(tmp_path / "root"))
    with pytest.raises(DataError, match=r"^data.train_path: .*/train.tsv: the download's md5 is [0-9a-f]{32}, the "
                                        r"config says 0{32}; the file changed upstream"):
        load_data(_config(f"{base}/train.tsv", "md5:" + "0" * 32), seed=0)
    assert not list((tmp_path / "root").rglob("*train.tsv*"))


def test_a_missing_root_file_without_a_source_names_the_file_and_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("BERTCLF_DATA", str(tmp_path / "root"))
    with pytest.raises(DataError, match=rf"^data.train_path: {tmp_path}/root/sst2/train.tsv not found "
                                        rf"\(\${{BERTCLF_DATA}} is {tmp_path}/root\); set BERTCLF_DATA to the "
                                        rf"folder holding sst2/train.tsv, or put the file there$"):
        load_data(DataConfig(format="tsv", train_path="${BERTCLF_DATA}/sst2/train.tsv"), seed=0)


def test_root_paths_stay_as_written_in_the_config_and_sources_must_be_read(tmp_path):
    from bertclf.config import dump_config, load_config
    from bertclf.errors import ConfigError

    config = load_config(write_config(tmp_path / "c.yaml", "data:\n  format: tsv\n  train_path: ${BERTCLF_DATA}/a.tsv\n"
                                                           "model: {encoder: tiny}\n"))
    assert config.data.train_path == "${BERTCLF_DATA}/a.tsv" and "${BERTCLF_DATA}/a.tsv" in dump_config(config)
    with pytest.raises(ConfigError, match=r"data.sources.b.tsv: no data path of this config reads "
                                          r"\$\{BERTCLF_DATA\}/b.tsv"):
        load_config(write_config(tmp_path / "d.yaml", "data: {format: tsv, train_path: '${BERTCLF_DATA}/a.tsv', "
                                                      "sources: {b.tsv: {url: 'https://x/b.tsv'}}}\n"
                                                      "model: {encoder: tiny}\n"))
    # A source follows its path: `--set data.test_path=null` drops the test file's source with it.
    sourced = write_config(tmp_path / "s.yaml", "data: {format: tsv, train_path: '${BERTCLF_DATA}/a.tsv', "
                                                "test_path: '${BERTCLF_DATA}/b.tsv', sources: {a.tsv: {url: "
                                                "'https://x/a.tsv'}, b.tsv: {url: 'https://x/b.tsv'}}}\n"
                                                "model: {encoder: tiny}\n")
    assert set(load_config(sourced, ["data.test_path=null"]).data.sources) == {"a.tsv"}
    assert set(load_config(sourced, ["data.test_path=${BERTCLF_DATA}/c.tsv"]).data.sources) == {"a.tsv"}
    assert set(load_config(sourced).data.sources) == {"a.tsv", "b.tsv"}
    with pytest.raises(ConfigError, match=r"is not sha256:<64 hex digits> or md5:<32 hex digits>"):
        load_config(write_config(tmp_path / "e.yaml", "data: {format: tsv, train_path: '${BERTCLF_DATA}/a.tsv', "
                                                      "sources: {a.tsv: {url: 'https://x/a.tsv', checksum: abc}}}\n"
                                                      "model: {encoder: tiny}\n"))


def test_an_archive_in_the_data_root_is_used_without_the_network(tmp_path, monkeypatch):
    from bertclf.archive import fetch_archive

    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "rooted_v1.tar.gz").write_bytes(tar_bytes({"r/train/pos/0.txt": "good"}))
    monkeypatch.setenv("BERTCLF_DATA", str(tmp_path / "root"))
    # Port 9 of 127.0.0.1 answers nothing: the archive can only have come from the root.
    unpacked = fetch_archive("http://127.0.0.1:9/rooted_v1.tar.gz")
    assert (unpacked / "r" / "train" / "pos" / "0.txt").read_text() == "good"


def _zip_bytes(members: dict[str, str]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, text in members.items():
            bundle.writestr(name, text)
    return buffer.getvalue()


def test_files_of_a_zip_archive_are_extracted_and_the_archive_downloaded_once(served, tmp_path, monkeypatch):
    # As configs/sst2.yaml takes GLUE's train.tsv and dev.tsv from its SST-2.zip.
    base, folder, requests = served
    dev = "text\tlabel\n" + "".join(f"{word} one\t{label}\n" for word, label in [("nice", 1), ("poor", 0)] * 2)
    payload = _zip_bytes({"TOY/train.tsv": ROWS, "TOY/dev.tsv": dev, "TOY/test.tsv": "text\n"})
    (folder / "TOY.zip").write_bytes(payload)
    monkeypatch.setenv("BERTCLF_DATA", str(tmp_path / "root"))
    source = {"url": f"{base}/TOY.zip", "checksum": "md5:" + hashlib.md5(payload).hexdigest()}
    config = DataConfig(format="tsv", train_path="${BERTCLF_DATA}/toy/train.tsv",
                        validation_path="${BERTCLF_DATA}/toy/dev.tsv",
                        sources={"toy/train.tsv": {**source, "member": "TOY/train.tsv"},
                                 "toy/dev.tsv": {**source, "member": "TOY/dev.tsv"}})
    data = load_data(config, seed=0)
    assert (len(data.train), len(data.validation)) == (12, 4)
    assert (tmp_path / "root" / "toy" / "train.tsv").read_text(encoding="utf-8") == ROWS
    assert (tmp_path / "root" / "toy" / "dev.tsv").read_text(encoding="utf-8") == dev
    assert requests == ["/TOY.zip"]  # one download for both members
    assert sorted(path.name for path in (tmp_path / "root" / "toy").iterdir()) == ["TOY.zip", "dev.tsv", "train.tsv"]


def test_a_zip_without_the_member_or_not_a_zip_is_one_line_and_leaves_no_file(served, tmp_path, monkeypatch):
    from bertclf.config import load_config
    from bertclf.errors import ConfigError

    base, folder, _ = served
    (folder / "TOY.zip").write_bytes(_zip_bytes({"TOY/train.tsv": ROWS}))
    (folder / "NOT.zip").write_bytes(b"this is not a zip archive")
    monkeypatch.setenv("BERTCLF_DATA", str(tmp_path / "root"))

    def config(archive: str, member: str) -> DataConfig:
        return DataConfig(format="tsv", train_path="${BERTCLF_DATA}/toy/train.tsv", validation_split=0.25,
                          sources={"toy/train.tsv": {"url": f"{base}/{archive}", "member": member}})

    with pytest.raises(DataError, match=rf"^data.train_path: {tmp_path}/root/toy/TOY.zip has no member "
                                        r"TOY/dev.tsv \(it has TOY/train.tsv\); fix the member in data.sources$"):
        load_data(config("TOY.zip", "TOY/dev.tsv"), seed=0)
    with pytest.raises(DataError, match=rf"^data.train_path: {tmp_path}/root/toy/NOT.zip is not a zip file; "
                                        r"delete it and run again"):
        load_data(config("NOT.zip", "TOY/train.tsv"), seed=0)
    assert not list((tmp_path / "root").rglob("*train.tsv*"))
    with pytest.raises(ConfigError, match=r"'\.\./x.tsv' is not a path inside the archive"):
        load_config(write_config(tmp_path / "m.yaml", "data: {format: tsv, train_path: '${BERTCLF_DATA}/a.tsv', "
                                                      "sources: {a.tsv: {url: 'https://x/a.zip', member: ../x.tsv}}}\n"
                                                      "model: {encoder: tiny}\n"))

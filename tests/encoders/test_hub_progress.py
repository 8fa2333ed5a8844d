"""A TF Hub handle downloaded on first use shows its progress; a cached one loads without a word."""

from __future__ import annotations

import http.server
import io
import tarfile
import threading
from pathlib import Path

from bertclf.encoders import load_saved_model


def _serve_tarball(folder: Path) -> tuple[http.server.HTTPServer, str]:
    """A local stand-in for tfhub.dev: any path answers with `folder` as a .tar.gz (TF Hub's
    compressed format, which tensorflow_hub asks for with ?tf-hub-format=compressed)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    body = buffer.getvalue()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802  (the http.server name)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    # A short poll: shutdown() waits out serve_forever's poll (0.5 s by default).
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}/models/tiny/1"


def test_a_hub_download_shows_its_progress_once(tiny_encoder_dir, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "hub-cache"))
    server, handle = _serve_tarball(tiny_encoder_dir / "encoder")
    try:
        capfd.readouterr()
        loaded = load_saved_model(handle)
        lines = [line for line in capfd.readouterr().err.splitlines() if line.startswith("TF Hub: ")]
        assert any(f"Downloading TF-Hub Module '{handle}'" in line for line in lines), lines
        assert any(line.startswith("TF Hub: Downloaded") and "Total size" in line for line in lines), lines
        assert loaded.signatures or hasattr(loaded, "variables")
        load_saved_model(handle)  # from TF Hub's cache now
        assert "TF Hub: " not in capfd.readouterr().err
    finally:
        server.shutdown()

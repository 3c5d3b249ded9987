"""--download: resume with HTTP range requests, checksum checks, a clear failure when offline (no network used)."""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading
import time

import pytest

from pipeline.sources.zenodo import DownloadError, RemoteFile, download_file, download_ravdess, record_files

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB


class _Handler(http.server.BaseHTTPRequestHandler):
    ranges: list = []
    cut_after: int | None = None

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):  # noqa: N802 - http.server API
        if self.path.startswith("/api"):
            body = json.dumps({"files": [{"key": "Video_Speech_Actor_01.zip", "size": len(PAYLOAD),
                                          "checksum": "md5:" + hashlib.md5(PAYLOAD).hexdigest()}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        start = 0
        rng = self.headers.get("Range")
        type(self).ranges.append(rng)
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if type(self).cut_after is not None:
            self.wfile.write(body[: type(self).cut_after])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


@pytest.fixture()
def server():
    _Handler.ranges = []
    _Handler.cut_after = None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_resume_after_a_cut_connection_and_md5(server, tmp_path):
    remote = RemoteFile("Video_Speech_Actor_01.zip", f"{server}/f", len(PAYLOAD), hashlib.md5(PAYLOAD).hexdigest())
    _Handler.cut_after = 300_000
    with pytest.raises(DownloadError, match="rerun to resume"):
        download_file(remote, tmp_path / remote.name, timeout=5)
    part = tmp_path / (remote.name + ".part")
    assert 0 < part.stat().st_size < len(PAYLOAD) and not (tmp_path / remote.name).exists()
    _Handler.cut_after = None
    path = download_file(remote, tmp_path / remote.name, timeout=5)
    assert path.read_bytes() == PAYLOAD and not part.exists()
    assert _Handler.ranges[-1] == f"bytes={300_000}-"


def test_checksum_mismatch_removes_the_partial_file(server, tmp_path):
    remote = RemoteFile("Video_Speech_Actor_01.zip", f"{server}/f", len(PAYLOAD), "0" * 32)
    with pytest.raises(DownloadError, match="md5"):
        download_file(remote, tmp_path / remote.name, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_record_api_and_download(server, tmp_path):
    files = record_files(f"{server}/api", f"{server}/files/{{name}}", timeout=5)
    assert files["Video_Speech_Actor_01.zip"].md5 == hashlib.md5(PAYLOAD).hexdigest()
    paths = download_ravdess(tmp_path, [1], api_url=f"{server}/api", file_url=f"{server}/files/{{name}}", timeout=5)
    assert paths[0].read_bytes() == PAYLOAD


def test_offline_fails_at_once_with_a_clear_message(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    with pytest.raises(DownloadError, match="looks offline"):
        download_ravdess(tmp_path, [1], api_url=f"http://127.0.0.1:{port}/api", file_url=f"http://127.0.0.1:{port}/{{name}}", timeout=3)
    assert time.perf_counter() - t0 < 3
    assert list(tmp_path.iterdir()) == []

"""``--download``: fetch the RAVDESS audio-video speech archives from Zenodo record 1188976.

Each ``Video_Speech_Actor_XX.zip`` is downloaded to ``<root>/<name>.part`` with HTTP range
requests (an interrupted download resumes where it stopped), checked against the md5 and
size that the Zenodo record API lists, then renamed into place. When the machine is offline
the first request fails within ``timeout`` seconds with one clear message; nothing is retried
silently and no partial file is renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from emoface.utils.atomic import fsync_dir

__all__ = [
    "RECORD_ID",
    "API_URL",
    "FILE_URL",
    "DownloadError",
    "RemoteFile",
    "record_files",
    "download_file",
    "download_ravdess",
]

RECORD_ID = "1188976"
API_URL = f"https://zenodo.org/api/records/{RECORD_ID}"
FILE_URL = f"https://zenodo.org/records/{RECORD_ID}/files/{{name}}?download=1"
_USER_AGENT = "emoface3d-build-dataset/0.1 (+https://zenodo.org/records/1188976)"


class DownloadError(RuntimeError):
    """A download that failed (offline, HTTP error, checksum mismatch); the message says what to do."""


@dataclass(frozen=True)
class RemoteFile:
    name: str
    url: str
    size: int | None = None
    md5: str | None = None


def archive_name(actor: int) -> str:
    return f"Video_Speech_Actor_{actor:02d}.zip"


def _open(url: str, timeout: float, start: int = 0):
    req = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    if start > 0:
        req.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 - https/http URLs only


def _offline(url: str, exc: BaseException) -> DownloadError:
    why = getattr(exc, "reason", exc)
    return DownloadError(
        f"cannot reach {url.split('?')[0]} ({why}): the machine looks offline. Download the "
        f"Video_Speech_Actor_XX.zip files of Zenodo record {RECORD_ID} by hand into --root and rerun without --download"
    )


def record_files(api_url: str = API_URL, file_url: str = FILE_URL, timeout: float = 15.0) -> dict[str, RemoteFile]:
    """The record's files with their size and md5, from the Zenodo records API.

    Raises :class:`DownloadError` at once when the host cannot be reached.
    """
    try:
        with _open(api_url, timeout) as resp:
            data = json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{api_url}: the Zenodo API answered HTTP {exc.code}") from exc
    except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as exc:
        raise _offline(api_url, exc) from exc
    except json.JSONDecodeError as exc:
        raise DownloadError(f"{api_url}: the Zenodo API answer is not JSON") from exc
    files = data.get("files", [])
    if isinstance(files, dict):  # older API shape: {"entries": {...}}
        files = list(files.get("entries", {}).values())
    out: dict[str, RemoteFile] = {}
    for f in files:
        name = f.get("key") or f.get("filename")
        if not name:
            continue
        checksum = str(f.get("checksum", ""))
        md5 = checksum.split(":", 1)[1] if checksum.startswith("md5:") else None
        size = f.get("size", f.get("filesize"))
        out[name] = RemoteFile(name, file_url.format(name=name), int(size) if size is not None else None, md5)
    return out


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def download_file(
    remote: RemoteFile,
    dest: str | Path,
    timeout: float = 30.0,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download ``remote`` to ``dest`` with resume (``dest.part``) and size/md5 checks.

    A complete ``dest`` whose size matches is kept (its md5 is checked when known).
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    if dest.is_file() and (remote.size is None or dest.stat().st_size == remote.size):
        if remote.md5 is None or _md5(dest) == remote.md5:
            return dest
        dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    start = part.stat().st_size if part.is_file() else 0
    if remote.size is not None and start > remote.size:
        part.unlink()
        start = 0
    if remote.size is None or start < remote.size:
        try:
            resp = _open(remote.url, timeout, start)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and start > 0:  # the part file is already complete
                resp = None
            else:
                raise DownloadError(f"{remote.url}: HTTP {exc.code} {exc.reason}") from exc
        except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as exc:
            raise _offline(remote.url, exc) from exc
        if resp is not None:
            with resp:
                status = getattr(resp, "status", 200)
                mode = "ab" if (status == 206 and start > 0) else "wb"
                done = start if mode == "ab" else 0
                try:
                    with open(part, mode) as fh:
                        while block := resp.read(1 << 20):
                            fh.write(block)
                            done += len(block)
                            if progress:
                                progress(done, remote.size)
                        fh.flush()
                        os.fsync(fh.fileno())
                except (socket.timeout, ConnectionError, OSError) as exc:
                    raise DownloadError(f"{remote.url}: connection lost after {done} bytes ({exc}); rerun to resume") from exc
    size = part.stat().st_size
    if remote.size is not None and size != remote.size:
        raise DownloadError(f"{dest.name}: got {size} bytes, expected {remote.size}; rerun to resume")
    if remote.md5 is not None:
        got = _md5(part)
        if got != remote.md5:
            part.unlink()
            raise DownloadError(f"{dest.name}: md5 {got} does not match the record's {remote.md5}; the partial file was removed, rerun")
    os.replace(part, dest)
    fsync_dir(dest.parent)
    return dest


def download_ravdess(
    root: str | Path,
    actors: Iterable[int] | None = None,
    api_url: str = API_URL,
    file_url: str = FILE_URL,
    timeout: float = 30.0,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> list[Path]:
    """Download ``Video_Speech_Actor_XX.zip`` for ``actors`` (default 1-24) into ``root``."""
    root = Path(root)
    actors = list(actors) if actors is not None else list(range(1, 25))
    files = record_files(api_url, file_url, timeout=min(timeout, 15.0))
    paths = []
    for actor in actors:
        name = archive_name(actor)
        remote = files.get(name)
        if remote is None:
            raise DownloadError(f"{api_url}: the record lists no {name}")
        cb = (lambda done, total, _n=name: progress(_n, done, total)) if progress else None
        paths.append(download_file(remote, root / name, timeout=timeout, progress=cb))
    return paths

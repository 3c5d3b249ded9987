"""Discovery of RAVDESS layouts, safe archive extraction and the manifest."""

from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path

import pytest

from pipeline.sources import ravdess as src
from pipeline.sources.archives import safe_extract
from pipeline.sources.ravdess import Manifest, ManifestError, parse_actors, prepare_ravdess


def _touch(path: Path, data: bytes = b"not really a video") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _zip(path: Path, members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def test_actor_folders_flat_files_and_filters(tmp_path):
    root = tmp_path / "ravdess"
    _touch(root / "Actor_01" / "01-01-03-02-01-01-01.mp4", b"a")
    _touch(root / "Actor_01" / "02-01-03-02-01-01-01.mp4", b"video only")
    _touch(root / "Actor_01" / "01-02-03-02-01-01-01.mp4", b"song")
    _touch(root / "Actor_02" / "01-01-01-01-01-01-02.mp4", b"b")
    _touch(root / "01-01-05-02-02-02-07.mp4", b"flat")
    _touch(root / "03-01-05-02-02-02-07.wav", b"audio only")
    _touch(root / "README.txt", b"readme")
    _touch(root / "Actor_02" / "not-a-ravdess-name.mp4", b"x")
    _touch(root / "Actor_02" / "01-01-01-01-01-01-03.mp4", b"wrong folder")
    _touch(root / "Actor_02" / "01-01-01-02-01-01-02.mp4", b"neutral strong")
    out = tmp_path / "out"

    m = prepare_ravdess(root, out)
    assert [c.clip_id for c in m.clips] == ["01-01-01-01-01-01-02", "01-01-03-02-01-01-01", "01-01-05-02-02-02-07"]
    assert m.clips[1].actor == 1 and m.clips[1].intensity == 2 and m.clips[1].subject == "Actor_01"
    reasons = {Path(s.path).name: (s.kind, s.reason) for s in m.skipped}
    assert reasons["02-01-03-02-01-01-01.mp4"] == ("filtered", "not an audio-video speech clip (modality 02)")
    assert reasons["01-02-03-02-01-01-01.mp4"][0] == "filtered" and "song" in reasons["01-02-03-02-01-01-01.mp4"][1]
    assert reasons["03-01-05-02-02-02-07.wav"][0] == "filtered"
    assert reasons["README.txt"] == ("filtered", "not a video file")
    assert reasons["not-a-ravdess-name.mp4"][0] == "bad" and "not a RAVDESS name" in reasons["not-a-ravdess-name.mp4"][1]
    assert reasons["01-01-01-01-01-01-03.mp4"] == ("bad", "actor 03 in folder Actor_02")
    assert reasons["01-01-01-02-01-01-02.mp4"][0] == "bad" and "neutral has no strong" in reasons["01-01-01-02-01-01-02.mp4"][1]
    # the manifest on disk round-trips and validates
    again = Manifest.read(out / "manifest.json")
    assert again.clips == m.clips and again.sha256() == m.sha256()

    only = prepare_ravdess(root, None, actors="2,7")
    assert [c.actor for c in only.clips] == [2, 7]


def test_manifest_validation_rejects_bad_records(tmp_path):
    root = tmp_path / "r"
    _touch(root / "Actor_01" / "01-01-03-02-01-01-01.mp4", b"a")
    data = prepare_ravdess(root).to_dict()
    data["clips"][0]["emotion"] = 4
    with pytest.raises(ManifestError, match="disagree"):
        Manifest.from_dict(json.loads(json.dumps(data)))
    data = prepare_ravdess(root).to_dict()
    data["clips"][0]["sha256"] = "0" * 64
    with pytest.raises(ManifestError, match="sha256 does not match"):
        Manifest.from_dict(data)


def test_zero_byte_and_unreadable_entries_are_bad_inputs(tmp_path, monkeypatch):
    root = tmp_path / "r"
    _touch(root / "Actor_01" / "01-01-03-02-01-01-01.mp4", b"")
    locked = _touch(root / "Actor_01" / "01-01-03-02-01-02-01.mp4", b"locked")
    os.symlink(root / "missing.mp4", root / "Actor_01" / "01-01-03-02-02-01-01.mp4")
    locked.chmod(0)
    if os.geteuid() == 0:  # root reads any file: make the read fail the way it does for a normal user
        real = src.file_sha256

        def deny(path, *a, **k):
            if Path(path) == locked:
                raise PermissionError(13, "Permission denied", str(path))
            return real(path, *a, **k)

        monkeypatch.setattr(src, "file_sha256", deny)
    m = prepare_ravdess(root)
    assert m.clips == []
    reasons = {Path(s.path).name: (s.kind, s.reason) for s in m.skipped}
    assert reasons["01-01-03-02-01-01-01.mp4"] == ("bad", "zero-byte file")
    assert reasons["01-01-03-02-01-02-01.mp4"] == ("bad", "unreadable: Permission denied")
    assert reasons["01-01-03-02-02-01-01.mp4"][0] == "bad" and "broken link" in reasons["01-01-03-02-02-01-01.mp4"][1]
    locked.chmod(0o644)


def test_hash_cache_avoids_rereading(tmp_path, monkeypatch):
    root = tmp_path / "r"
    _touch(root / "Actor_01" / "01-01-03-02-01-01-01.mp4", b"a" * 1000)
    first = prepare_ravdess(root, tmp_path / "out")
    calls = []
    monkeypatch.setattr(src, "file_sha256", lambda p, *a, **k: calls.append(p) or "f" * 64)
    second = prepare_ravdess(root, tmp_path / "out")
    assert calls == [] and second.clips == first.clips
    os.utime(root / "Actor_01" / "01-01-03-02-01-01-01.mp4", ns=(1, 1))  # touched: hashed again
    third = prepare_ravdess(root, tmp_path / "out")
    assert len(calls) == 1 and third.clips[0].sha256 == "f" * 64


def test_zenodo_archives_are_extracted_safely(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    _zip(root / "Video_Speech_Actor_03.zip", {
        "Actor_03/01-01-02-01-01-01-03.mp4": b"av speech",
        "Actor_03/02-01-02-01-01-01-03.mp4": b"video only: not extracted",
        "../escape.mp4": b"evil",
        "/abs/01-01-02-01-01-02-03.mp4": b"evil",
    }, symlinks={"Actor_03/01-01-02-01-02-01-03.mp4": "/etc/passwd"})
    _zip(root / "Video_Speech_Actor_04.zip", {"Actor_04/01-01-02-01-01-01-04.mp4": b"four"})
    _touch(root / "Video_Speech_Actor_05.zip", b"this is no zip")
    m = prepare_ravdess(root, tmp_path / "out", actors="3,5")
    assert [c.clip_id for c in m.clips] == ["01-01-02-01-01-01-03"]
    assert (root / "Actor_03" / "01-01-02-01-01-01-03.mp4").read_bytes() == b"av speech"
    assert not (root / "Actor_03" / "02-01-02-01-01-01-03.mp4").exists()
    assert not (tmp_path / "escape.mp4").exists() and not (root / "Actor_04").exists()
    assert not (root / "Actor_03" / "01-01-02-01-02-01-03.mp4").exists()
    bad = {s.path.split("!")[-1]: s.reason for s in m.skipped if s.kind == "bad"}
    assert "escapes the target folder" in bad["../escape.mp4"]
    assert "absolute path" in bad["/abs/01-01-02-01-01-02-03.mp4"]
    assert bad["Actor_03/01-01-02-01-02-01-03.mp4"] == "symbolic link member refused"
    assert "not a readable zip archive" in bad[str(root / "Video_Speech_Actor_05.zip")]
    # a second run finds the member present and does not extract it again
    before = (root / "Actor_03" / "01-01-02-01-01-01-03.mp4").stat().st_mtime_ns
    prepare_ravdess(root, tmp_path / "out", actors="3")
    assert (root / "Actor_03" / "01-01-02-01-01-01-03.mp4").stat().st_mtime_ns == before


def test_extract_limits(tmp_path):
    arc = _zip(tmp_path / "bomb.zip", {"Actor_01/01-01-02-01-01-01-01.mp4": b"\0" * 200_000}, None)
    with zipfile.ZipFile(arc, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("Actor_01/01-01-02-01-01-01-01.mp4", b"\0" * 200_000)
    report = safe_extract(arc, tmp_path / "t", max_ratio=50)
    assert report.extracted == [] and "compression ratio" in report.rejected[0][1]
    report = safe_extract(arc, tmp_path / "t", max_member_bytes=1000)
    assert "too large" in report.rejected[0][1]


def test_parse_actors():
    assert parse_actors("1-3,7") == [1, 2, 3, 7]
    assert parse_actors([4, 2, 2]) == [2, 4]
    assert parse_actors(None) is None
    with pytest.raises(ValueError, match="1-24"):
        parse_actors("20-25")
    with pytest.raises(ValueError, match="cannot read"):
        parse_actors("a-b")

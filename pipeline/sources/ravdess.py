"""RAVDESS discovery: find the audio-video speech clips in a folder and describe them in a manifest.

``prepare_ravdess(root, out)`` accepts the layouts users actually have:

- the Zenodo layout, ``root/Actor_XX/*.mp4`` (as unpacked from ``Video_Speech_Actor_XX.zip``);
- the Zenodo archives themselves, ``root/Video_Speech_Actor_XX.zip``, extracted safely (see
  :func:`safe_extract`) beside the archive, or under ``out/sources`` when ``root`` is read-only;
- a flat folder of ``*.mp4`` files named like RAVDESS.

Names are parsed only with :func:`emoface.data.ravdess.parse_name`. Full audio-video speech
trials (modality 01, vocal channel 01) are kept; every other entry is reported with the reason
it was left out. ``kind="filtered"`` entries are deliberate (video-only, song, other actors,
non-video files); ``kind="bad"`` entries are broken inputs (a name that does not parse, an
unreadable file, a folder named like a video, an unsafe archive member) and make the build's
exit code non-zero.

The manifest (:mod:`pipeline.sources.manifest`) holds plain, validated, JSON-serialisable
records with the sha256 of every source. Hashes are cached by ``(size, mtime_ns, inode)`` in
``out/work/source_index.json``, so a rerun does not read the videos again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path

from emoface.data.ravdess import RavdessNameError, parse_name
from emoface.utils.atomic import write_json_atomic
from pipeline.sources.archives import ArchiveError, safe_extract

# the manifest's records live in pipeline.sources.manifest; re-exported here, where discovery makes them
from pipeline.sources.manifest import Manifest, ManifestError, Skipped, SourceClip  # noqa: F401

__all__ = [
    "VIDEO_EXTENSIONS",
    "SourceClip",
    "Skipped",
    "Manifest",
    "ManifestError",
    "prepare_ravdess",
    "parse_actors",
    "HashCache",
    "file_sha256",
]

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi")
_ARCHIVE_RE = re.compile(r"^Video_Speech_Actor_(\d{2})\.zip$")


def parse_actors(spec: str | Iterable[int] | None) -> list[int] | None:
    """``"1-24"``, ``"1,3,5-7"`` or a list of ints -> sorted actor numbers (``None`` = all)."""
    if spec is None:
        return None
    if not isinstance(spec, str):
        actors = sorted({int(a) for a in spec})
    else:
        actors_set: set[int] = set()
        for part in spec.replace(" ", "").split(","):
            if not part:
                continue
            m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
            if not m:
                raise ValueError(f"--actors: cannot read {part!r} (use e.g. 1-24 or 1,3,5-7)")
            lo = int(m.group(1))
            hi = int(m.group(2) or lo)
            if lo > hi:
                raise ValueError(f"--actors: empty range {part!r}")
            actors_set.update(range(lo, hi + 1))
        actors = sorted(actors_set)
    bad = [a for a in actors if not 1 <= a <= 24]
    if bad:
        raise ValueError(f"--actors: RAVDESS actors are 1-24, got {bad}")
    return actors


class HashCache:
    """sha256 of files, cached by ``(size, mtime_ns, inode)`` in a JSON file (a rerun reads no video)."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path is not None else None
        self._entries: dict[str, list] = {}
        self._dirty = False
        if self.path is not None and self.path.is_file():
            try:
                self._entries = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                self._entries = {}

    def sha256(self, path: Path, st: os.stat_result) -> str:
        key = str(path)
        sig = [st.st_size, st.st_mtime_ns, st.st_ino]
        hit = self._entries.get(key)
        if hit is not None and hit[:3] == sig:
            return hit[3]
        digest = file_sha256(path)
        self._entries[key] = [*sig, digest]
        self._dirty = True
        return digest

    def save(self) -> None:
        if self.path is not None and self._dirty:
            write_json_atomic(self.path, self._entries, indent=0)
            self._dirty = False


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes (raises ``OSError`` when it cannot be read)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _is_candidate_video(name: str) -> bool:
    return name.lower().endswith(VIDEO_EXTENSIONS)


def _iter_entries(root: Path) -> Iterable[tuple[Path, Skipped | None]]:
    """Files directly in ``root`` and in its immediate sub-folders (``Actor_XX``), sorted.

    Yields ``(path, None)`` for files to consider and ``(path, Skipped)`` for entries that cannot
    be used (an unreadable folder, a folder nested too deep). Hidden names are ignored.
    """
    try:
        top = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError as exc:
        raise FileNotFoundError(f"{root}: cannot list the RAVDESS folder ({exc.strerror})") from exc
    for entry in top:
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        if _is_dir(entry):
            if entry.name == "ground_truth":
                continue
            if _is_candidate_video(entry.name):
                yield path, _folder_skip(entry.path)
                continue
            try:
                children = sorted(os.scandir(path), key=lambda e: e.name)
            except OSError as exc:
                yield path, Skipped(str(path), f"unreadable folder: {exc.strerror or exc}", "bad")
                continue
            for child in children:
                if child.name.startswith("."):
                    continue
                if _is_dir(child):
                    yield Path(child.path), _folder_skip(child.path)
                else:
                    yield Path(child.path), None
        else:
            yield path, None


def _folder_skip(path: str) -> Skipped:
    """A folder where a file was expected: named like a video it is a broken input, otherwise it is ignored."""
    if _is_candidate_video(os.path.basename(path)):
        return Skipped(path, "a folder, not a video file", "bad")
    return Skipped(path, "sub-folder ignored (clips are looked for one level deep)", "filtered")


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=True)
    except OSError:
        return False


def _extract_archives(root: Path, extract_to: Path, actors: list[int] | None, skipped: list[Skipped], limits: dict) -> None:
    """Extract the kept members of every ``Video_Speech_Actor_XX.zip`` in ``root`` into ``extract_to``."""
    for zpath in sorted(root.glob("*.zip")):
        m = _ARCHIVE_RE.match(zpath.name)
        if not m:
            skipped.append(Skipped(str(zpath), "not a RAVDESS Video_Speech_Actor_XX.zip archive", "filtered"))
            continue
        if actors is not None and int(m.group(1)) not in actors:
            skipped.append(Skipped(str(zpath), f"actor {int(m.group(1)):02d} not requested", "filtered"))
            continue

        def keep(member: str) -> bool:
            base = member.rsplit("/", 1)[-1]
            try:
                name = parse_name(base)
            except RavdessNameError:
                return False
            return name.is_audio_video_speech and (actors is None or name.actor in actors)

        try:
            report = safe_extract(zpath, extract_to, keep=keep, **limits)
        except ArchiveError as exc:
            skipped.append(Skipped(str(zpath), str(exc), "bad"))
            continue
        for member, reason in report.rejected:
            skipped.append(Skipped(f"{zpath}!{member}", reason, "bad"))


def prepare_ravdess(
    root: str | Path,
    out: str | Path | None = None,
    actors: str | Iterable[int] | None = None,
    extract_to: str | Path | None = None,
    archive_limits: dict | None = None,
) -> Manifest:
    """Discover the audio-video speech clips under ``root``; write ``out/manifest.json`` if ``out``.

    Returns the validated :class:`Manifest`. Raises ``FileNotFoundError`` when ``root`` is not a
    folder; every problem with an individual entry is recorded in ``manifest.skipped`` instead.
    """
    root = Path(root).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: RAVDESS folder not found")
    wanted = parse_actors(actors)
    out_path = Path(out).resolve() if out is not None else None
    skipped: list[Skipped] = []

    if any(root.glob("*.zip")):
        if extract_to is None:
            extract_to = root if os.access(root, os.W_OK) else (out_path / "sources" if out_path else None)
        if extract_to is None:
            raise PermissionError(f"{root}: read-only and no output folder to extract the archives into")
        _extract_archives(root, Path(extract_to), wanted, skipped, archive_limits or {})
    search = [root]
    if extract_to is not None and Path(extract_to).resolve() != root:
        search.append(Path(extract_to).resolve())

    cache = HashCache(out_path / "work" / "source_index.json" if out_path else None)
    by_id: dict[str, SourceClip] = {}
    for folder in search:
        for path, problem in _iter_entries(folder):
            if problem is not None:
                skipped.append(problem)
            else:
                _consider(path, wanted, cache, by_id, skipped, folder)
    cache.save()

    gt_dir = root / "ground_truth"
    clips = []
    for cid in sorted(by_id):
        clip = by_id[cid]
        gt = gt_dir / f"{cid}.npz"
        if gt.is_file():
            clip = SourceClip(**{**asdict(clip), "ground_truth": str(gt)})
        clips.append(clip)
    manifest = Manifest(root=str(root), clips=clips, skipped=sorted(skipped, key=lambda s: s.path))
    manifest.validate()
    if out_path is not None:
        manifest.write(out_path / "manifest.json")
    return manifest


def _consider(path: Path, wanted: list[int] | None, cache: HashCache, by_id: dict, skipped: list[Skipped], root: Path) -> None:
    name = path.name
    if name.lower().endswith(".zip"):
        return  # handled by _extract_archives
    if not _is_candidate_video(name):
        reason = "audio-only file (modality 03 is not used)" if name.lower().endswith(".wav") else "not a video file"
        skipped.append(Skipped(str(path), reason, "filtered"))
        return
    try:
        parsed = parse_name(name)
    except RavdessNameError as exc:
        skipped.append(Skipped(str(path), str(exc).split(": ", 1)[-1], "bad"))
        return
    if not parsed.is_audio_video_speech:
        what = "song" if parsed.vocal_channel == 2 else f"modality {parsed.modality:02d}"
        skipped.append(Skipped(str(path), f"not an audio-video speech clip ({what})", "filtered"))
        return
    if path.parent != root and re.fullmatch(r"Actor_\d{2}", path.parent.name) and path.parent.name != parsed.actor_folder:
        skipped.append(Skipped(str(path), f"actor {parsed.actor:02d} in folder {path.parent.name}", "bad"))
        return
    if wanted is not None and parsed.actor not in wanted:
        skipped.append(Skipped(str(path), f"actor {parsed.actor:02d} not requested", "filtered"))
        return
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(0, "not a regular file")
        if st.st_size == 0:
            skipped.append(Skipped(str(path), "zero-byte file", "bad"))
            return
        digest = cache.sha256(path, st)
    except FileNotFoundError:
        skipped.append(Skipped(str(path), "unreadable: broken link or vanished file", "bad"))
        return
    except OSError as exc:
        skipped.append(Skipped(str(path), f"unreadable: {exc.strerror or exc}", "bad"))
        return
    cid = parsed.clip_id
    if cid in by_id:
        first = by_id[cid]
        kind = "filtered" if first.sha256 == digest else "bad"
        what = "same content" if kind == "filtered" else "different content"
        skipped.append(Skipped(str(path), f"duplicate of {first.path} ({what})", kind))
        return
    by_id[cid] = SourceClip(
        clip_id=cid,
        path=str(path.resolve()),
        actor=parsed.actor,
        emotion=parsed.emotion,
        intensity=parsed.intensity,
        statement=parsed.statement,
        repetition=parsed.repetition,
        size=int(st.st_size),
        sha256=digest,
    )

"""Safe extraction of zip archives (the Zenodo ``Video_Speech_Actor_XX.zip`` files).

A member is extracted only when all of these hold; otherwise it is reported, never written:

- its name is a relative path with no ``..`` component, no drive letter and no backslash
  tricks, and the resolved target lies inside the target folder;
- it is a regular file (no symlinks, devices or other special entries);
- its size is at most ``max_member_bytes`` and its compression ratio at most ``max_ratio``
  (a zip bomb guard); the archive's total is at most ``max_total_bytes`` and fits on the disk.

Each member is written atomically (temporary name, fsync, rename) and its CRC is checked by
``zipfile`` while it is read. A member already present with the same size is left alone, so
an interrupted extraction resumes.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from emoface.utils.atomic import atomic_write

__all__ = ["ArchiveError", "ExtractReport", "safe_extract", "member_problem"]

MAX_MEMBER_BYTES = 2 << 30  # RAVDESS videos are ~5-15 MB
MAX_TOTAL_BYTES = 64 << 30
MAX_RATIO = 200.0  # H.264 hardly compresses; a ratio this high is a zip bomb


class ArchiveError(RuntimeError):
    """An archive that cannot be used at all (unreadable, too large); the message names it."""


@dataclass
class ExtractReport:
    """``extracted``/``present`` hold target paths; ``rejected`` holds ``(member, reason)``."""

    extracted: list[Path] = field(default_factory=list)
    present: list[Path] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    ignored: int = 0


def member_problem(info: zipfile.ZipInfo, target: Path, max_member_bytes: int, max_ratio: float) -> str | None:
    """Why ``info`` must not be extracted into ``target`` (``None`` when it is safe)."""
    name = info.filename
    if "\\" in name:
        return "unsafe member name (backslash)"
    pure = PurePosixPath(name)
    if pure.is_absolute() or (pure.parts and ":" in pure.parts[0]):
        return "unsafe member name (absolute path)"
    if any(part == ".." for part in pure.parts):
        return "unsafe member name (escapes the target folder with '..')"
    ftype = stat.S_IFMT((info.external_attr >> 16) & 0o177777)  # 0 when the archiver stored no type
    if ftype == stat.S_IFLNK:
        return "symbolic link member refused"
    if ftype and ftype not in (stat.S_IFREG, stat.S_IFDIR):
        return "special file member refused"
    dest = (target / pure).resolve()
    root = target.resolve()
    if dest != root and root not in dest.parents:
        return "unsafe member name (resolves outside the target folder)"
    if info.file_size > max_member_bytes:
        return f"member too large ({info.file_size} bytes > {max_member_bytes})"
    if info.file_size > 0 and info.file_size / max(info.compress_size, 1) > max_ratio:
        return f"suspicious compression ratio ({info.file_size / max(info.compress_size, 1):.0f}:1)"
    return None


def safe_extract(
    archive: str | Path,
    target: str | Path,
    keep: Callable[[str], bool] | None = None,
    max_member_bytes: int = MAX_MEMBER_BYTES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_ratio: float = MAX_RATIO,
) -> ExtractReport:
    """Extract the regular-file members of ``archive`` for which ``keep(name)`` is true into ``target``.

    Raises :class:`ArchiveError` when the archive cannot be read, is too large in total or does not
    fit on the disk; unsafe individual members are listed in ``report.rejected``.
    """
    archive = Path(archive)
    target = Path(target)
    report = ExtractReport()
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(f"{archive}: not a readable zip archive ({exc})") from exc
    with zf:
        todo: list[tuple[zipfile.ZipInfo, Path]] = []
        for info in zf.infolist():
            if info.is_dir():
                continue
            problem = member_problem(info, target, max_member_bytes, max_ratio)
            if problem:
                report.rejected.append((info.filename, problem))
                continue
            if keep is not None and not keep(info.filename):
                report.ignored += 1
                continue
            dest = target / PurePosixPath(info.filename)
            if dest.is_file() and dest.stat().st_size == info.file_size:
                report.present.append(dest)
                continue
            todo.append((info, dest))
        total = sum(i.file_size for i, _ in todo)
        if total > max_total_bytes:
            raise ArchiveError(f"{archive}: {total} bytes to extract exceeds the limit of {max_total_bytes}")
        target.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(target).free
        if total > free:
            raise ArchiveError(f"{archive}: needs {total} bytes, only {free} free in {target}")
        for info, dest in todo:
            try:
                with zf.open(info) as src, atomic_write(dest, "wb") as dst:
                    written = 0
                    while block := src.read(1 << 20):
                        written += len(block)
                        if written > info.file_size:
                            raise ArchiveError("member is larger than its header says")
                        dst.write(block)
            except (zipfile.BadZipFile, ArchiveError, OSError, EOFError) as exc:
                report.rejected.append((info.filename, f"cannot extract ({exc})"))
                continue
            report.extracted.append(dest)
    return report

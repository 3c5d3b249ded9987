"""The build's small records: a failure, a package member, a split's and the report's status (plain, typed, JSON-able)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from pipeline.sources.manifest import SourceClip

__all__ = ["Failure", "PackageMember", "SplitStatus", "ReportStatus"]


@dataclass(frozen=True)
class Failure:
    """One failed clip (or, with ``clip_id`` None, a failed split or report) and its one-line reason.

    ``cached``: the failure was recorded by an earlier run and reported again without redoing the work.
    """

    clip_id: str | None
    subject: str | None
    stage: str
    reason: str
    cached: bool = False
    source: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def report_row(self) -> dict[str, object]:
        """What the QA report shows (and its input hash covers): everything but ``cached``."""
        return {k: v for k, v in asdict(self).items() if k != "cached"}


@dataclass(frozen=True)
class PackageMember:
    """A finished clip of a split and the content hashes of the artefacts ``package`` reads (it travels to the worker)."""

    clip: SourceClip
    hashes: dict[str, str] = field(default_factory=dict)


@dataclass
class SplitStatus:
    """What became of one split file: ``pending`` while its package task runs, then one of the others."""

    path: str | None
    clips: int
    status: Literal["pending", "written", "up to date", "failed", "empty (every clip failed)"]
    reason: str | None = None

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        if d["reason"] is None:
            del d["reason"]
        return d


@dataclass(frozen=True)
class ReportStatus:
    """What became of the QA report: its stage's outcome (``ran``, ``cached``, ``failed``) and the HTML file's path."""

    status: str
    path: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

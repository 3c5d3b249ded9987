"""The one module of MediaPipe indices agrees with MediaPipe's own connection sets, and no
other module writes MediaPipe landmark indices as literals."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from emoface.morphable import mediapipe_indices as mi

ROOT = Path(__file__).resolve().parents[3]


def _points(*names: str) -> set[int]:
    from mediapipe.tasks.python.vision import FaceLandmarksConnections as C

    out: set[int] = set()
    for n in names:
        for c in getattr(C, n):
            out |= {c.start, c.end}
    return out


def test_contours_are_mediapipe_connection_sets():
    assert set(mi.INNER_LIP_LOOP) | set(mi.OUTER_LIP_LOOP) == _points("FACE_LANDMARKS_LIPS")
    assert set(mi.RIGHT_EYE) | set(mi.LEFT_EYE) == _points("FACE_LANDMARKS_LEFT_EYE", "FACE_LANDMARKS_RIGHT_EYE")
    assert set(mi.BROWS.tolist()) == _points("FACE_LANDMARKS_LEFT_EYEBROW", "FACE_LANDMARKS_RIGHT_EYEBROW")
    assert set(mi.OVAL.tolist()) == _points("FACE_LANDMARKS_FACE_OVAL")
    assert set(mi.BROW_POINTS) <= set(mi.BROWS.tolist()) and mi.CHIN in mi.OVAL


def test_derived_constants_agree():
    pairs = set(zip(mi.INNER_LIP_UPPER[1:-1], mi.INNER_LIP_LOWER[::-1][1:-1]))
    assert set(mi.INNER_LIP_PAIRS) == pairs and mi.INNER_LIP_PAIRS[0] == mi.MOUTH_PAIR
    assert mi.LIP_CORNERS_INNER == (mi.INNER_LIP_UPPER[0], mi.INNER_LIP_UPPER[-1])
    assert set(mi.ALL_EYE_CORNERS) == {c for pair in mi.EYE_CORNERS.values() for c in pair}
    assert mi.RIGHT_EYE[0] == mi.OUTER_EYE_CORNERS[0] and mi.LEFT_EYE[0] == mi.OUTER_EYE_CORNERS[1]
    # the iBUG table: 68 distinct mesh points; its eye corners and mouth are the MediaPipe ones
    assert len(np.unique(mi.MEDIAPIPE_TO_IBUG68)) == 68 and mi.MEDIAPIPE_TO_IBUG68.max() < mi.N_MESH_POINTS
    assert tuple(mi.MEDIAPIPE_TO_IBUG68[list(mi.IBUG68_OUTER_EYE_CORNERS)]) == mi.OUTER_EYE_CORNERS
    assert mi.IBUG68_OUTER_EYE_CORNERS == (36, 45)
    assert tuple(mi.MEDIAPIPE_TO_IBUG68[[62, 66]]) == mi.MOUTH_PAIR  # iBUG inner-lip midpoints 63/67 (1-based)


def test_no_mediapipe_index_literals_elsewhere():
    """The literals the issue found scattered (13/14 mouth pair, 33/263 eye corners) occur only in the one module."""
    pattern = re.compile(r"\[\s*(13|33)\s*,\s*(14|263)\s*\]|\b(13|33)\s*,\s*(14|263)\b\)|\[\s*:?\s*,?\s*13\s*\]\s*-\s*\S*\[\s*:?\s*,?\s*14\s*\]")
    hits = []
    for pkg in ("emoface", "pipeline", "bench"):
        for f in (ROOT / pkg).rglob("*.py"):
            if f.name == "mediapipe_indices.py" or f.name == "fixtures.py":
                continue
            for i, line in enumerate(f.read_text().splitlines(), 1):
                if pattern.search(line):
                    hits.append(f"{f.relative_to(ROOT)}:{i}: {line.strip()}")
    assert hits == []

"""Condition and template resolution of ``emoface animate`` (no model needed)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from emoface.data.ravdess import EMOTIONS, INTENSITIES
from emoface.eval.animation import (
    AnimateError,
    resolve_emotion,
    resolve_intensity,
    resolve_speaker,
    resolve_template,
    write_obj_sequence,
)
from tools.demo_head.canonical_mesh import load_canonical_mesh


@pytest.fixture(scope="module")
def meta():
    m = load_canonical_mesh()
    v = (m.vertices / 100.0).astype(np.float32)
    return SimpleNamespace(speakers=["Actor_01", "Actor_02"], n_vertices=len(v), faces=m.faces,
                           templates={"Actor_01": v, "Actor_02": v * 1.01})


def test_speaker_intensity_emotion():
    assert resolve_speaker("1", ["a", "b"]) == 1 and resolve_speaker("b", ["a", "b"]) == 1
    with pytest.raises(AnimateError, match="outside"):
        resolve_speaker("2", ["a", "b"])
    with pytest.raises(AnimateError, match="unknown speaker"):
        resolve_speaker("c", ["a", "b"])
    names = list(INTENSITIES)
    assert resolve_intensity("strong", names) == 1 and resolve_intensity("0.25", names) == 0.25
    assert resolve_intensity("1", names) == 1
    with pytest.raises(AnimateError):
        resolve_intensity("1.5", names)
    emos = list(EMOTIONS)
    assert resolve_emotion("Happy", None, emos) == {"happy": 1.0}
    assert resolve_emotion(None, "happy=0.7,sad=0.7", emos) == {"happy": 0.5, "sad": 0.5}
    assert resolve_emotion(None, None, emos) is None
    with pytest.raises(AnimateError, match="not both"):
        resolve_emotion("happy", "sad=1", emos)
    with pytest.raises(AnimateError, match="unknown emotion"):
        resolve_emotion(None, "bored=1", emos)


def test_template_sources(meta, tmp_path):
    v, name = resolve_template(meta, 1)
    assert name == "Actor_02" and np.array_equal(v, meta.templates["Actor_02"])
    v, name = resolve_template(meta, 1, subject="Actor_01")
    assert name == "Actor_01"
    # an .obj written by animate --obj reads back in the same vertex order
    write_obj_sequence(meta.templates["Actor_01"][None], meta.faces, tmp_path)
    obj = tmp_path / "frame_000000.obj"
    v, name = resolve_template(meta, 0, template_file=obj)
    np.testing.assert_allclose(v, meta.templates["Actor_01"], atol=1e-6)
    with pytest.raises(AnimateError, match="template-scale"):
        resolve_template(meta, 0, template_file=obj, template_scale=100.0)  # 15 m wide: not metres
    with pytest.raises(AnimateError, match="no template for subject"):
        resolve_template(meta, 0, subject="Actor_09")
    with pytest.raises(AnimateError, match="not both"):
        resolve_template(meta, 0, template_file=obj, subject="Actor_01")

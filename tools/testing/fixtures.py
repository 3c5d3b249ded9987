"""Small, learnable HDF5 splits for tests, benchmarks and smoke runs of the trainer.

The clips are not meant to look like people talking: they are built so that a model can
learn them from audio and labels, and so that the quantities the paper cares about are
present with known structure:

- the *content* signal: a syllable envelope fixed by the statement (and time-stretched by
  the emotion) drives a jaw-like opening of the lower face; the audio is a harmonic tone
  amplitude-modulated by the same envelope, so the opening is predictable from the audio;
- the *emotion* signal: each emotion adds a fixed smooth offset field on the upper face and
  the mouth corners, scaled by the intensity, and changes the pitch of the tone;
- pairs exist for cross-reconstruction: same subject, statement and repetition, different
  emotion (paper §3.3.2).

The topology is the MediaPipe canonical face mesh (468 vertices, the demo head's topology)
unless another ``(vertices, faces)`` is passed, so the spiral code sees a real mesh.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emoface.data.ravdess import RavdessName, gender_of
from emoface.data.schema import ClipRecord, SplitWriter

__all__ = ["SyntheticSpec", "synthetic_mesh", "write_synthetic_split", "write_synthetic_splits"]

FPS = 30.0
SR = 16000


@dataclass(frozen=True)
class SyntheticSpec:
    """What :func:`write_synthetic_split` generates."""

    actors: tuple[int, ...] = (1, 2)
    emotions: tuple[int, ...] = (0, 2, 4)  # 0-based classes
    intensities: tuple[int, ...] = (0, 1)
    statements: tuple[int, ...] = (1, 2)
    repetitions: tuple[int, ...] = (1,)
    base_frames: int = 45
    seed: int = 0


def synthetic_mesh() -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """The canonical face mesh in metres, its faces and coarse regions (lips, eye_region, forehead)."""
    from tools.demo_head.canonical_mesh import load_canonical_mesh

    m = load_canonical_mesh()
    v = m.vertices.astype(np.float32) / 100.0
    y, z = v[:, 1], v[:, 2]
    mouth_y = v[13, 1]
    lips = np.where((np.abs(v[:, 1] - mouth_y) < 0.012) & (np.abs(v[:, 0]) < 0.03) & (z > 0.035))[0]
    eyes_y = v[159, 1]
    eye_region = np.where((np.abs(y - eyes_y) < 0.015) & (np.abs(v[:, 0]) > 0.01) & (z > 0.0))[0]
    forehead = np.where(y > eyes_y + 0.025)[0]
    regions = {"lips": lips.astype(np.int32), "eye_region": eye_region.astype(np.int32), "forehead": forehead.astype(np.int32)}
    return v, m.faces.astype(np.int32), regions


def _smooth_field(v: np.ndarray, rng: np.random.Generator, centres: np.ndarray, scale: float) -> np.ndarray:
    """A smooth (V, 3) displacement field: random vectors at ``centres`` blended with Gaussians."""
    vec = rng.normal(size=(len(centres), 3)).astype(np.float32)
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    d2 = ((v[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    w = np.exp(-d2 / (2 * 0.015**2)).astype(np.float32)
    return scale * (w @ vec)


def _envelope(statement: int, n_frames: int, repetition: int) -> np.ndarray:
    """Syllable envelope in [0, 1] per frame; the statement fixes the rhythm."""
    rng = np.random.default_rng(1000 + 17 * statement)
    n_syll = 6 + statement
    onsets = np.sort(rng.uniform(0.12, 0.85, size=n_syll))
    widths = rng.uniform(0.025, 0.05, size=n_syll)
    heights = rng.uniform(0.5, 1.0, size=n_syll)
    t = (np.arange(n_frames) + 0.5) / n_frames
    env = (heights[None] * np.exp(-((t[:, None] - onsets[None]) ** 2) / (2 * widths[None] ** 2))).sum(1)
    env *= 1.0 + 0.05 * (repetition - 1)
    return np.clip(env, 0.0, 1.0).astype(np.float32)


def _audio(env: np.ndarray, f0: float, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(n_samples) / SR
    frame_t = (np.arange(len(env)) + 0.5) / FPS
    amp = np.interp(t, frame_t, env)
    tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2, 3))
    sig = 0.3 * amp * tone + 0.003 * rng.normal(size=n_samples)
    return sig.astype(np.float32)


def write_synthetic_split(
    path: str | os.PathLike,
    spec: SyntheticSpec = SyntheticSpec(),
    mesh: tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]] | None = None,
    model_name: str = "synthetic-fixture",
) -> Path:
    """Write one split file with every combination in ``spec``; returns its path."""
    v0, faces, regions = mesh if mesh is not None else synthetic_mesh()
    rng_mesh = np.random.default_rng(12345)  # the fields are shared by all splits
    y = v0[:, 1]
    mouth_y = v0[13, 1] if len(v0) > 14 else float(np.median(y))
    below = 1.0 / (1.0 + np.exp(-(mouth_y - y) / 0.004))
    jaw_dir = np.zeros_like(v0)
    jaw_dir[:, 1] = -0.012 * below
    jaw_dir[:, 2] = -0.003 * below
    upper = v0[v0[:, 1] > mouth_y + 0.02]
    corner_idx = np.argsort(np.abs(v0[:, 1] - mouth_y) - 0.5 * np.abs(v0[:, 0]))[:4]
    emo_fields = []
    for e in range(8):
        centres = np.concatenate([upper[rng_mesh.choice(len(upper), 3, replace=False)], v0[corner_idx[:2]]])
        emo_fields.append(_smooth_field(v0, rng_mesh, centres, 0.004) if e else np.zeros_like(v0))
    rng = np.random.default_rng(spec.seed)
    path = Path(path)
    with SplitWriter(path, faces, regions, model_name, f"fixture-{len(v0)}", {"spec": spec.__dict__}, "") as w:
        subjects = {}
        for actor in spec.actors:
            name = f"Actor_{actor:02d}"
            srng = np.random.default_rng(500 + actor)
            template = (v0 * (1.0 + 0.03 * srng.normal())).astype(np.float32)
            template += _smooth_field(v0, srng, v0[srng.choice(len(v0), 4, replace=False)], 0.002)
            subjects[name] = template
            w.add_subject(name, template, gender=gender_of(actor))
        for actor in spec.actors:
            name = f"Actor_{actor:02d}"
            f0_base = 120.0 if actor % 2 else 210.0
            for emo in spec.emotions:
                for inten in spec.intensities:
                    if emo == 0 and inten == 1:
                        continue
                    for st in spec.statements:
                        for rep in spec.repetitions:
                            stretch = 1.0 + 0.04 * ((emo % 3) - 1)
                            n = int(round(spec.base_frames * stretch)) + rng.integers(0, 3)
                            env = _envelope(st, n, rep)
                            scale = 1.0 + 0.5 * inten
                            verts = subjects[name][None] + env[:, None, None] * jaw_dir[None] * (1.0 + 0.3 * (emo == 4))
                            verts = verts + scale * emo_fields[emo][None]
                            n_samples = int(round(n * SR / FPS))
                            audio = _audio(env, f0_base * (1.0 + 0.08 * emo), n_samples, rng)
                            rn = RavdessName(1, 1, emo + 1, inten + 1, st, rep, actor)
                            w.add_clip(
                                ClipRecord(
                                    clip_id=rn.clip_id,
                                    subject=name,
                                    vertices=verts.astype(np.float32),
                                    audio=audio,
                                    emotion=emo,
                                    intensity=inten,
                                    statement=st,
                                    repetition=rep,
                                    source="fixture",
                                )
                            )
    return path


def write_synthetic_splits(
    out_dir: str | os.PathLike,
    train_actors: Sequence[int] = (1, 2, 3),
    val_actors: Sequence[int] = (4,),
    test_actors: Sequence[int] = (5,),
    **spec_kwargs,
) -> dict[str, Path]:
    """``train.h5``, ``val.h5`` and ``test.h5`` with disjoint actors (like the paper's split)."""
    out = Path(out_dir)
    seed = int(spec_kwargs.pop("seed", 0))
    paths = {}
    for i, (split, actors) in enumerate((("train", train_actors), ("val", val_actors), ("test", test_actors))):
        spec = SyntheticSpec(actors=tuple(actors), seed=seed + i, **spec_kwargs)
        paths[split] = write_synthetic_split(out / f"{split}.h5", spec)
    return paths

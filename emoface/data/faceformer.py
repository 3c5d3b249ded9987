"""Export HDF5 splits to FaceFormer's data layout, so that existing tools read our data.

Layout written under ``out_dir`` (as FaceFormer's ``vocaset/`` folder)::

    vertices_npy/<subject>_<clip_id>.npy   (T', V*3) float32 metres
    wav/<subject>_<clip_id>.wav            16 kHz mono PCM-16
    templates.pkl                          {subject: (V, 3) float32}, a plain pickle (protocol 4)
    emoface_export.json                    frame rate, subject splits, per-clip labels

FaceFormer's VOCASET loader keeps every second frame (``[::2]``, 60 -> 30 fps), so by default
the 30 fps sequences are written at 60 fps with the in-between frames linearly interpolated:
``[::2]`` then returns our frames exactly. ``fps=30`` writes the frames as they are (for
loaders that do not subsample, like FaceFormer's BIWI path). File names are
``<subject>_<clip_id>`` so that FaceFormer's ``"_".join(name.split("_")[:-1])`` yields the
subject. ``emoface_export.json`` lists which subjects belong to which split (for
``--train_subjects`` etc.) and lets ``build-dataset vocaset`` (``pipeline.sources.vocaset``) read
the folder back with its labels.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emoface.data.schema import SplitReader
from emoface.utils.atomic import atomic_path, atomic_write, write_json_atomic

__all__ = ["EXPORT_MANIFEST", "ExportError", "ExportReport", "upsample_2x", "export_faceformer"]

#: the manifest an export writes beside FaceFormer's layout (frame rate, splits, per-clip labels)
EXPORT_MANIFEST = "emoface_export.json"


class ExportError(ValueError):
    """An export that cannot proceed; the message names the file."""


@dataclass
class ExportReport:
    out_dir: Path
    clips: int = 0
    subjects: dict[str, list[str]] = field(default_factory=dict)
    fps: float = 60.0


def upsample_2x(vertices: np.ndarray) -> np.ndarray:
    """(T, ...) -> (2T, ...): originals at even indices, midpoints at odd ones (the last repeated)."""
    v = np.asarray(vertices, dtype=np.float32)
    out = np.empty((2 * len(v), *v.shape[1:]), dtype=np.float32)
    out[0::2] = v
    out[1:-1:2] = 0.5 * (v[:-1] + v[1:])
    out[-1] = v[-1]
    return out


def export_faceformer(
    split_paths: Sequence[str | Path],
    out_dir: str | Path,
    fps: float = 60.0,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ExportReport:
    """Write the clips of ``split_paths`` (train/val/test ``.h5``) in FaceFormer's layout.

    The split name is the file stem (``train.h5`` -> ``train``). Raises :class:`ExportError`
    when ``out_dir`` already holds an export (unless ``overwrite``), when ``fps`` is not 30
    or 60, or when one subject has different templates in two splits.
    """
    import soundfile as sf

    out = Path(out_dir)
    if fps not in (30.0, 60.0):
        raise ExportError(f"{out}: fps must be 30 or 60, got {fps:g}")
    if (out / "vertices_npy").exists() and any((out / "vertices_npy").iterdir()) and not overwrite:
        raise ExportError(f"{out / 'vertices_npy'}: not empty (pass overwrite=True / --overwrite to replace files)")
    (out / "vertices_npy").mkdir(parents=True, exist_ok=True)
    (out / "wav").mkdir(parents=True, exist_ok=True)
    templates: dict[str, np.ndarray] = {}
    manifest_clips: dict[str, dict] = {}
    report = ExportReport(out_dir=out, fps=fps)
    for sp in map(Path, split_paths):
        split = sp.stem
        with SplitReader(sp) as reader:
            if reader.fps != 30.0 or reader.sample_rate != 16000:
                raise ExportError(f"{sp}: expected 30 fps / 16 kHz, found {reader.fps:g} fps / {reader.sample_rate} Hz")
            report.subjects[split] = list(reader.subjects)
            for s in reader.subjects:
                t = reader.template(s)
                if s in templates and not np.allclose(templates[s], t):
                    raise ExportError(f"{sp}: subject {s} has a different template than in another split")
                templates[s] = t
            for cid in reader.clip_ids:
                rec = reader.read_clip(cid, params=False)
                stem = f"{rec.subject}_{cid}"
                v = rec.vertices.reshape(rec.n_frames, -1)
                if fps == 60.0:
                    v = upsample_2x(v)
                with atomic_path(out / "vertices_npy" / f"{stem}.npy") as tmp:
                    np.save(tmp, v.astype(np.float32), allow_pickle=False)
                with atomic_path(out / "wav" / f"{stem}.wav") as tmp:
                    sf.write(str(tmp), rec.audio, reader.sample_rate, subtype="PCM_16", format="WAV")
                manifest_clips[stem] = {
                    "clip_id": cid,
                    "subject": rec.subject,
                    "split": split,
                    "emotion": rec.emotion,
                    "intensity": rec.intensity,
                    "statement": rec.statement,
                    "repetition": rec.repetition,
                    "n_frames_30fps": rec.n_frames,
                    "dataset": str(rec.extra_attrs.get("dataset", reader.attrs.get("model", ""))),
                }
                report.clips += 1
                if progress:
                    progress(stem)
    with atomic_write(out / "templates.pkl", "wb") as fh:
        pickle.dump({s: np.asarray(t, dtype=np.float32) for s, t in sorted(templates.items())}, fh, protocol=4)
    write_json_atomic(
        out / EXPORT_MANIFEST,
        {
            "format": "faceformer",
            "fps": fps,
            "note": "vertices_npy at 60 fps: FaceFormer's [::2] returns the 30 fps frames exactly" if fps == 60.0 else "vertices_npy at 30 fps",
            "subjects": report.subjects,
            "clips": manifest_clips,
        },
    )
    return report

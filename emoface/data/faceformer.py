"""Export HDF5 splits to FaceFormer's data layout, so that existing tools read our data.

Layout written under ``out_dir`` (as FaceFormer's ``vocaset/`` folder)::

    vertices_npy/<subject>_<clip>-ff<NN>.npy   (T', V*3) float32 metres
    wav/<subject>_<clip>-ff<NN>.wav            16 kHz mono PCM-16
    templates.pkl                          {subject: (V, 3) float32}, a plain pickle (protocol 4)
    emoface_export.json                    frame rate, subject splits, per-clip labels

FaceFormer's VOCASET loader keeps every second frame (``[::2]``, 60 -> 30 fps), so by default
the 30 fps sequences are written at 60 fps with the in-between frames linearly interpolated:
``[::2]`` then returns our frames exactly. ``fps=30`` writes the frames as they are (for
loaders that do not subsample, like FaceFormer's BIWI path).

File names (:func:`faceformer_stem`) follow what FaceFormer's loader parses: the subject is
everything before the last ``_``, and the last two characters of the name are read as a
sentence number that must lie in the split's range (``--dataset vocaset``: train 1-40,
val/test 21-40; ``--dataset BIWI``: train 1-32, val 33-36, test 37-40). A clip named after
its RAVDESS id alone would end in the actor number and be dropped from val/test for any
split but the paper's. So every name ends in ``-ff<NN>``, a code chosen by the split
(:data:`SPLIT_CODES`: train 01, val 33, test 37) that both ranges keep. The ``<clip>`` part is
the clip id with any character other than letters, digits and ``-`` turned into ``-``.
``emoface_export.json`` maps each name to its clip id and labels, lists which subjects belong
to which split (for ``--train_subjects`` etc.) and lets
``build-dataset vocaset`` (``pipeline.sources.vocaset``) read the folder back with its labels.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emoface.data.schema import SplitReader
from emoface.utils.atomic import atomic_path, atomic_write, write_json_atomic

__all__ = ["EXPORT_MANIFEST", "SPLIT_CODES", "ExportError", "ExportReport", "faceformer_stem", "upsample_2x", "export_faceformer"]

# The two-digit "sentence" code each split's file names end in. FaceFormer keeps a clip in a split
# when this number is in that split's range: vocaset train 1-40, val/test 21-40; BIWI train 1-32,
# val 33-36, test 37-40. These codes lie in every range of their own split and (for BIWI) in no other.
SPLIT_CODES: dict[str, int] = {"train": 1, "val": 33, "test": 37}

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


def faceformer_stem(subject: str, clip_id: str, split: str) -> str:
    """The file stem of one clip: ``<subject>_<clip>-ff<NN>`` (see the module docstring).

    Raises :class:`ExportError` for a split other than train/val/test, or a subject that
    FaceFormer's loader would misread (a ``.`` or ``wav`` in it, or empty).
    """
    if split not in SPLIT_CODES:
        raise ExportError(f"{split}: split name (the .h5 file stem) must be one of {', '.join(SPLIT_CODES)} for FaceFormer's loader")
    if not subject or "." in subject or "wav" in subject:
        raise ExportError(f"subject {subject!r}: FaceFormer's loader cannot read a subject that is empty or holds '.' or 'wav'")
    clip = re.sub(r"[^A-Za-z0-9-]", "-", clip_id).replace("wav", "w-v")
    return f"{subject}_{clip}-ff{SPLIT_CODES[split]:02d}"


def export_faceformer(
    split_paths: Sequence[str | Path],
    out_dir: str | Path,
    fps: float = 60.0,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ExportReport:
    """Write the clips of ``split_paths`` (train/val/test ``.h5``) in FaceFormer's layout.

    The split name is the file stem (``train.h5`` -> ``train``) and must be train, val or test.
    Raises :class:`ExportError` when ``out_dir`` already holds an export (unless ``overwrite``),
    when ``fps`` is not 30 or 60, when one subject has different templates in two splits, or
    when two clips would get the same file name.
    """
    import soundfile as sf

    out = Path(out_dir)
    if fps not in (30.0, 60.0):
        raise ExportError(f"{out}: fps must be 30 or 60, got {fps:g}")
    for sp in map(Path, split_paths):
        if sp.stem not in SPLIT_CODES:
            raise ExportError(f"{sp}: split name (the file stem) must be one of {', '.join(SPLIT_CODES)} for FaceFormer's loader")
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
                stem = faceformer_stem(rec.subject, cid, split)
                if stem in manifest_clips:
                    raise ExportError(f"{sp}: clips {manifest_clips[stem]['clip_id']!r} and {cid!r} would both be written as {stem}")
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
            "split_codes": {k: v for k, v in SPLIT_CODES.items() if k in report.subjects},
            "clips": manifest_clips,
        },
    )
    return report

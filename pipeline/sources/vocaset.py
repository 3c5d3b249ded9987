"""``build-dataset vocaset``: build HDF5 splits from VOCASET (Cudeiro et al. 2019).

Two source layouts are read:

- the original VOCA training files: ``data_verts.npy`` (N, V, 3) metres at 60 fps (read
  memory-mapped), ``subj_seq_to_idx.pkl`` (``{subject: {sentence: {frame: row}}}``),
  ``raw_audio_fixed.pkl`` (``{subject: {sentence: {"audio": int16 (N,), "sample_rate": 22000}}}``)
  and ``templates.pkl`` (``{subject: (V, 3)}``);
- FaceFormer's preprocessed layout: ``vertices_npy/<subject>_<sentence>.npy`` ((T, V*3) at
  60 fps), ``wav/<subject>_<sentence>.wav`` and ``templates.pkl``. A folder written by
  :func:`emoface.data.faceformer.export_faceformer` also holds ``emoface_export.json``, whose
  labels, splits and frame rate are then used, so our own data round-trips.

Pickles go through the restricted unpickler of :mod:`emoface.morphable.pickle_io` (they can
never run code). Vertices are subsampled 60 -> 30 fps by keeping every second frame
(FaceFormer's ``[::2]``), audio is resampled to 16 kHz mono, and the split follows
FaceFormer/VOCA (paper §4.1): 8 training subjects with sentences 1-40, 2 validation and 2 test
subjects with sentences 21-40. VOCASET has no emotion labels: clips are stored as neutral,
normal intensity, ``statement`` = the sentence number, with ``dataset="vocaset"``.

When audio and frames disagree by more than a frame, the longer one is trimmed (never padded)
and the clip records ``audio_trimmed_samples`` / ``frames_dropped``.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emoface.data.faceformer import EXPORT_MANIFEST
from emoface.data.schema import ClipRecord, SplitWriter
from emoface.utils.audio import SAMPLE_RATE, load_audio, resample, to_mono

__all__ = [
    "VOCASET_SUBJECTS",
    "VocasetSplit",
    "VocaSequence",
    "ImportReport",
    "VocasetError",
    "detect_layout",
    "iter_voca_original",
    "iter_faceformer_layout",
    "load_templates",
    "load_topology",
    "fit_lengths",
    "import_vocaset",
]

#: FaceFormer's ``main.py`` subject lists (paper §4.1).
VOCASET_SUBJECTS: dict[str, tuple[str, ...]] = {
    "train": (
        "FaceTalk_170728_03272_TA", "FaceTalk_170904_00128_TA", "FaceTalk_170725_00137_TA", "FaceTalk_170915_00223_TA",
        "FaceTalk_170811_03274_TA", "FaceTalk_170913_03279_TA", "FaceTalk_170904_03276_TA", "FaceTalk_170912_03278_TA",
    ),
    "val": ("FaceTalk_170811_03275_TA", "FaceTalk_170908_03277_TA"),
    "test": ("FaceTalk_170809_00138_TA", "FaceTalk_170731_00024_TA"),
}

class VocasetError(ValueError):
    """A VOCASET folder that cannot be imported; the message names the file."""


@dataclass(frozen=True)
class VocasetSplit:
    """Which (subject, sentence) goes to which split. ``None`` sentences = every sentence."""

    subjects: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(VOCASET_SUBJECTS))
    train_sentences: tuple[int, ...] | None = tuple(range(1, 41))
    eval_sentences: tuple[int, ...] | None = tuple(range(21, 41))

    def assign(self, subject: str, sentence: int | None) -> str | None:
        for split, subjects in self.subjects.items():
            if subject in subjects:
                allowed = self.train_sentences if split == "train" else self.eval_sentences
                if allowed is None or (sentence is not None and sentence in allowed):
                    return split
                return None
        return None


@dataclass
class VocaSequence:
    """One source sequence: ``vertices()`` -> (T60, V, 3) float32 metres; audio (N,) at ``sample_rate``."""

    subject: str
    sequence: str
    vertices: Callable[[], np.ndarray]
    audio: Callable[[], np.ndarray]
    source: str
    fps: float = 60.0
    labels: dict | None = None  # from an emoface export manifest

    @property
    def sentence(self) -> int | None:
        m = re.search(r"(\d+)$", self.sequence)
        return int(m.group(1)) if m else None


@dataclass
class ImportReport:
    """What :func:`import_vocaset` wrote: clips per split, and skipped sequences with reasons."""

    layout: str
    paths: dict[str, Path] = field(default_factory=dict)
    clips: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    adjusted: list[str] = field(default_factory=list)


def _load_pickle(path: Path):
    """Unpickle with the project's restricted unpickler, also admitting ``_codecs.encode``.

    Python 3 writes numpy arrays at pickle protocol <= 2 through ``_codecs.encode(text,
    "latin1")``; that function only converts data, so files re-saved by Python 3 tools load too.
    """
    import codecs

    from emoface.morphable.pickle_io import RestrictedUnpickler, UnsafePickleError, to_plain

    class _Unpickler(RestrictedUnpickler):
        def find_class(self, module: str, name: str):
            if module == "_codecs" and name == "encode":
                return codecs.encode
            return super().find_class(module, name)

    try:
        with open(path, "rb") as fh:
            return to_plain(_Unpickler(fh, source=str(path)).load())
    except UnsafePickleError:
        raise
    except Exception as exc:  # truncated / not a pickle
        raise VocasetError(f"{path}: not a readable pickle ({type(exc).__name__}: {exc})") from exc


def load_templates(path: Path) -> dict[str, np.ndarray]:
    """``templates.pkl`` -> ``{subject: (V, 3) float32}`` (restricted unpickler)."""
    if not path.is_file():
        raise VocasetError(f"{path}: templates.pkl not found")
    data = _load_pickle(path)
    if not isinstance(data, dict) or not data:
        raise VocasetError(f"{path}: expected a dict {{subject: (V, 3) array}}")
    return {str(k): np.asarray(v, dtype=np.float32).reshape(-1, 3) for k, v in data.items()}


def detect_layout(src: Path) -> str:
    """``"voca"`` (data_verts.npy + pickles) or ``"faceformer"`` (vertices_npy/ + wav/)."""
    if (src / "data_verts.npy").is_file():
        return "voca"
    if (src / "vertices_npy").is_dir():
        return "faceformer"
    raise VocasetError(f"{src}: neither VOCA files (data_verts.npy, ...) nor FaceFormer's vertices_npy/ + wav/ found")


def iter_voca_original(src: Path, n_vertices: int) -> Iterator[VocaSequence]:
    """Sequences of the original VOCA files (sorted by subject, sentence)."""
    for name in ("data_verts.npy", "subj_seq_to_idx.pkl", "raw_audio_fixed.pkl"):
        if not (src / name).is_file():
            raise VocasetError(f"{src / name}: not found (the VOCA layout needs data_verts.npy, raw_audio_fixed.pkl, templates.pkl, subj_seq_to_idx.pkl)")
    verts = np.load(src / "data_verts.npy", mmap_mode="r", allow_pickle=False)
    if verts.ndim == 2:
        verts = verts.reshape(verts.shape[0], -1, 3)
    if verts.ndim != 3 or verts.shape[1:] != (n_vertices, 3):
        raise VocasetError(f"{src / 'data_verts.npy'}: expected (N, {n_vertices}, 3), got {verts.shape}")
    index = _load_pickle(src / "subj_seq_to_idx.pkl")
    raw_audio = _load_pickle(src / "raw_audio_fixed.pkl")
    for subject in sorted(index):
        for seq in sorted(index[subject]):
            frames = index[subject][seq]
            rows = np.asarray([frames[k] for k in sorted(frames)], dtype=np.int64)
            entry = raw_audio.get(subject, {}).get(seq)
            where = f"{src}: {subject}/{seq}"
            if entry is None:
                yield VocaSequence(subject, str(seq), lambda: None, lambda: None, where)  # reported as skipped
                continue

            def audio(entry=entry, where=where) -> np.ndarray:
                a = np.asarray(entry["audio"])
                a = a.astype(np.float32) / 32768.0 if a.dtype.kind == "i" else a.astype(np.float32)
                return resample(to_mono(a), int(entry["sample_rate"]), SAMPLE_RATE)

            yield VocaSequence(subject, str(seq), lambda rows=rows: np.asarray(verts[rows], dtype=np.float32), audio, where)


def iter_faceformer_layout(src: Path, templates: dict[str, np.ndarray]) -> Iterator[VocaSequence]:
    """Sequences of FaceFormer's ``vertices_npy/`` + ``wav/`` (sorted by file name)."""
    manifest = {}
    fps = 60.0
    if (src / EXPORT_MANIFEST).is_file():
        data = json.loads((src / EXPORT_MANIFEST).read_text())
        manifest, fps = data.get("clips", {}), float(data.get("fps", 60.0))
    by_len = sorted(templates, key=len, reverse=True)
    for npy in sorted((src / "vertices_npy").glob("*.npy")):
        stem = npy.stem
        subject = next((s for s in by_len if stem.startswith(s + "_")), "_".join(stem.split("_")[:-1]))
        seq = stem[len(subject) + 1 :]
        wav = src / "wav" / f"{stem}.wav"

        def vertices(npy=npy) -> np.ndarray:
            v = np.load(npy, allow_pickle=False).astype(np.float32)
            return v.reshape(v.shape[0], -1, 3)

        yield VocaSequence(subject, seq, vertices, (lambda wav=wav: load_audio(wav)) if wav.is_file() else (lambda: None), str(npy), fps, manifest.get(stem))


def load_topology(spec: str, masks: str | Path | None = None) -> tuple[np.ndarray, dict[str, np.ndarray], str, str]:
    """Faces and regions for imported data: ``(faces (F,3), regions, topology_name, model_name)``.

    ``spec`` is a mesh file (``FLAME_sample.ply``, ``.obj``; faces only) or anything
    :func:`emoface.morphable.load` accepts (``flame``, a FLAME ``.pkl``/``.npz``; faces and,
    when ``FLAME_masks.pkl`` lies beside it, regions). ``masks`` adds FLAME_masks.pkl regions.
    """
    p = Path(spec)
    if p.suffix.lower() in (".ply", ".obj", ".off", ".stl"):
        import trimesh

        if not p.is_file():
            raise VocasetError(f"{p}: mesh file not found")
        mesh = trimesh.load(p, process=False, force="mesh")
        faces, regions, n_v = np.asarray(mesh.faces, np.int32), {}, len(mesh.vertices)
        name = "flame" if n_v == 5023 else f"mesh-{n_v}"
        model_name = p.name
    else:
        from emoface import morphable

        m = morphable.load(spec)
        faces, regions, n_v = np.asarray(m.faces, np.int32), dict(m.regions), m.v_template.shape[0]
        name, model_name = ("flame" if m.kind == "flame" else m.name), m.name
    if masks is not None:
        from emoface.morphable import load_flame_masks

        regions.update(load_flame_masks(masks, n_v))
    return faces, {k: np.asarray(v, np.int32) for k, v in regions.items()}, name, model_name


def fit_lengths(vertices: np.ndarray, audio: np.ndarray, fps: float = 30.0, sr: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray, dict]:
    """Trim the longer of ``vertices`` (T,V,3) / ``audio`` (N,) so they agree within one frame.

    Returns the trimmed pair and the attributes recording what was cut (empty when nothing).
    """
    per_frame = sr / fps
    expected = vertices.shape[0] * per_frame
    if audio.size > expected + per_frame:
        n = int(round(expected))
        return vertices, audio[:n], {"audio_trimmed_samples": int(audio.size - n)}
    if audio.size < expected - per_frame:
        t = int(round(audio.size / per_frame))
        return vertices[:t], audio, {"frames_dropped": int(vertices.shape[0] - t)}
    return vertices, audio, {}


def import_vocaset(
    src: str | Path,
    out_dir: str | Path,
    faces: np.ndarray,
    regions: dict[str, np.ndarray],
    topology_name: str = "flame",
    model_name: str = "vocaset",
    layout: str = "auto",
    split: VocasetSplit | None = None,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ImportReport:
    """Write ``train.h5`` / ``val.h5`` / ``test.h5`` under ``out_dir`` from a VOCASET folder.

    Args:
        src: the VOCA training-data folder or a FaceFormer ``vocaset/`` folder.
        faces: (F, 3) topology of the data (FLAME for VOCASET). regions: metric regions.
        layout: ``auto`` | ``voca`` | ``faceformer``.
        split: subject/sentence assignment (default FaceFormer's, paper §4.1). For a folder
            written by our exporter the manifest's splits win.
    Raises :class:`VocasetError` (naming the file) for missing or malformed inputs.
    """
    src, out_dir = Path(src), Path(out_dir)
    if not src.is_dir():
        raise VocasetError(f"{src}: not a folder")
    layout = detect_layout(src) if layout == "auto" else layout
    split = split or VocasetSplit()
    templates = load_templates(src / "templates.pkl")
    n_v = int(np.asarray(faces).max()) + 1
    n_v = max(n_v, next(iter(templates.values())).shape[0])
    bad = [s for s, t in templates.items() if t.shape != (n_v, 3)]
    if bad:
        raise VocasetError(f"{src / 'templates.pkl'}: template(s) {', '.join(bad[:3])} are not ({n_v}, 3)")
    report = ImportReport(layout=layout)
    targets = {s: out_dir / f"{s}.h5" for s in ("train", "val", "test")}
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not overwrite:
        raise VocasetError(f"{existing[0]}: exists (pass overwrite=True / --overwrite to replace)")
    seqs = iter_voca_original(src, n_v) if layout == "voca" else iter_faceformer_layout(src, templates)
    config = {"source": str(src), "layout": layout, "dataset": "vocaset", "subsample": "60->30 fps ([::2])"}
    with contextlib.ExitStack() as stack:
        writers = {
            s: stack.enter_context(SplitWriter(p, faces, regions, model_name, topology_name, {**config, "split": s}, ""))
            for s, p in targets.items()
        }
        for w in writers.values():
            if w.n_vertices != n_v:
                w.set_vertex_count(n_v)
        added: dict[str, set[str]] = {s: set() for s in writers}
        for seq in seqs:
            labels = seq.labels or {}
            name = f"{seq.subject}_{seq.sequence}"
            target = labels.get("split") or split.assign(seq.subject, seq.sentence)
            if target is None:
                continue
            if target not in writers:
                report.skipped.append(f"{seq.source}: split {target!r} is not train, val or test")
                continue
            if seq.subject not in templates:
                report.skipped.append(f"{seq.source}: subject {seq.subject} has no template")
                continue
            audio = seq.audio()
            if audio is None:
                report.skipped.append(f"{seq.source}: no audio")
                continue
            verts60 = seq.vertices()
            if verts60.shape[1:] != (n_v, 3) or len(verts60) == 0:
                report.skipped.append(f"{seq.source}: vertices {verts60.shape}, expected (T, {n_v}, 3)")
                continue
            step = max(int(round(seq.fps / 30.0)), 1)
            verts, audio, adjusted = fit_lengths(verts60[::step], audio)
            if adjusted:
                report.adjusted.append(f"{name}: {adjusted}")
            if seq.subject not in added[target]:
                writers[target].add_subject(seq.subject, templates[seq.subject])
                added[target].add(seq.subject)
            writers[target].add_clip(
                ClipRecord(
                    clip_id=str(labels.get("clip_id", name)),
                    subject=seq.subject,
                    vertices=verts,
                    audio=audio,
                    emotion=int(labels.get("emotion", 0)),
                    intensity=int(labels.get("intensity", 0)),
                    statement=int(labels.get("statement", seq.sentence or 0)),
                    repetition=int(labels.get("repetition", 1)),
                    source=seq.source,
                    extra_attrs={"dataset": str(labels.get("dataset", "vocaset")), "sequence": seq.sequence, **adjusted},
                )
            )
            report.clips[target] = report.clips.get(target, 0) + 1
            if progress:
                progress(name)
    report.paths = targets
    return report

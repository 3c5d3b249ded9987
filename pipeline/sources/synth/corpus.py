"""Generate a RAVDESS-shaped corpus with ground truth: ``generate_corpus(out, actors, ...)``.

Layout (like RAVDESS, plus the ground truth, docs/architecture.md "Generated-corpus ground
truth")::

    out/Actor_XX/01-01-EE-II-SS-RR-AA.mp4
    out/ground_truth/01-01-EE-II-SS-RR-AA.npz
    out/synth_manifest.json            seed, resolved config, clips, failures

Every clip is a pure function of (name, seed, config): its random numbers come from
``numpy.random.default_rng([seed, actor, emotion, intensity, statement, repetition])``,
its actor from ``[seed, actor]``. Each file is written under a temporary name and renamed
when complete (ground truth first, then the video), so a killed run leaves no half-written
file, and a rerun skips clips whose two files exist.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emoface.data.ravdess import STATEMENTS, RavdessName, parse_name, speech_names
from emoface.morphable.mediapipe_indices import LOWER_LIP_MID, UPPER_LIP_MID
from emoface.utils.atomic import atomic_path, atomic_write, write_json_atomic
from emoface.utils.config import config_hash, to_dict
from pipeline.sources.synth.config import GENERATOR_VERSION, SynthConfig
from pipeline.sources.synth.state import actor_photo, face_rig, make_clip_actor, resources

__all__ = ["plan_names", "make_clip_actor", "generate_clip", "generate_corpus", "CorpusResult", "ClipResult", "clip_paths"]

_COMBOS = ((1, 1), (2, 1), (1, 2), (2, 2))  # (statement, repetition)


def _conditions(a: int) -> list[tuple[int, int]]:
    """The 15 emotion/intensity conditions for 0-based actor ``a``: first one per emotion
    (rotated by actor, intensity alternating), then the other intensity of each emotion."""
    emotions = list(range(1, 9))
    emotions = emotions[a % 8 :] + emotions[: a % 8]
    first = [(e, 1 if e == 1 else 1 + (e + a) % 2) for e in emotions]
    second = [(e, 3 - i) for e, i in first if e != 1]
    return first + second


def plan_names(actors: list[int] | range, clips_per_actor: int = 60) -> list[RavdessName]:
    """The clips to generate: all 60 speech trials per actor, or a balanced subset.

    A subset walks the 15 emotion/intensity conditions (all eight emotions first, rotated
    and with alternating intensities per actor) with one
    statement/repetition pair, then the next pair, so that every actor's clips share a
    statement and repetition across different emotions (cross-reconstruction pairs) and
    the corpus as a whole covers all emotions and both intensities.
    """
    if not 1 <= clips_per_actor <= 60:
        raise ValueError(f"clips_per_actor must be 1-60, got {clips_per_actor}")
    out: list[RavdessName] = []
    for actor in actors:
        if clips_per_actor == 60:
            out.extend(speech_names(actor))
            continue
        a = int(actor) - 1
        conds = _conditions(a)
        combos = _COMBOS[a % 4 :] + _COMBOS[: a % 4]
        picked = [RavdessName(1, 1, e, i, s, r, int(actor)) for (s, r) in combos for (e, i) in conds][:clips_per_actor]
        out.extend(sorted(picked))
    return out


def clip_paths(out: Path, name: RavdessName) -> tuple[Path, Path]:
    """``(video, ground truth)`` paths of a clip inside corpus folder ``out``."""
    return out / name.actor_folder / name.filename(".mp4"), out / "ground_truth" / f"{name.clip_id}.npz"


@dataclass
class ClipResult:
    clip_id: str
    status: str  # done | skipped | failed
    seconds: float = 0.0
    n_frames: int = 0
    error: str = ""
    cpu_s: float = 0.0  # CPU time of the worker and its children (ffmpeg, eSpeak) for this clip


@dataclass
class CorpusResult:
    out: Path
    clips: list[ClipResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[ClipResult]:
        return [c for c in self.clips if c.status == "failed"]

    def count(self, status: str) -> int:
        return sum(c.status == status for c in self.clips)


# ---------------------------------------------------------------------------- one clip
def generate_clip(name: RavdessName | str, out: Path, cfg: SynthConfig = SynthConfig(), seed: int = 0) -> ClipResult:
    """Generate one clip's video and ground truth (atomically); skip it when both exist."""
    from pipeline.sources.synth.drive import drive_face
    from pipeline.sources.synth.emotion import emotion_prosody, expression_curves
    from pipeline.sources.synth.motion import blinks, head_motion, speech_envelope
    from pipeline.sources.synth.speech import Prosody, synthesize
    from pipeline.sources.synth.video import ClipWriter, even_region
    from pipeline.sources.synth.visemes import VisemeConfig, articulation_curves

    name = parse_name(name) if isinstance(name, str) else name
    out = Path(out)
    video_path, gt_path = clip_paths(out, name)
    if video_path.is_file() and gt_path.is_file():
        return ClipResult(name.clip_id, "skipped")
    t0, c0 = time.perf_counter(), _cpu_seconds()
    st = resources(cfg)
    model, layer, camera = st["model"], st["layer"], st["camera"]
    rng = np.random.default_rng([int(seed), name.actor, name.emotion, name.intensity, name.statement, name.repetition])
    actor = make_clip_actor(name.actor, cfg, seed)
    emotion, strong = name.emotion_name, name.intensity == 2
    # speech: the actor's voice, moved by emotion and intensity, a little different per take
    pro = emotion_prosody(actor.prosody, emotion, name.intensity, cfg.emotion)
    pro = Prosody(
        rate=int(round(pro.rate * rng.uniform(0.96, 1.04))), pitch=pro.pitch + int(rng.integers(-2, 3)),
        pitch_range=pro.pitch_range, gain=pro.gain,
    ).clamped()
    speech = synthesize(STATEMENTS[name.statement - 1], actor.voice, pro)
    lead = float(rng.uniform(*cfg.lead_s))
    tail = float(rng.uniform(*cfg.tail_s))
    duration = max(lead + speech.duration_s + tail, cfg.min_duration_s)
    n_frames = int(round(duration * cfg.fps))
    sr = speech.sample_rate
    audio = np.zeros(int(round(n_frames / cfg.fps * sr)), np.float32)
    start = int(round(lead * sr))
    seg = speech.audio[: max(audio.shape[0] - start, 0)]
    audio[start : start + seg.shape[0]] = seg
    phonemes = [p.shifted(start / sr) for p in speech.phonemes]
    # face parameters
    vis = VisemeConfig(**{**to_dict(cfg.visemes), "jaw_gain": cfg.visemes.jaw_gain * actor.jaw_gain})
    art = articulation_curves(phonemes, n_frames, cfg.fps, vis, emphasis=float(np.clip(pro.gain / actor.prosody.gain, 0.8, 1.3)))
    expr = expression_curves(emotion, name.intensity, phonemes, n_frames, cfg.fps, rng, cfg.emotion, actor.expressiveness)
    env = speech_envelope(audio, sr, n_frames, cfg.fps)
    blink = blinks(n_frames, cfg.fps, actor.blink_rate, env > 0.05, rng)
    face = drive_face(model, layer, actor.shape, art, expr, blink, actor.eye_open, actor.smile_asymmetry, cfg.drive)
    k = 1.0 if strong else cfg.emotion.normal_scale
    rot, trans = head_motion(actor, emotion, k * actor.expressiveness, env, cfg.fps, rng)
    # render and encode
    rig = face_rig(actor, cfg, seed)
    points = rig.points(face.vertices.astype(np.float64), rot, trans, face.jaw.astype(np.float64))
    region = even_region(rig.region, cfg.width, cfg.height)
    gt = {
        "fps": np.float64(cfg.fps),
        "model": np.array(model.name),
        "shape": face.shape,
        "expression": face.expression,
        "expression_names": np.array(model.expression_names),
        "jaw": face.jaw,
        "head_rotation": rot.astype(np.float32),
        "head_translation": trans.astype(np.float32),
        "vertices": face.vertices,
        "camera": camera.as_array(),
        "mouth_opening": np.linalg.norm(face.vertices[:, UPPER_LIP_MID] - face.vertices[:, LOWER_LIP_MID], axis=1).astype(np.float32),
        "brow_raise": face.expression[:, model.expression_names.index("brow_raise")].copy(),
        "phonemes": np.array(json.dumps([p.as_dict() for p in phonemes])),
        "audio_sample_rate": np.int64(cfg.audio_rate),
        "photo": np.array(actor.photo),
        "generator": np.array(json.dumps({"version": GENERATOR_VERSION, "seed": int(seed), "voice": actor.voice,
                                          "photo": actor.photo, "photo_sha256": actor_photo(cfg, name.actor)[0].sha256})),
    }
    with atomic_write(gt_path, "wb") as fh:
        np.savez_compressed(fh, **gt)
    video_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(video_path) as tmp:
        with ClipWriter(tmp, cfg.width, cfg.height, cfg.fps, audio, sr, cfg.audio_rate, cfg.crf, cfg.preset) as wr:
            for p in points:
                wr.write(rig.render(p), region)
    return ClipResult(name.clip_id, "done", time.perf_counter() - t0, n_frames, cpu_s=_cpu_seconds() - c0)


def _cpu_seconds() -> float:
    """CPU seconds of this process plus its finished children (ffmpeg, the eSpeak forks)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _run_clip(args: tuple) -> ClipResult:
    name, out, cfg, seed = args
    try:
        return generate_clip(name, out, cfg, seed)
    except Exception as exc:  # noqa: BLE001 - recorded per clip, the build goes on
        return ClipResult(name.clip_id, "failed", error=f"{type(exc).__name__}: {exc}")


def _remove_stale_temporaries(out: Path) -> None:
    """Delete what a killed run left: hidden ``.<name>.*.tmp*`` files and ``.synth-*`` folders."""
    import shutil

    for folder in [out / "ground_truth", *out.glob("Actor_*")]:
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            if p.name.startswith(".synth-") and p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            elif p.name.startswith(".") and ".tmp" in p.name and p.is_file():
                p.unlink(missing_ok=True)


def _init_worker() -> None:
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's start-up chatter, once per worker
    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


# ---------------------------------------------------------------------------- the corpus
def generate_corpus(
    out: str | Path,
    actors: int | list[int] = 24,
    clips_per_actor: int = 60,
    seed: int = 0,
    workers: int = 1,
    fps: float | None = None,
    cfg: SynthConfig | None = None,
    progress=None,
) -> CorpusResult:
    """Generate (or finish) a corpus in ``out``.

    Args:
        actors: how many actors (1..N) or an explicit list of actor numbers.
        clips_per_actor: 60 for every speech trial, fewer for a balanced subset (:func:`plan_names`).
        seed: the corpus seed; the same seed gives the same ground truth.
        workers: processes (one clip per task); 1 runs in this process.
        fps: overrides ``cfg.fps`` (e.g. 29.97 like real RAVDESS).
        progress: optional callback ``progress(ClipResult, done, total)``.
    Raises ``ValueError`` when ``out`` holds a corpus made with another seed or config.
    """
    cfg = cfg or SynthConfig()
    if fps is not None:
        cfg = dataclasses.replace(cfg, fps=float(fps))
    if abs(cfg.fps - 30000 / 1001) < 0.006:  # "29.97" means NTSC's exact 30000/1001, as in RAVDESS
        cfg = dataclasses.replace(cfg, fps=30000 / 1001)
    out = Path(out)
    actor_list = list(range(1, actors + 1)) if isinstance(actors, int) else sorted(set(int(a) for a in actors))
    names = plan_names(actor_list, clips_per_actor)
    manifest_path = out / "synth_manifest.json"
    from pipeline.sources.synth.photoset import actor_photos, resolve_photos

    sources = resolve_photos(cfg.photos)  # every photo readable, with a face: else ValueError naming it
    settings = {"seed": int(seed), "config_hash": config_hash(cfg), "generator": GENERATOR_VERSION,
                "photo_sha256": [s.sha256 for s in sources]}
    if manifest_path.is_file():
        old = json.loads(manifest_path.read_text(encoding="utf-8"))
        if any(old.get(k) != v for k, v in settings.items()):
            raise ValueError(f"{out}: holds a corpus made with another seed, config or photos ({manifest_path}); choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(out)
    if not manifest_path.is_file():  # settings first, so that a killed run is recognised
        write_json_atomic(manifest_path, {**settings, "config": to_dict(cfg), "clips": [], "failures": {}})
    result = CorpusResult(out=out)
    t0 = time.perf_counter()
    tasks = [(n, out, cfg, int(seed)) for n in names]
    if workers <= 1:
        for i, task in enumerate(tasks):
            r = _run_clip(task)
            result.clips.append(r)
            if progress:
                progress(r, i + 1, len(tasks))
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"), initializer=_init_worker) as pool:
            futures = [pool.submit(_run_clip, task) for task in tasks]
            for i, fut in enumerate(as_completed(futures)):
                r = fut.result()
                result.clips.append(r)
                if progress:
                    progress(r, i + 1, len(tasks))
    result.clips.sort(key=lambda c: c.clip_id)
    result.seconds = time.perf_counter() - t0
    write_json_atomic(
        manifest_path,
        {
            **settings,
            "config": to_dict(cfg),
            "actors": actor_list,
            "clips_per_actor": clips_per_actor,
            "photos": [s.as_dict() for s in sources],
            "actor_photos": {str(a): pid for a, pid in actor_photos(actor_list, sources).items()},
            "clips": [c.clip_id for c in result.clips if c.status != "failed"],
            "failures": {c.clip_id: c.error for c in result.failed},
            "licences": {
                "speech": "eSpeak NG (GPL-3.0-or-later), called at run time from the espeakng-loader wheel",
                "photo": "; ".join(f"{s.id}: {s.origin} ({s.licence})" for s in sources),
                "face model": "demo head from the MediaPipe canonical face mesh (Apache-2.0); not FLAME",
            },
            "written": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "pid": os.getpid(),
        },
    )
    return result

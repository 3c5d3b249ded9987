"""Per-clip QA: metrics, flags and the arrays the report draws (curves, the overlay thumbnail,
the most expressive frame beside its mesh)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .config import QAConfig
from .ground_truth import ground_truth_metrics, load_ground_truth
from .metrics import av_mismatch_s, jitter, mouth_opening, reprojection_errors
from .expressive import FrontRenderer, encode_jpeg, face_crop, most_expressive_frame, pair_image
from .overlay import draw_overlay, mesh_in_image

__all__ = ["clip_qa", "clip_metrics", "flags_for", "qa_config"]


def qa_config(cfg: QAConfig | dict | None) -> QAConfig:
    from emoface.utils.config import from_dict

    if isinstance(cfg, QAConfig):
        return cfg
    return from_dict(QAConfig, cfg or {}, where="qa")


def _f(x: Any) -> float | None:
    """A JSON-safe float (NaN/inf -> None)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _f(obj)
    return obj


def clip_metrics(track, raw_fit, fit, vertices: np.ndarray, model, fps: float, audio_duration_s: float | None,
                 ground_truth: str | None = None, template: np.ndarray | None = None) -> tuple[dict, dict[str, np.ndarray]]:
    """All metrics of one clip (JSON-able dict) and the per-frame curves ``{name: (T,)}``.

    ``fit`` is the final (smoothed) fit whose meshes are ``vertices (T, V, 3)``; ``raw_fit``
    the fit before smoothing (for the before/after jitter and error), or ``None``;
    ``template (V, 3)`` the fitted template (computed from the fit's shape when ``None``).
    """
    from pipeline.fitting import canonicalize

    T = fit.n_frames
    m: dict[str, Any] = {"n_frames": T, "fps": float(fps), "detection_rate": float(track.valid.mean())}
    if getattr(track, "detector_note", ""):  # e.g. a detector whose accuracy is not measured here
        m["detector_note"] = track.detector_note
    m["interpolated_frames"] = int(np.asarray(fit.interpolated).sum())
    px, iod_frac, iod = reprojection_errors(fit, track, model)
    valid = track.valid
    m["inter_ocular_px"] = iod
    m["reprojection_px"] = float(np.median(px[valid])) if valid.any() else None
    m["reprojection_iod"] = float(np.median(iod_frac[valid])) if valid.any() else None
    m["reprojection_iod_p95"] = float(np.percentile(iod_frac[valid], 95)) if valid.any() else None
    j, jcurve = jitter(vertices)
    m["jitter_mm"] = j
    curves = {"reprojection_iod": iod_frac * 100.0, "jitter_mm": jcurve}
    if raw_fit is not None:
        _, raw_iod, _ = reprojection_errors(raw_fit, track, model)
        m["raw_reprojection_iod"] = float(np.median(raw_iod[valid])) if valid.any() else None
        raw_vertices, _ = canonicalize(raw_fit, None, model)
        m["raw_jitter_mm"] = jitter(raw_vertices)[0]
        curves["raw_reprojection_iod"] = raw_iod * 100.0
    if audio_duration_s is not None:
        m["audio_duration_s"] = float(audio_duration_s)
        m["av_mismatch_s"] = av_mismatch_s(T, fps, audio_duration_s)
    mouth = mouth_opening(vertices, model)
    if mouth is not None:
        curves["mouth_fit_mm"] = 1000.0 * mouth
    jaw = np.asarray(fit.jaw)[:, 0]
    curves["jaw_rad"] = jaw
    if ground_truth:
        gt = load_ground_truth(ground_truth)
        gm, gcurves = ground_truth_metrics(gt, vertices, fit, track, model, template)
        m["ground_truth"] = gm
        curves.update({f"gt_{k}" if not k.startswith("mouth") else k: v for k, v in gcurves.items()})
    return m, curves


def flags_for(m: dict, cfg: QAConfig) -> list[str]:
    """One-line reasons for every threshold a clip's metrics cross."""
    out = []
    if m.get("detection_rate") is not None and m["detection_rate"] < cfg.min_detection_rate:
        out.append(f"detection rate {m['detection_rate']:.2f} < {cfg.min_detection_rate:.2f}")
    r = m.get("reprojection_iod")
    if r is not None and r > cfg.max_reprojection_iod:
        out.append(f"median reprojection error {100 * r:.2f}% IOD > {100 * cfg.max_reprojection_iod:.2f}%")
    if m.get("jitter_mm") is not None and m["jitter_mm"] > cfg.max_jitter_mm:
        out.append(f"jitter {m['jitter_mm']:.3f} mm/frame^2 > {cfg.max_jitter_mm}")
    if m.get("av_mismatch_s") is not None and abs(m["av_mismatch_s"]) > cfg.max_av_mismatch_s:
        out.append(f"audio/video length mismatch {m['av_mismatch_s']:+.3f} s (limit {cfg.max_av_mismatch_s} s)")
    gt = m.get("ground_truth") or {}
    ve = (gt.get("vertex_error_mm") or {}).get("face")
    if ve is not None and ve > cfg.max_vertex_error_mm:
        out.append(f"vertex error {ve:.2f} mm > {cfg.max_vertex_error_mm} mm (ground truth)")
    mc = gt.get("mouth_correlation")
    if mc is not None and np.isfinite(mc) and mc < cfg.min_mouth_correlation:
        out.append(f"mouth-opening correlation {mc:.3f} < {cfg.min_mouth_correlation} (ground truth)")
    return out


def _overlay(decoded: dict, track, fit, vertices: np.ndarray, model, size: int) -> np.ndarray | None:
    thumbs = decoded.get("thumbnails")
    frames = decoded.get("thumbnail_frames")
    if thumbs is None or frames is None or len(thumbs) == 0:
        return None
    frames = np.clip(np.asarray(frames, np.int64), 0, fit.n_frames - 1)
    order = np.argsort(np.abs(frames - fit.n_frames / 2))
    pick = next((int(i) for i in order if track.valid[frames[i]]), int(order[0]))
    t = int(frames[pick])
    scale = float(np.asarray(decoded.get("thumbnail_scale", 1.0)))
    lmk = track.landmarks[t, :, :2] if track.valid[t] else None
    mesh = mesh_in_image(vertices[t], fit.head_rotation[t], fit.head_translation[t], fit.camera)
    return draw_overlay(np.asarray(thumbs[pick]), scale, lmk, mesh, model.faces, size)


def _expressive_pair(inputs, fps: float, size: int, m: dict, arrays: dict[str, np.ndarray],
                     renderer: FrontRenderer | None) -> None:
    """``m["expressive_frame"]`` and, when the source video can be read and the mesh rendered,
    ``arrays["expressive_pair"]``: the JPEG bytes of that video frame beside the front-facing mesh."""
    from emoface.render.gl import RenderUnavailable
    from emoface.render.renderer import RenderConfig
    from emoface.utils.media import MediaError, read_frame

    template = getattr(inputs, "template", None)
    if template is None or not len(inputs.vertices):
        return
    fit, track, model = inputs.fit, inputs.track, inputs.model
    ef = most_expressive_frame(inputs.vertices, template, fps, getattr(track, "valid", None))
    info: dict[str, Any] = ef.as_dict()
    m["expressive_frame"] = info
    source = getattr(inputs, "source", None)
    if not source or size <= 0:
        return
    t = ef.frame
    try:
        frame = read_frame(source, t, fps)
        mesh = mesh_in_image(inputs.vertices[t], fit.head_rotation[t], fit.head_translation[t], fit.camera)
        mesh = mesh * (frame.shape[1] / float(getattr(fit.camera, "width", frame.shape[1]) or frame.shape[1]))
        crop = face_crop(frame, mesh, size, RenderConfig().fill)
        args = (inputs.vertices[t], template, model.faces, size, getattr(model, "face_groups", None))
        if renderer is None:
            with FrontRenderer() as once:
                render = once.render(*args)
        else:
            render = renderer.render(*args)
    except (MediaError, RenderUnavailable) as exc:
        info["note"] = f"no picture: {exc}"
        return
    labels = (f"video, frame {t} ({ef.time_s:.2f} s)", f"fitted mesh, front ({ef.offset_mm:.1f} mm)")
    arrays["expressive_pair"] = np.frombuffer(encode_jpeg(pair_image(crop, render, labels)), np.uint8)


def clip_qa(inputs, cfg: QAConfig | dict | None = None, renderer: FrontRenderer | None = None) -> dict[str, Any]:
    """QA of one clip for the ``qa`` stage (:class:`pipeline.stages.backend.QAInputs`).

    Returns ``{"metrics", "flags", "status" ("ok" | "flagged"), "arrays"}``; ``arrays``
    holds per-frame curves (float32), ``overlay`` (the thumbnail, uint8) and
    ``expressive_pair`` (JPEG bytes, uint8: the most expressive frame of the source video,
    ``inputs.source``, beside the fitted front-facing mesh, each ``pair_size`` px square) for the
    report; ``metrics["expressive_frame"]`` names that frame. ``renderer``: a
    :class:`FrontRenderer` kept across clips (one is made and closed for this clip otherwise).
    """
    qc = qa_config(cfg)
    dec = inputs.decoded or {}
    fps = float(np.asarray(dec.get("fps", inputs.track.fps)))
    audio_s = dec.get("audio_duration_s")
    audio_s = None if audio_s is None else float(np.asarray(audio_s))
    m, curves = clip_metrics(inputs.track, inputs.raw_fit, inputs.fit, inputs.vertices, inputs.model, fps, audio_s,
                             inputs.ground_truth, getattr(inputs, "template", None))
    arrays: dict[str, np.ndarray] = {k: np.asarray(v, np.float32) for k, v in curves.items()}
    _expressive_pair(inputs, fps, qc.pair_size, m, arrays, renderer)
    m = _clean(m)
    flags = flags_for(m, qc)
    ov = _overlay(dec, inputs.track, inputs.fit, inputs.vertices, inputs.model, qc.thumbnail_size)
    if ov is not None:
        arrays["overlay"] = ov
    return {"metrics": m, "flags": flags, "status": "flagged" if flags else "ok", "arrays": arrays}

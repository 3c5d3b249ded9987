"""Stage ``qa`` (per clip) and the report (a barrier over every clip): thin wrappers around ``pipeline.qa``.

``work/qa/<clip_id>.npz`` holds ``qa_json`` (the JSON text of the clip's metrics and flags,
as returned by the back end's ``clip_qa``) and, under ``arrays/<name>``, any arrays it
returned for the report (error curves, overlays). The report task hands every clip's
result, every failure and every skipped input to the back end's ``write_report``, which
writes ``OUT/qa/report.html`` and ``OUT/qa/report.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipeline.sources.manifest import SourceClip
from pipeline.stages.backend import QAInputs
from pipeline.stages.fitstages import load_fit, load_track
from pipeline.stages.outcome import TaskResult, run_stage
from pipeline.stages.records import Failure
from pipeline.stages.runtime import TaskContext
from pipeline.stages.store import ClipError, combine_hashes

__all__ = ["qa_stage", "read_qa", "run_report_task", "report_input", "add_oracle", "oracle_actor", "oracle_extra"]


def qa_stage(ctx: TaskContext, clip: SourceClip, memo: dict) -> tuple[str, str]:
    store = ctx.store
    cid = clip.clip_id
    canonical = memo.get("canonical") or store.load_npz("canonical", cid)
    inputs = QAInputs(
        clip_id=cid,
        subject=clip.subject,
        decoded=store.load_npz("decode", cid),
        track=memo.get("track") or load_track(ctx, cid),
        raw_fit=memo.get("fit") or load_fit(ctx, "fit", cid),
        fit=memo.get("smooth") or load_fit(ctx, "smooth", cid),
        vertices=canonical["vertices"],
        template=canonical["template"],
        model=ctx.model(),
        ground_truth=clip.ground_truth,
        source=clip.path,
    )
    result = dict(ctx.backend.clip_qa(inputs, ctx.cfg.qa))
    arrays = result.pop("arrays", None) or {}
    payload: dict[str, np.ndarray] = {"qa_json": np.asarray(json.dumps(result, sort_keys=True, default=_plain))}
    payload.update({f"arrays/{k}": np.asarray(v) for k, v in arrays.items()})
    return store.write_npz("qa", cid, payload)


def _plain(obj: object) -> object:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def read_qa(path: str | Path) -> dict[str, object]:
    """A clip's QA result (the JSON part) from its ``work/qa/<clip_id>.npz``."""
    with np.load(path, allow_pickle=False) as z:
        return json.loads(str(z["qa_json"]))


def oracle_actor(ctx: TaskContext, tracks: list[object], ground_truths: list[str],
                 decoded: list[dict[str, np.ndarray]]) -> list[dict[str, object]]:
    """The oracle of one actor's clips: the oracle's ``tracks`` (the back end's, made from
    :func:`pipeline.qa.oracle.oracle_arrays`) through the back end's identity fit, clip fit, smoother,
    canonical meshes and per-clip QA, as the build runs them (no pictures, no thumbnails). One
    ``{"qa": {metrics, flags, status}, "arrays": {...}}`` per clip (the arrays:
    :data:`pipeline.qa.oracle.ORACLE_ARRAYS`). A diverged or non-finite result raises ``ClipError``.
    """
    import dataclasses

    from pipeline.qa.oracle import ORACLE_ARRAYS

    be, model = ctx.backend, ctx.model()
    qc = dataclasses.replace(ctx.cfg.qa, pair_size=0, thumbnail_size=0)
    identity = be.fit_identity(tracks, model, ctx.cfg.fit, ctx.device)
    _finite(be.divergence(identity), "identity fit")
    out = []
    for track, gt, dec in zip(tracks, ground_truths, decoded):
        raw = be.fit_clip(track, identity, model, ctx.cfg.fit, ctx.device)
        _finite(be.divergence(raw), "fit")
        fit = be.smooth_clip(raw, ctx.cfg.smooth)
        _finite(be.divergence(fit), "smoothed fit")
        vertices, template = be.canonicalize(fit, identity, model)
        if not (np.isfinite(vertices).all() and np.isfinite(template).all()):
            _finite("non-finite vertices", "canonical meshes")
        inputs = QAInputs(clip_id=str(getattr(track, "clip_id", "")), subject="", track=track, raw_fit=raw, fit=fit,
                          decoded={k: dec[k] for k in ("fps", "audio_duration_s") if k in dec},  # no thumbnails
                          vertices=vertices, template=template, model=model, ground_truth=gt, source=None)
        res = dict(be.clip_qa(inputs, qc))
        arrays = {k: np.asarray(v) for k, v in (res.pop("arrays", None) or {}).items() if k in ORACLE_ARRAYS}
        if not all(np.isfinite(v).all() for v in arrays.values()):
            _finite("non-finite expression features", "QA")
        out.append({"qa": res, "arrays": arrays})
    return out


def _finite(reason: str | None, what: str) -> None:
    if reason:
        raise ClipError(f"oracle {what}: {reason}")


def add_oracle(ctx: TaskContext, rows: list[dict[str, object]], ground_truths: dict[str, object]) -> None:
    """``oracle.enabled``: each row whose clip has ground truth gets ``oracle``: the oracle's QA of that
    clip (:func:`oracle_actor`, one identity fit per actor over its clips with ground truth) and its
    ``noise_px``; or ``{"error": reason}`` for every clip of an actor whose oracle the data did not
    allow (a diverged fit, an unreadable truth or one that does not match the model or the track, a back
    end's model without the MediaPipe embedding). Anything else (a bug, memory) fails the report task,
    which is then retried on the next run. The noise of a clip is drawn with a seed from its clip id
    (``zlib.crc32``), so no two clips share it. It runs in the report task, on its CPU."""
    import zlib

    from pipeline.fitting import FitError
    from pipeline.qa import load_ground_truth
    from pipeline.qa.oracle import OracleError, oracle_arrays

    def truth(path: str):
        try:
            return load_ground_truth(path)
        except (OSError, ValueError) as exc:  # missing or malformed: the data's fault
            raise OracleError(str(exc)) from exc

    def timing(cid: str) -> dict[str, np.ndarray]:  # what the QA reads of the decode artefact, not its audio
        with np.load(ctx.store.artefact("decode", cid), allow_pickle=False) as z:
            return {k: z[k] for k in ("fps", "audio_duration_s") if k in z.files}

    by_actor: dict[str, list[dict[str, object]]] = {}
    for r in rows:
        if ground_truths.get(str(r["clip_id"])):
            by_actor.setdefault(str(r["subject"]), []).append(r)
    model = ctx.model()
    noise = ctx.cfg.oracle.noise_px
    for actor, members in sorted(by_actor.items()):
        try:
            tracks, gts, decoded = [], [], []
            for r in members:
                cid = str(r["clip_id"])
                gt = str(ground_truths[cid])
                arrays = oracle_arrays(ctx.store.load_npz("landmarks", cid), truth(gt), model, noise, zlib.crc32(cid.encode()))
                tracks.append(ctx.backend.make_track(arrays, cid))
                gts.append(gt)
                decoded.append(timing(cid))
            results = oracle_actor(ctx, tracks, gts, decoded)
        except (OracleError, ClipError, FitError) as exc:  # the data's fault
            reason = f"{actor}: {exc}".splitlines()[0]
            for r in members:
                r["oracle"] = {"error": reason}
            continue
        for r, res in zip(members, results):
            r["oracle"] = {**res, "noise_px": noise}


def oracle_extra(ctx: TaskContext) -> dict[str, str] | None:
    """What the report's oracle depends on beyond the clips' QA, for its config hash (``None`` when it is off, so
    that a fit setting or the fitting code redoes the report only when the oracle fits the clips again): its own
    settings, the fit's and the smoother's config hashes and the fit's code version (the fitting code, the model)."""
    if not ctx.cfg.oracle.enabled:
        return None
    from emoface.utils.config import config_hash, to_dict
    from pipeline.stages.runtime import stage_hashes

    _, fit_cfg, fit_code = stage_hashes(ctx, "fit", "")
    _, smooth_cfg, _ = stage_hashes(ctx, "smooth", "")
    return {"oracle": config_hash({"oracle": to_dict(ctx.cfg.oracle), "fit": fit_cfg, "smooth": smooth_cfg, "code": fit_code})}


def report_input(qa_hashes: list[tuple[str, str]], failures: list[Failure], skipped: list[dict]) -> str:
    return combine_hashes(sorted(qa_hashes), [f.report_row() for f in failures], skipped)


def run_report_task(ctx: TaskContext, clips: list[dict[str, object]], failures: list[Failure],
                    skipped: list[dict[str, object]]) -> TaskResult:
    """``clips``: ``{clip_id, subject, emotion, intensity, statement, repetition, qa_hash}`` of clips with QA."""
    store = ctx.store
    qa_dir = Path(ctx.out) / "qa"

    key_input = report_input([(c["clip_id"], c["qa_hash"]) for c in clips], failures, skipped)

    def compute() -> tuple[str, str]:
        rows = []
        for c in sorted(clips, key=lambda c: c["clip_id"]):
            path = store.artefact("qa", c["clip_id"])
            rows.append({**{k: v for k, v in c.items() if k not in ("qa_hash", "ground_truth")}, "qa": read_qa(path),
                         "artefact": str(path), "decode": str(store.artefact("decode", c["clip_id"]))})
        if ctx.cfg.oracle.enabled:
            add_oracle(ctx, rows, {str(c["clip_id"]): c.get("ground_truth") for c in clips})
        written = ctx.backend.write_report(qa_dir, rows, [f.report_row() for f in failures], skipped, ctx.cfg.qa, store.work)
        digest = combine_hashes(sorted(Path(p).name for p in written), key_input)
        return "../../qa/report.json", digest

    return TaskResult("report", "report", [run_stage(ctx, "report", "report", key_input, compute, extra=oracle_extra(ctx))])

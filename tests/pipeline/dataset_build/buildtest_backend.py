"""A small, deterministic back end for testing the build framework without the real fitter.

It follows the :class:`pipeline.stages.backend.Fitter` protocol exactly (files, hashes, failures
travel the same way) but its "fit" reads the answer off the detector: expression = blendshapes,
head pose from MediaPipe's transforms, vertices = the canonical mesh moved by jawOpen.
``backend_options: {diverge: [clip ids]}`` makes those clips' fits NaN, the way a diverged
solver would; ``backend_options: {crash: [clip ids]}`` kills the worker process fitting them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from emoface.utils.atomic import atomic_path, write_json_atomic
from pipeline.stages.backend import Backend, DefaultBackend, QAInputs, Topology, sources_hash


@dataclass
class DetectorIdentity:
    shape: np.ndarray
    n_frames: int

    def save(self, path) -> None:
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, shape=self.shape, n_frames=self.n_frames)

    @classmethod
    def load(cls, path) -> "DetectorIdentity":
        with np.load(path) as z:
            return cls(z["shape"], int(z["n_frames"]))


@dataclass
class DetectorFit:
    expression: np.ndarray
    head_rotation: np.ndarray
    head_translation: np.ndarray
    fit_error: np.ndarray
    converged: bool = True

    def save(self, path) -> None:
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, expression=self.expression, head_rotation=self.head_rotation,
                     head_translation=self.head_translation, fit_error=self.fit_error, converged=self.converged)

    @classmethod
    def load(cls, path) -> "DetectorFit":
        with np.load(path) as z:
            return cls(z["expression"], z["head_rotation"], z["head_translation"], z["fit_error"], bool(z["converged"]))


@dataclass
class DetectorOptions:
    diverge: list[str] = field(default_factory=list)
    crash: list[str] = field(default_factory=list)


class DetectorBackend(Backend[dict, DetectorIdentity, DetectorFit, SimpleNamespace]):
    Options = DetectorOptions

    def code_version(self, stage) -> str:
        return sources_hash("buildtest_backend")

    def load_model(self, spec: str):
        from tools.demo_head.canonical_mesh import load_canonical_mesh

        mesh = load_canonical_mesh()
        v = (mesh.vertices / 100.0).astype(np.float32)
        lower = np.where(v[:, 1] < v[13, 1])[0].astype(np.int32)
        return SimpleNamespace(name="test-head", faces=mesh.faces.astype(np.int32), v_template=v,
                               regions={"lips": lower[:40], "face": np.arange(len(v), dtype=np.int32)}, lower=lower)

    def topology(self, model) -> Topology:
        return Topology(model.faces, model.regions, model.name, f"test-head-{len(model.v_template)}", len(model.v_template))

    def make_track(self, arrays, clip_id):
        return {**arrays, "clip_id": clip_id}

    def save(self, obj, path: Path) -> None:
        obj.save(path)

    def load_identity(self, path: Path) -> DetectorIdentity:
        return DetectorIdentity.load(path)

    def load_fit(self, path: Path) -> DetectorFit:
        return DetectorFit.load(path)

    def fit_identity(self, tracks, model, cfg, device):
        lmk = np.concatenate([t["landmarks"][t["valid"]] for t in tracks])
        iod = np.linalg.norm(lmk[:, 33, :2] - lmk[:, 263, :2], axis=-1)
        return DetectorIdentity(np.asarray([np.median(iod)], np.float32), int(len(lmk)))

    def fit_clip(self, track, identity, model, cfg, device):
        from scipy.spatial.transform import Rotation

        if track["clip_id"] in self.options.crash:
            import os

            os._exit(3)  # a worker process that dies (segfault, OOM kill) without a Python exception
        t = len(track["valid"])
        rot = Rotation.from_matrix(track["transforms"][:, :3, :3].astype(np.float64)).as_rotvec().astype(np.float32)
        err = np.where(track["valid"], 0.5, -1.0).astype(np.float32)
        fit = DetectorFit(track["blendshapes"].astype(np.float32), rot, track["transforms"][:, :3, 3] / 100.0, err)
        if track["clip_id"] in self.options.diverge:
            fit.expression = np.full((t, fit.expression.shape[1]), np.nan, np.float32)
        return fit

    def smooth_clip(self, fit, cfg):
        k = np.array([0.25, 0.5, 0.25], np.float32)
        pad = np.pad(fit.expression, ((1, 1), (0, 0)), mode="edge")
        smoothed = k[0] * pad[:-2] + k[1] * pad[1:-1] + k[2] * pad[2:]
        return DetectorFit(smoothed.astype(np.float32), fit.head_rotation, fit.head_translation, fit.fit_error, fit.converged)

    def canonicalize(self, fit, identity, model):
        jaw = fit.expression[:, 25]  # jawOpen
        v = np.repeat(model.v_template[None], len(jaw), axis=0).copy()
        v[:, model.lower, 1] -= 0.01 * jaw[:, None] * float(identity.shape[0]) / 100.0
        return v, model.v_template

    def clip_params(self, fit):
        t = len(fit.expression)
        return {"expression": fit.expression, "head_rotation": fit.head_rotation, "head_translation": fit.head_translation,
                "jaw": np.zeros((t, 3), np.float32)}

    def fit_error(self, fit):
        return fit.fit_error

    def clip_qa(self, inputs: QAInputs, cfg):
        valid = np.asarray(inputs.track["valid"], bool)
        mismatch = float(inputs.decoded["audio_duration_s"]) - float(inputs.decoded["n_frames"]) / float(inputs.decoded["fps"])
        flags = ["low_detection"] if valid.mean() < cfg.min_detection_rate else []
        return {"metrics": {"detection_rate": float(valid.mean()), "av_mismatch_s": mismatch, "n_frames": int(len(valid))},
                "flags": flags, "arrays": {"fit_error": inputs.fit.fit_error}}

    def write_report(self, out_dir, clips, failures, skipped, cfg, work):
        out_dir = Path(out_dir)
        data = {"clips": [{"clip_id": c["clip_id"], **c["qa"]} for c in clips], "failures": failures, "skipped": skipped}
        write_json_atomic(out_dir / "report.json", data)
        rows = "".join(f"<tr><td>{f['clip_id']}</td><td>{f['stage']}</td><td>{f['reason']}</td></tr>" for f in failures)
        with atomic_path(out_dir / "report.html") as tmp:
            tmp.write_text(f"<html><body><table>{rows}</table><pre>{json.dumps(data['clips'])}</pre></body></html>")
        return [out_dir / "report.json", out_dir / "report.html"]


class RealFitDetectorQA(DefaultBackend):
    """The real fitter (emoface.morphable + pipeline.fitting) with this module's QA and report.

    Used by the real-clip test while ``pipeline.qa`` is not importable.
    """

    def code_version(self, stage: str) -> str:
        return super().code_version(stage) + sources_hash("buildtest_backend")

    def clip_qa(self, inputs, cfg):
        track = {"valid": inputs.track.valid}
        err = np.asarray(inputs.fit.fit_error_iod)
        shim = QAInputs(inputs.clip_id, inputs.subject, inputs.decoded, track, inputs.raw_fit, inputs.fit,
                        inputs.vertices, inputs.template, inputs.model, inputs.ground_truth)
        out = DetectorBackend.clip_qa(self, shim, cfg)
        out["metrics"]["median_error_iod"] = float(np.median(err[err >= 0]))
        return out

    write_report = DetectorBackend.write_report

"""Linear blend skinning for FLAME-format models, batched over frames, in torch.

The standard SMPL/FLAME recipe (Loper et al. 2015; Li et al. 2017):

1. ``v_shaped = v_template + shapedirs @ shape + exprdirs @ expression``
2. joints ``J = J_regressor @ v_shaped``
3. per-joint rotations from axis-angle; pose correctives
   ``v_posed = v_shaped + posedirs @ vec(R_j - I for j >= 1)`` (row-major 3x3 per joint)
4. world transforms along the kinematic chain ``parents``; each vertex is moved by the
   ``lbs_weights``-blend of the joints' (world @ inverse-bind) transforms
5. ``+ translation``.

Joints follow FLAME: 0 root (global rotation), 1 neck, 2 jaw, 3 left eye, 4 right eye.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from emoface.mesh.camera import axis_angle_to_matrix

__all__ = ["lbs", "MorphableLayer", "MorphableOutput", "landmarks_from_vertices"]


@dataclass
class MorphableOutput:
    """Result of :class:`MorphableLayer`.

    ``vertices (B, V, 3)`` metres, ``joints (B, J, 3)`` metres (posed), ``landmarks (B, L, 3)``
    metres or ``None`` when no embedding was asked for / available.
    """

    vertices: torch.Tensor
    joints: torch.Tensor
    landmarks: torch.Tensor | None = None


def _rigid_transforms(rot: torch.Tensor, joints: torch.Tensor, parents: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Chain local rotations ``rot (B,J,3,3)`` about rest joints ``joints (B,J,3)``.

    Returns posed joints ``(B,J,3)`` and skinning transforms ``(B,J,4,4)`` that map rest-pose
    points to posed points for each joint.
    """
    B, J = joints.shape[:2]
    rel = joints.clone()
    for j in range(1, J):
        rel[:, j] = joints[:, j] - joints[:, parents[j]]
    local = torch.zeros(B, J, 4, 4, dtype=rot.dtype, device=rot.device)
    local[:, :, :3, :3] = rot
    local[:, :, :3, 3] = rel
    local[:, :, 3, 3] = 1.0
    chain = [local[:, 0]]
    for j in range(1, J):
        chain.append(chain[parents[j]] @ local[:, j])
    world = torch.stack(chain, dim=1)  # (B,J,4,4)
    posed_joints = world[:, :, :3, 3]
    # remove the rest-pose joint location: T_j = world_j @ [I | -J_j]
    offset = (world[:, :, :3, :3] @ joints.unsqueeze(-1)).squeeze(-1)
    skin = world.clone()
    skin[:, :, :3, 3] = world[:, :, :3, 3] - offset
    return posed_joints, skin


def lbs(
    shape: torch.Tensor,
    expression: torch.Tensor,
    pose: torch.Tensor,
    v_template: torch.Tensor,
    shapedirs: torch.Tensor,
    exprdirs: torch.Tensor,
    posedirs: torch.Tensor,
    J_regressor: torch.Tensor,
    parents: list[int],
    lbs_weights: torch.Tensor,
    translation: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched LBS.

    Args:
        shape: ``(B, S)`` shape coefficients.
        expression: ``(B, E)`` expression coefficients.
        pose: ``(B, J, 3)`` axis-angle (radians) per joint.
        v_template: ``(V, 3)`` metres; shapedirs ``(V, 3, S)``; exprdirs ``(V, 3, E)``;
            posedirs ``(V, 3, 9*(J-1))``; J_regressor ``(J, V)``; lbs_weights ``(V, J)``.
        parents: length-J list, ``parents[0] == -1``.
        translation: ``(B, 3)`` metres or None.

    Returns:
        vertices ``(B, V, 3)`` and posed joints ``(B, J, 3)``, metres.
    """
    B = pose.shape[0]
    v = v_template.unsqueeze(0) + torch.einsum("vcs,bs->bvc", shapedirs, shape)
    if exprdirs.shape[-1] > 0:
        v = v + torch.einsum("vce,be->bvc", exprdirs, expression)
    joints = torch.einsum("jv,bvc->bjc", J_regressor, v)
    rot = axis_angle_to_matrix(pose)  # (B,J,3,3)
    if posedirs.shape[-1] > 0:
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
        feat = (rot[:, 1:] - eye).reshape(B, -1)
        v = v + torch.einsum("vcp,bp->bvc", posedirs, feat[:, : posedirs.shape[-1]])
    posed_joints, skin = _rigid_transforms(rot, joints, parents)
    T = torch.einsum("vj,bjrc->bvrc", lbs_weights, skin)  # (B,V,4,4)
    verts = (T[..., :3, :3] @ v.unsqueeze(-1)).squeeze(-1) + T[..., :3, 3]
    if translation is not None:
        verts = verts + translation[:, None, :]
        posed_joints = posed_joints + translation[:, None, :]
    return verts, posed_joints


def landmarks_from_vertices(vertices: torch.Tensor, faces: torch.Tensor, face_idx: torch.Tensor, bary: torch.Tensor) -> torch.Tensor:
    """Barycentric landmarks: ``vertices (B,V,3)``, ``faces (F,3)``, ``face_idx (L,)``, ``bary (L,3)`` -> ``(B,L,3)``."""
    tri = faces[face_idx]  # (L,3)
    corners = vertices[:, tri]  # (B,L,3,3)
    return (corners * bary[None, :, :, None]).sum(dim=2)


_DEFAULT = "__default__"


class MorphableLayer(nn.Module):
    """Torch layer over a :class:`~emoface.morphable.model.MorphableModel`.

    ``layer(shape=(B,S), expression=(B,E), global_rot=(B,3), neck=(B,3), jaw=(B,3), eyes=(B,6),
    translation=(B,3), landmarks="mediapipe")`` -> :class:`MorphableOutput`. Any argument left
    out is zero. ``shape``/``expression`` may be shorter than S/E (the rest are zero). The
    default ``landmarks`` uses the ``mediapipe`` embedding when the model has one (else
    ``None``); an explicitly named embedding that the model lacks is an error.
    """

    def __init__(self, model, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None):
        super().__init__()
        self.model_name = model.name
        self.n_shape = model.shapedirs.shape[-1]
        self.n_expr = model.exprdirs.shape[-1]
        self.n_joints = model.J_regressor.shape[0]
        if self.n_joints != 5:
            raise ValueError(f"{model.name}: expected the 5 FLAME joints, got {self.n_joints}")
        self.parents = [int(p) for p in model.parents]

        def buf(name: str, arr: np.ndarray, dt: torch.dtype = dtype) -> None:
            self.register_buffer(name, torch.as_tensor(np.ascontiguousarray(arr), dtype=dt, device=device), persistent=False)

        buf("v_template", model.v_template)
        buf("shapedirs", model.shapedirs)
        buf("exprdirs", model.exprdirs)
        buf("posedirs", model.posedirs)
        buf("J_regressor", model.J_regressor)
        buf("lbs_weights", model.lbs_weights)
        buf("faces", model.faces, torch.long)
        self._embeddings: list[str] = []
        for name, emb in model.landmark_embeddings.items():
            key = self._emb_key(name)
            buf(f"{key}_face_idx", emb.face_idx, torch.long)
            buf(f"{key}_bary", emb.bary)
            self._embeddings.append(name)

    @staticmethod
    def _emb_key(name: str) -> str:
        return "lmk_" + "".join(c if c.isalnum() else "_" for c in name)

    @property
    def embeddings(self) -> list[str]:
        return list(self._embeddings)

    def forward(
        self,
        shape: torch.Tensor | None = None,
        expression: torch.Tensor | None = None,
        global_rot: torch.Tensor | None = None,
        neck: torch.Tensor | None = None,
        jaw: torch.Tensor | None = None,
        eyes: torch.Tensor | None = None,
        translation: torch.Tensor | None = None,
        landmarks: str | None = _DEFAULT,
    ) -> MorphableOutput:
        given = [t for t in (shape, expression, global_rot, neck, jaw, eyes, translation) if t is not None]
        B = given[0].shape[0] if given else 1
        ref = self.v_template

        def pad(t: torch.Tensor | None, n: int, what: str) -> torch.Tensor:
            if t is None:
                return ref.new_zeros(B, n)
            t = t.to(ref.dtype)
            if t.ndim != 2 or t.shape[0] != B:
                raise ValueError(f"{what}: expected ({B}, <= {n}), got {tuple(t.shape)}")
            if t.shape[1] > n:
                raise ValueError(f"{what}: the model has {n} coefficients, got {t.shape[1]}")
            if t.shape[1] < n:
                t = torch.cat([t, t.new_zeros(B, n - t.shape[1])], dim=1)
            return t

        def vec3(t: torch.Tensor | None, n: int, what: str) -> torch.Tensor:
            if t is None:
                return ref.new_zeros(B, n)
            if tuple(t.shape) != (B, n):
                raise ValueError(f"{what}: expected ({B}, {n}), got {tuple(t.shape)}")
            return t.to(ref.dtype)

        pose = torch.cat(
            [vec3(global_rot, 3, "global_rot"), vec3(neck, 3, "neck"), vec3(jaw, 3, "jaw"), vec3(eyes, 6, "eyes")], dim=1
        ).reshape(B, 5, 3)
        verts, joints = lbs(
            pad(shape, self.n_shape, "shape"),
            pad(expression, self.n_expr, "expression"),
            pose,
            self.v_template,
            self.shapedirs,
            self.exprdirs,
            self.posedirs,
            self.J_regressor,
            self.parents,
            self.lbs_weights,
            None if translation is None else vec3(translation, 3, "translation"),
        )
        lmk = None
        name = landmarks
        if landmarks == _DEFAULT:
            name = "mediapipe" if "mediapipe" in self._embeddings else None
        if name is not None:
            if name not in self._embeddings:
                raise KeyError(f"{self.model_name}: no landmark embedding '{name}' (available: {self._embeddings})")
            key = self._emb_key(name)
            lmk = landmarks_from_vertices(verts, self.faces, getattr(self, f"{key}_face_idx"), getattr(self, f"{key}_bary"))
        return MorphableOutput(vertices=verts, joints=joints, landmarks=lmk)

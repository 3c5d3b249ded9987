"""The morphable model reduced to its landmarks, with analytic Jacobians, for fast fitting.

Fitting only ever needs the ``L`` embedded landmarks, never the full mesh, so the model's
bases are folded through the landmark embedding (barycentric weights) and the jaw's
skinning weights once, per model. With the global rotation, neck and eyes at zero (the
head pose is applied outside the model, see docs/architecture.md), FLAME's LBS reduces to
a rotation of the jaw-skinned part about the jaw joint, so a landmark is

``q = a + R_jaw (c - w J_jaw) + w J_jaw`` with
``a = sum_k b_k (1 - w_k) v_k``, ``c = sum_k b_k w_k v_k``, ``w = sum_k b_k w_k``,
``v = T + S shape + E expression + P vec(R_jaw - I)`` (pose correctives),
``J_jaw = J_regressor[jaw] @ (T + S shape + E expression)``,

and in the camera ``p = R_head q + t`` projects through the pinhole camera. Everything is
linear in ``shape`` and ``expression``, which keeps Gauss-Newton cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from emoface.mesh.camera import axis_angle_to_matrix

from .landmark_groups import detector_indices, select_landmarks

__all__ = ["LandmarkModel", "Evaluation", "skew", "right_jacobian", "choose_embedding"]


def _mm3(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for many tiny matrices whose inner dimension is 3 (broadcast), as 3 fused sums."""
    return a[..., :, 0:1] * b[..., 0:1, :] + a[..., :, 1:2] * b[..., 1:2, :] + a[..., :, 2:3] * b[..., 2:3, :]

JAW = 2  # FLAME joint order: root, neck, jaw, left eye, right eye


def skew(v: torch.Tensor) -> torch.Tensor:
    """``(..., 3)`` -> cross-product matrices ``(..., 3, 3)``."""
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], dim=-1).reshape(*v.shape[:-1], 3, 3)


def right_jacobian(aa: torch.Tensor) -> torch.Tensor:
    """Right Jacobian of SO(3) at axis-angle ``aa (..., 3)``: ``R(aa + d) ~ R(aa) exp(Jr d)``."""
    t2 = (aa * aa).sum(-1, keepdim=True)[..., None]
    t = torch.sqrt(t2.clamp_min(1e-12))
    small = t2 < 1e-6
    a = torch.where(small, 0.5 - t2 / 24.0, (1.0 - torch.cos(t)) / t2.clamp_min(1e-12))
    b = torch.where(small, 1.0 / 6.0 - t2 / 120.0, (t - torch.sin(t)) / (t2 * t).clamp_min(1e-18))
    k = skew(aa)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device)
    return eye - a * k + b * (k @ k)


def choose_embedding(model, requested: str = "auto") -> str:
    """The landmark embedding to fit: ``requested``, or (``auto``) mediapipe, ibug68, ibug51."""
    names = list(model.landmark_embeddings)
    if requested != "auto":
        if requested not in names:
            raise ValueError(f"{model.name}: no landmark embedding {requested!r} (available: {names})")
        return requested
    for name in ("mediapipe", "ibug68", "ibug51"):
        if name in names:
            return name
    if names:
        return names[0]
    raise ValueError(f"{model.name}: the model has no landmark embedding; fitting needs one")


@dataclass
class Evaluation:
    """Projected landmarks and (optionally) their Jacobians, batched over N frames.

    ``uv (N, L, 2)`` px; ``points (N, L, 3)`` camera metres. Jacobians are stored axis-major:
    ``jac (N, 2, K, L)`` for the per-frame parameters ``[expression, jaw, rotation,
    translation]`` (``jac[n, i, k, l] = d uv[n, l, i] / d x[n, k]``); ``jac_shape (N, 2, S, L)``
    and ``jac_logf (N, 2, L)`` when asked for.
    """

    uv: torch.Tensor
    points: torch.Tensor
    jac: torch.Tensor | None = None
    jac_shape: torch.Tensor | None = None
    jac_logf: torch.Tensor | None = None


class LandmarkModel:
    """Landmark-level bases of a :class:`~emoface.morphable.MorphableModel`.

    Args:
        model: the morphable model (numpy arrays, metres).
        embedding: name of one of ``model.landmark_embeddings``.
        n_shape, n_expression: how many leading coefficients to fit.
        dtype, device: torch placement of the bases.
        max_landmarks: fit at most this many of the embedding's points (0 = all), see
            :func:`~pipeline.fitting.landmark_groups.select_landmarks`.

    Attributes: ``mp_index (L,)`` the MediaPipe detector point of each landmark, ``source_index (L,)``
    the embedding's own point numbers (see :func:`pipeline.fitting.schemes.track_columns`), ``n_shape``,
    ``n_expression``, ``expression_names`` (of the E fitted components), ``n_frame_params`` (= E + 9).
    """

    def __init__(self, model, embedding: str, n_shape: int, n_expression: int,
                 dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu", max_landmarks: int = 0):
        emb = model.landmark_embeddings[embedding]
        mp = detector_indices(embedding, emb.source_index)
        rows = select_landmarks(mp, emb.points(np.asarray(model.v_template), np.asarray(model.faces)), max_landmarks)
        emb = type(emb)(emb.face_idx[rows], emb.bary[rows], emb.source_index[rows])
        self.embedding = embedding
        self.model_name = model.name
        self.mp_index = mp[rows]
        self.source_index = emb.source_index  # the embedding's own point numbers (iBUG ones for ibug*)
        S = min(int(n_shape), model.shapedirs.shape[-1])
        E = min(int(n_expression), model.exprdirs.shape[-1])
        self.n_shape, self.n_expression = S, E
        self.expression_names = [str(n) for n in model.expression_names[:E]]
        self.n_frame_params = E + 9
        self.dtype, self.device = dtype, torch.device(device)

        parents = np.asarray(model.parents).astype(int)
        moved = np.zeros(len(parents), dtype=bool)  # joints that follow the jaw
        for j in range(len(parents)):
            k = j
            while k >= 0:
                if k == JAW:
                    moved[j] = True
                    break
                k = parents[k]
        wj = np.asarray(model.lbs_weights, np.float64)[:, moved].sum(1)  # (V,)
        tri = np.asarray(model.faces)[emb.face_idx]  # (L,3)
        bary = np.asarray(emb.bary, np.float64)  # (L,3)
        bw = bary * wj[tri]  # (L,3): barycentric x jaw weight
        bs = bary - bw

        def fold(x: np.ndarray, w: np.ndarray) -> np.ndarray:  # (V,3,k) -> (L,3,k)
            return np.einsum("lk,lkcj->lcj", w, np.asarray(x, np.float64)[tri])

        T = np.asarray(model.v_template, np.float64)[..., None]
        Sd = np.asarray(model.shapedirs, np.float64)[..., :S]
        Ed = np.asarray(model.exprdirs, np.float64)[..., :E]
        Pd = np.asarray(model.posedirs, np.float64)
        Pj = Pd[..., 9 * (JAW - 1): 9 * JAW] if Pd.shape[-1] >= 9 * JAW else np.zeros(T.shape[:2] + (9,))
        jr = model.J_regressor
        jr = np.asarray(jr.toarray() if hasattr(jr, "toarray") else jr, np.float64)[JAW]  # (V,)

        def t(x: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(x), dtype=dtype, device=self.device)

        self.A_T, self.C_T = t(fold(T, bs)[..., 0]), t(fold(T, bw)[..., 0])
        self.A_S, self.C_S = t(fold(Sd, bs)), t(fold(Sd, bw))
        self.A_E, self.C_E = t(fold(Ed, bs)), t(fold(Ed, bw))
        self.A_P, self.C_P = t(fold(Pj, bs)), t(fold(Pj, bw))
        self.omega = t(bw.sum(1))  # (L,)
        self.J_T = t(jr @ T[..., 0])
        self.J_S = t(np.einsum("v,vcs->cs", jr, Sd))
        self.J_E = t(np.einsum("v,vce->ce", jr, Ed))
        self.has_posedirs = bool(np.abs(Pj).max(initial=0.0) > 0)
        # d q / d coeffs = static + R_jaw inner: stacked as (6, k, L) planes for the Jacobian
        w = self.omega[:, None, None]

        def planes(static: torch.Tensor, inner: torch.Tensor) -> torch.Tensor:
            return torch.cat([static, inner], 1).permute(1, 2, 0).contiguous()

        self.P_E = planes(self.A_E + w * self.J_E[None], self.C_E - w * self.J_E[None])
        self.P_S = planes(self.A_S + w * self.J_S[None], self.C_S - w * self.J_S[None])
        self.P_P = planes(self.A_P, self.C_P)  # pose correctives do not move the joint

    @property
    def n_landmarks(self) -> int:
        return len(self.mp_index)

    def evaluate(self, shape: torch.Tensor, expression: torch.Tensor, jaw: torch.Tensor, rotation: torch.Tensor,
                 translation: torch.Tensor, fx: torch.Tensor | float, fy: torch.Tensor | float, cx: float, cy: float,
                 jacobian: bool = False, shape_jacobian: bool = False) -> Evaluation:
        """Project the landmarks of N frames.

        ``shape (S,)`` or ``(N, S)``; ``expression (N, E)``; ``jaw``, ``rotation`` ``(N, 3)`` rad;
        ``translation (N, 3)`` m; focal lengths and principal point in px.
        """
        N = expression.shape[0]
        if shape.ndim == 1:
            shape = shape.expand(N, -1)
        Rj = axis_angle_to_matrix(jaw)
        eye = torch.eye(3, dtype=jaw.dtype, device=jaw.device)
        feat = (Rj - eye).reshape(N, 9)
        a = self.A_T + torch.einsum("lcs,ns->nlc", self.A_S, shape) + torch.einsum("lce,ne->nlc", self.A_E, expression)
        c = self.C_T + torch.einsum("lcs,ns->nlc", self.C_S, shape) + torch.einsum("lce,ne->nlc", self.C_E, expression)
        if self.has_posedirs:
            a = a + torch.einsum("lcp,np->nlc", self.A_P, feat)
            c = c + torch.einsum("lcp,np->nlc", self.C_P, feat)
        Jj = self.J_T + shape @ self.J_S.T + expression @ self.J_E.T  # (N,3)
        w = self.omega[None, :, None]
        u = c - w * Jj[:, None]
        q = a + u @ Rj.transpose(1, 2) + w * Jj[:, None]
        Rg = axis_angle_to_matrix(rotation)
        p = q @ Rg.transpose(1, 2) + translation[:, None]
        d = (-p[..., 2]).clamp_min(1e-4)
        px, py = p[..., 0], p[..., 1]
        ux = cx + fx * px / d
        vy = cy - fy * py / d
        out = Evaluation(uv=torch.stack([ux, vy], -1), points=p)
        if not (jacobian or shape_jacobian):
            return out
        # Jacobians in the layout (N, 2, K, L): every column of every image axis is a contiguous
        # plane over the landmarks, so the per-point products stay vectorised and the normal
        # equations are one batched matrix product.
        # d uv / d p = [[pa, 0, pb], [0, pc, pd]] per point, (N, L) planes
        pa, pc = fx / d, -fy / d
        pb, pd = pa * px / d, pc * py / d
        # d uv / d q = pi R_head: (N, 2 (axis), 3 (component), L)
        pir = torch.stack([pa[:, None] * Rg[:, 0, :, None] + pb[:, None] * Rg[:, 2, :, None],
                           pc[:, None] * Rg[:, 1, :, None] + pd[:, None] * Rg[:, 2, :, None]], 1)
        # d uv / d (R_jaw x) = pi R_head R_jaw
        pirj = (pir[:, :, 0:1] * Rj[:, None, 0, :, None] + pir[:, :, 1:2] * Rj[:, None, 1, :, None]
                + pir[:, :, 2:3] * Rj[:, None, 2, :, None])
        both = torch.cat([pir, pirj], 2)  # (N, 2, 6, L)

        def through(basis: torch.Tensor) -> torch.Tensor:
            """d uv / d coeffs of a basis stored as ``(6, k, L)`` planes: ``(N, 2, k, L)``."""
            res = both[:, :, 0:1] * basis[0]
            for j in range(1, 6):
                res.addcmul_(both[:, :, j:j + 1], basis[j])
            return res

        def rotation_columns(w: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
            """``-pi [w]_x M`` for points ``w (N, L, 3)`` and per-frame ``M (N, 3, 3)``: ``(N, 2, 3, L)``.

            Row i of ``-pi [w]_x`` is ``(w x pi_i)^T``.
            """
            wx, wy, wz = w[..., 0], w[..., 1], w[..., 2]
            rows = torch.stack([torch.stack([pb * wy, pa * wz - pb * wx, -pa * wy], 1),
                                torch.stack([pd * wy - pc * wz, -pd * wx, pc * wx], 1)], 1)  # (N, 2, 3 (m), L)
            return (rows[:, :, 0:1] * M[:, None, 0, :, None] + rows[:, :, 1:2] * M[:, None, 1, :, None]
                    + rows[:, :, 2:3] * M[:, None, 2, :, None])

        if jacobian:
            # d(R x)/d aa = -R [x]_x Jr(aa) and pi R [x]_x = pi [R x]_x R: the jaw rotates u, seen
            # through the head rotation; the head rotates q
            rjr = Rg @ Rj
            jj = rotation_columns(u @ rjr.transpose(1, 2), rjr @ right_jacobian(jaw))
            if self.has_posedirs:
                dfeat = self._dvec_rotation(Rj, jaw)  # (N, 9, 3)
                pcor = through(self.P_P)  # (N, 2, 9, L)
                jj = jj + (pcor[:, :, :, None, :] * dfeat[:, None, :, :, None]).sum(2)
            jr = rotation_columns(p - translation[:, None], Rg @ right_jacobian(rotation))
            zero = torch.zeros_like(d)
            jt = torch.stack([torch.stack([pa, zero, pb], 1), torch.stack([zero, pc, pd], 1)], 1)
            out.jac = torch.cat([through(self.P_E), jj, jr, jt], 2)  # (N, 2, E + 9, L)
        if shape_jacobian:
            out.jac_shape = through(self.P_S)
            out.jac_logf = torch.stack([ux - cx, vy - cy], 1)  # (N, 2, L)
        return out

    @staticmethod
    def _dvec_rotation(R: torch.Tensor, aa: torch.Tensor) -> torch.Tensor:
        """d vec(R) / d aa for row-major vec: ``(N, 9, 3)``."""
        jr = right_jacobian(aa)
        cols = []
        for i in range(3):
            e = torch.zeros(3, dtype=aa.dtype, device=aa.device)
            e[i] = 1.0
            cols.append(-R @ skew(e) @ jr)  # d (R e_i) / d aa : (N,3,3), rows r
        # vec index r*3 + i  <-  cols[i][:, r, :]
        return torch.stack(cols, dim=2).reshape(R.shape[0], 9, 3)

"""Front-facing meshes: the fitted clip with head rotation and translation removed.

The EmoFace paper fixes the global pose to obtain "head mesh sequences with smooth front
view" (paper §4.1, App. A.6, step 4). Here the head pose is applied outside the model
(``X_cam = R(head_rotation) @ X_model + head_translation``), so the front view is simply the
model evaluated with zero global rotation and translation: ``vertices = model(shape,
expression, jaw, neck, eyes)``. The removed pose stays in the :class:`ClipFit` (and in the
HDF5 ``params``) so the camera-space meshes can be rebuilt.
"""

from __future__ import annotations

import numpy as np
import torch

from emoface.morphable import MorphableLayer

from .types import ClipFit, IdentityFit

__all__ = ["canonicalize", "camera_vertices", "identity_template", "layer_for", "model_template"]

_LAYERS: dict[tuple, MorphableLayer] = {}


def layer_for(model, device: str | torch.device = "cpu") -> MorphableLayer:
    """A cached float32 :class:`MorphableLayer` of ``model``."""
    key = (id(model), model.name, str(device))
    if key not in _LAYERS:
        if len(_LAYERS) > 4:
            _LAYERS.clear()
        _LAYERS[key] = MorphableLayer(model, device=device)
    return _LAYERS[key]


def _as(x: np.ndarray, device) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32, device=device)


@torch.no_grad()
def canonicalize(fit: ClipFit, identity: IdentityFit | None, model, chunk: int = 256,
                 device: str | torch.device = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Front-facing vertices ``(T, V, 3)`` and the actor's template ``(V, 3)``, float32 metres.

    The template is the identity at zero pose with its reference expression
    (:func:`emoface.morphable.reference.reference_expression`; zero unless the identity has one).
    ``identity`` may be ``None`` (the shape stored in ``fit`` is used, zero expression).
    """
    layer = layer_for(model, device)
    shape = np.asarray(identity.shape if identity is not None else fit.shape, np.float32)
    shape = shape[: model.shapedirs.shape[-1]]
    T = fit.n_frames
    E = min(fit.expression.shape[1], model.exprdirs.shape[-1])
    out = np.empty((T, model.v_template.shape[0], 3), np.float32)
    for a in range(0, T, chunk):
        b = min(T, a + chunk)
        n = b - a
        res = layer(shape=_as(shape, device)[None].expand(n, -1), expression=_as(fit.expression[a:b, :E], device),
                    jaw=_as(fit.jaw[a:b], device), neck=_as(fit.neck[a:b], device), eyes=_as(fit.eyes[a:b], device),
                    landmarks=None)
        out[a:b] = res.vertices.cpu().numpy()
    reference = None if identity is None else np.asarray(identity.expression_reference)[:E]
    template = model_template(model, shape, reference, device)
    if not (np.isfinite(out).all() and np.isfinite(template).all()):
        raise ValueError("canonical meshes are not finite")
    return out, template


def model_template(model, shape: np.ndarray, expression: np.ndarray | None = None,
                   device: str | torch.device = "cpu") -> np.ndarray:
    """The model at ``shape (S,)`` with zero jaw and pose and ``expression (E,)``: a template ``(V, 3)``, float32 metres.

    Either may be shorter than the model's (the rest is zero); ``expression`` ``None``, empty or
    all zero is zero expression.
    """
    layer = layer_for(model, device)
    s = np.asarray(shape, np.float32).reshape(-1)[: model.shapedirs.shape[-1]]
    e = None if expression is None else np.asarray(expression, np.float32).reshape(-1)[: model.exprdirs.shape[-1]]
    kw = {"expression": _as(e, device)[None]} if e is not None and np.any(e) else {}
    with torch.no_grad():
        return layer(shape=_as(s, device)[None], landmarks=None, **kw).vertices[0].cpu().numpy()


def identity_template(identity: IdentityFit, model, device: str | torch.device = "cpu") -> np.ndarray:
    """The actor's template ``(V, 3)`` float32 metres: its shape with its reference expression, zero pose."""
    return model_template(model, identity.shape, identity.expression_reference, device)


def camera_vertices(vertices: np.ndarray, fit: ClipFit) -> np.ndarray:
    """Front-facing ``vertices (T, V, 3)`` put back in the camera with the fitted head pose."""
    from scipy.spatial.transform import Rotation

    R = Rotation.from_rotvec(np.asarray(fit.head_rotation, np.float64)).as_matrix()  # (T,3,3)
    return (np.einsum("tij,tvj->tvi", R, vertices) + fit.head_translation[:, None, :]).astype(np.float32)

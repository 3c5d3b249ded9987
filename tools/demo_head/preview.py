"""Render a grid of a morphable model's expressions to a PNG (a visual check of the demo head).

``python -m tools.demo_head.preview --out docs/demo_head.png`` renders the demo head
neutral, with the jaw open, smiling, brows up and eyes closed, from the front and from a
three-quarter view. ``--all`` renders every expression component instead. Rendering uses
pyrender offscreen (set ``PYOPENGL_PLATFORM=egl`` or ``osmesa`` on a headless machine) and
falls back to a matplotlib shaded-triangle renderer when pyrender cannot start.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

__all__ = ["preview_renderer", "vertex_colours", "render_views", "default_poses", "main"]

SKIN = (0.86, 0.68, 0.58)
LIPS = (0.72, 0.36, 0.36)
BROWS = (0.62, 0.48, 0.42)
MOUTH = (0.35, 0.08, 0.08)
EYE = (0.22, 0.2, 0.22)


def default_poses(model) -> list[tuple[str, dict[str, np.ndarray]]]:
    """(title, parameters) for neutral, jaw open, smile, brows up, eyes closed."""

    def expr(**vals: float) -> np.ndarray:
        e = np.zeros(model.n_expr, dtype=np.float32)
        for k, v in vals.items():
            e[model.expression_index(k)] = v
        return e

    return [
        ("neutral", {}),
        ("jaw open (0.35 rad)", {"jaw": np.array([0.35, 0.0, 0.0], dtype=np.float32)}),
        ("smile", {"expression": expr(smile_left=1.0, smile_right=1.0, cheek_raise=0.5)}),
        ("brows up", {"expression": expr(brow_raise=1.0, eye_wide=0.5)}),
        ("eyes closed", {"expression": expr(eyelid_close_left=1.0, eyelid_close_right=1.0)}),
    ]


def component_poses(model) -> list[tuple[str, dict[str, np.ndarray]]]:
    out = [("neutral", {}), ("jaw 0.35", {"jaw": np.array([0.35, 0.0, 0.0], dtype=np.float32)})]
    for i, name in enumerate(model.expression_names):
        e = np.zeros(model.n_expr, dtype=np.float32)
        e[i] = 1.0
        out.append((name, {"expression": e}))
    return out


def _vertices(model, params: dict[str, np.ndarray]) -> np.ndarray:
    import torch

    from emoface.morphable.lbs import MorphableLayer

    layer = MorphableLayer(model)
    with torch.no_grad():
        out = layer(**{k: torch.as_tensor(v)[None] for k, v in params.items()}, landmarks=None)
    return out.vertices[0].numpy()


def _split_faces(model) -> dict[str, np.ndarray]:
    mouth = model.face_groups.get("mouth_interior", np.zeros(0, np.int32))
    eyes = np.concatenate([model.face_groups.get(k, np.zeros(0, np.int32)) for k in ("left_eye_interior", "right_eye_interior")])
    skin = np.setdiff1d(np.arange(len(model.faces)), np.concatenate([mouth, eyes]))
    return {"skin": skin, "mouth": mouth, "eyes": eyes}


def vertex_colours(model) -> np.ndarray:
    """Skin with darker lips and brows, so that their motion shows in the renders."""
    c = np.tile(np.asarray(SKIN), (model.n_vertices, 1))
    if "lips" in model.regions:
        c[model.regions["lips"]] = LIPS
    for k in ("left_eyebrow", "right_eyebrow"):
        if k in model.regions:
            c[model.regions[k]] = BROWS
    return c


def _rot_y(deg: float) -> np.ndarray:
    t = np.deg2rad(deg)
    return np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])


def preview_renderer(model, camera, background=(1.0, 1.0, 1.0)):
    """The project's renderer (:class:`emoface.render.renderer.MeshRenderer`) set up for ``model``
    in ``camera`` space: dark mouth and eye openings; render with ``colors=vertex_colours(model)``."""
    from emoface.render.renderer import MeshRenderer, RenderConfig

    cfg = RenderConfig(width=camera.width, height=camera.height, background=tuple(background))
    return MeshRenderer(model.faces, model.v_template, cfg, face_groups=model.face_groups, camera=camera)


def _render_pyrender(model, verts_list, yaws, size: int) -> list[np.ndarray]:
    from emoface.mesh.camera import PinholeCamera

    extent = float(np.ptp(model.v_template[:, 1]))
    camera = PinholeCamera.from_fov(size, size, 25.0)
    centre = model.v_template.mean(0)
    images = []
    colours = vertex_colours(model)
    with preview_renderer(model, camera) as r:
        for verts in verts_list:
            for yaw in yaws:
                v = (verts - centre) @ _rot_y(yaw).T - np.array([0.0, 0.0, 2.6 * extent])
                images.append(r.render(v, colors=colours))
    return images


def _render_matplotlib(model, verts_list, yaws, size: int) -> list[np.ndarray]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    groups = _split_faces(model)
    colours = {"skin": SKIN, "mouth": MOUTH, "eyes": EYE}
    images = []
    for verts in verts_list:
        for yaw in yaws:
            v = (verts - model.v_template.mean(0)) @ _rot_y(yaw).T
            tri = v[model.faces]
            n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
            n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
            shade = np.clip(0.35 + 0.65 * (n @ np.array([0.3, 0.4, 0.87])), 0, 1)
            base = vertex_colours(model)[model.faces].mean(1)
            for key, fids in groups.items():
                if key != "skin":
                    base[fids] = colours[key]
            order = np.argsort(tri[:, :, 2].mean(1))
            fig = plt.figure(figsize=(size / 100, size / 100), dpi=100)
            ax = fig.add_axes((0, 0, 1, 1))
            ax.add_collection(PolyCollection(tri[order][:, :, :2], facecolors=(base * shade[:, None])[order], edgecolors="none"))
            lim = 0.6 * float(np.ptp(model.v_template[:, 1]))
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_axis_off()
            fig.canvas.draw()
            images.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
            plt.close(fig)
    return images


def render_views(model, poses, yaws=(0.0, 35.0), size: int = 360) -> tuple[list[np.ndarray], str]:
    """Images (row-major: pose, then yaw) and the renderer used (``pyrender`` or ``matplotlib``)."""
    verts_list = [_vertices(model, p) for _, p in poses]
    try:
        return _render_pyrender(model, verts_list, yaws, size), "pyrender"
    except Exception:  # no GL context on this machine
        return _render_matplotlib(model, verts_list, yaws, size), "matplotlib"


def main(argv: list[str] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emoface.morphable.model import load

    ap = argparse.ArgumentParser(description="Render a grid of a morphable model's expressions.")
    ap.add_argument("--model", default="demo")
    ap.add_argument("--out", type=Path, default=Path("docs/demo_head.png"))
    ap.add_argument("--all", action="store_true", help="every expression component instead of the five headline poses")
    ap.add_argument("--size", type=int, default=360)
    args = ap.parse_args(argv)
    model = load(args.model)
    poses = component_poses(model) if args.all else default_poses(model)
    yaws = (0.0,) if args.all else (0.0, 35.0)
    images, renderer = render_views(model, poses, yaws, args.size)
    cols = 6 if args.all else len(poses)
    rows = int(np.ceil(len(images) / cols)) if args.all else len(yaws)
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for k, img in enumerate(images):
        if args.all:
            ax, title = axes.ravel()[k], poses[k][0]
        else:
            p, y = divmod(k, len(yaws))
            ax, title = axes[y, p], (poses[p][0] if y == 0 else "")
        ax.imshow(img)
        ax.set_title(title, fontsize=9)
    fig.suptitle(f"{model.name} ({'not FLAME' if model.kind == 'demo' else model.kind}), rendered with {renderer}", fontsize=10)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    plt.close(fig)
    print(f"wrote {args.out} ({renderer})")


if __name__ == "__main__":
    main()

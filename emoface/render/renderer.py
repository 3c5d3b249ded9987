"""Front-view offscreen rendering of face meshes with pyrender (EGL / OSMesa).

The camera follows the project convention (OpenGL: x right, y up, looking along -z) and is
placed once, from the template's bounding box, so that a sequence does not jump: the face
(facing +z, as FLAME and the demo head do) fills ``fill`` of the image height. Lighting is a
key light from the camera, a fill light from above-left and ambient light; shading is smooth
(per-vertex normals recomputed every frame).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from emoface.render.gl import import_pyrender, offscreen_renderer

__all__ = ["RenderConfig", "MeshRenderer", "vertex_normals", "GROUP_COLORS"]

#: flat colours of face groups that close openings of a mesh (the demo head's mouth and eyes)
GROUP_COLORS: dict[str, tuple[float, float, float]] = {
    "mouth_interior": (0.35, 0.08, 0.08),
    "left_eye_interior": (0.22, 0.20, 0.22),
    "right_eye_interior": (0.22, 0.20, 0.22),
}


@dataclass
class RenderConfig:
    """Image size, framing and look of a render."""

    width: int = 512
    height: int = 512
    yfov_deg: float = 20.0
    fill: float = 0.85  # fraction of the image height covered by the template's bounding box
    background: tuple[float, float, float] = (0.93, 0.93, 0.95)
    base_color: tuple[float, float, float] = (0.72, 0.62, 0.56)  # neutral clay
    key_light: float = 2.2
    fill_light: float = 0.9
    ambient: float = 0.12
    group_colors: dict[str, tuple[float, float, float]] = field(default_factory=lambda: dict(GROUP_COLORS))


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals. vertices (V,3), faces (F,3) -> (V,3) float32."""
    v = np.asarray(vertices, dtype=np.float64)
    tri = v[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # length = 2 * area
    idx = np.asarray(faces).reshape(-1)
    w = np.repeat(fn, 3, axis=0)
    vn = np.stack([np.bincount(idx, weights=w[:, c], minlength=len(v)) for c in range(3)], axis=1)
    norm = np.linalg.norm(vn, axis=1, keepdims=True)
    return (vn / np.maximum(norm, 1e-20)).astype(np.float32)


def _look_at_z(eye: np.ndarray) -> np.ndarray:
    pose = np.eye(4)
    pose[:3, 3] = eye
    return pose


class MeshRenderer:
    """Render (V,3) vertex arrays of one topology to RGB images.

    Args:
        faces: (F,3) int triangle indices.
        template: (V,3) metres, used once to frame the camera (and to fix the winding so that
            normals face the camera).
        config: :class:`RenderConfig`.
        face_groups: name -> face indices drawn flat in ``config.group_colors[name]`` (e.g. the
            demo head's ``mouth_interior``, from :func:`emoface.morphable.face_groups_for`);
            groups without a colour are drawn as skin.
        camera: a :class:`emoface.mesh.camera.PinholeCamera` at the origin; vertices are then
            camera-space points (OpenGL convention) and ``template`` is not used for framing.
    Raises :class:`emoface.render.gl.RenderUnavailable` when no OpenGL context can be created.
    Use as a context manager (or call :meth:`close`) to free the GL context.
    """

    def __init__(
        self,
        faces: np.ndarray,
        template: np.ndarray,
        config: RenderConfig | None = None,
        face_groups: Mapping[str, np.ndarray] | None = None,
        camera=None,
    ):
        self.cfg = config or RenderConfig()
        self.camera = camera
        self._pr = import_pyrender()
        faces = np.asarray(faces, dtype=np.int64)
        template = np.asarray(template, dtype=np.float64)
        # Outward normals should point at the camera (+z) on average; flip the winding otherwise.
        if float(vertex_normals(template, faces)[:, 2].mean()) < 0:
            faces = faces[:, ::-1]
        self.faces = np.ascontiguousarray(faces.astype(np.uint32))
        self.groups: dict[tuple[float, float, float], np.ndarray] = {}
        grouped = np.zeros(len(faces), dtype=bool)
        for name, idx in (face_groups or {}).items():
            colour = self.cfg.group_colors.get(name)
            if colour is None or len(idx) == 0:
                continue
            idx = np.asarray(idx, dtype=np.int64)
            grouped[idx] = True
            prev = self.groups.get(tuple(colour))
            self.groups[tuple(colour)] = idx if prev is None else np.concatenate([prev, idx])
        self.skin_faces = np.ascontiguousarray(self.faces[~grouped])

        pr = self._pr
        self.scene = pr.Scene(bg_color=[*self.cfg.background, 1.0], ambient_light=[self.cfg.ambient] * 3)
        if camera is None:
            lo, hi = template.min(0), template.max(0)
            self.center = (lo + hi) / 2
            half_h = max((hi[1] - lo[1]) / 2, (hi[0] - lo[0]) / 2 * self.cfg.height / self.cfg.width) / self.cfg.fill
            yfov = np.deg2rad(self.cfg.yfov_deg)
            self.distance = half_h / np.tan(yfov / 2) + (hi[2] - lo[2]) / 2
            eye = self.center + np.array([0.0, 0.0, self.distance])
            cam = pr.PerspectiveCamera(yfov=yfov, aspectRatio=self.cfg.width / self.cfg.height, znear=self.distance / 20,
                                       zfar=self.distance * 20)
            self.scene.add(cam, pose=_look_at_z(eye))
        else:
            if (camera.width, camera.height) != (self.cfg.width, self.cfg.height):
                self.cfg = dataclasses.replace(self.cfg, width=int(camera.width), height=int(camera.height))
            cam = pr.IntrinsicsCamera(camera.fx, camera.fy, camera.cx, camera.cy, znear=0.01, zfar=10.0)
            self.scene.add(cam, pose=np.eye(4))
        key_pose = _rotation_towards(np.array([0.35, 0.45, 1.0]))
        self.scene.add(pr.DirectionalLight(color=np.ones(3), intensity=self.cfg.key_light), pose=key_pose)
        fill_pose = _rotation_towards(np.array([-0.8, 0.1, 0.6]))
        self.scene.add(pr.DirectionalLight(color=np.ones(3), intensity=self.cfg.fill_light), pose=fill_pose)
        self._material = pr.MetallicRoughnessMaterial(
            baseColorFactor=[1.0, 1.0, 1.0, 1.0], metallicFactor=0.0, roughnessFactor=0.8, doubleSided=True
        )
        self._group_materials = {
            c: pr.MetallicRoughnessMaterial(baseColorFactor=[*c, 1.0], metallicFactor=0.0, roughnessFactor=0.9, doubleSided=True)
            for c in self.groups
        }
        self._node = None
        self._renderer = offscreen_renderer(self.cfg.width, self.cfg.height)

    def render(self, vertices: np.ndarray, colors: np.ndarray | None = None) -> np.ndarray:
        """Render one frame. vertices (V,3) metres; colors (V,3) in [0,1] or None (clay).

        Returns (H, W, 3) uint8 RGB.
        """
        pr = self._pr
        v = np.asarray(vertices, dtype=np.float32)
        if colors is None:
            colors = np.broadcast_to(np.asarray(self.cfg.base_color, dtype=np.float32), v.shape)
        rgba = np.concatenate([np.asarray(colors, dtype=np.float32), np.ones((len(v), 1), np.float32)], axis=1)
        normals = vertex_normals(v, self.skin_faces.astype(np.int64))
        prims = [pr.Primitive(positions=v, normals=normals, indices=self.skin_faces, color_0=rgba, material=self._material, mode=4)]
        for colour, idx in self.groups.items():
            prims.append(pr.Primitive(positions=v, normals=normals, indices=self.faces[idx], material=self._group_materials[colour], mode=4))
        if self._node is not None:
            self.scene.remove_node(self._node)
        self._node = self.scene.add(pr.Mesh(primitives=prims))
        color, _ = self._renderer.render(self.scene)
        return np.ascontiguousarray(color[..., :3])

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.delete()
            self._renderer = None

    def __enter__(self) -> MeshRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:  # best effort; GL contexts are a scarce resource
        try:
            self.close()
        except Exception:
            pass


def _rotation_towards(direction: np.ndarray) -> np.ndarray:
    """A pose whose -z axis points from ``direction`` towards the origin (a light shining along -direction)."""
    z = direction / np.linalg.norm(direction)
    x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([x, y, z], axis=1)
    return pose

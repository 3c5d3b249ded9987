"""Pinhole camera in the OpenGL convention (x right, y up, looking along -z).

A camera-space point (x, y, z), z < 0, projects to pixels
``u = cx + fx * x / (-z)`` and ``v = cy - fy * y / (-z)``. See docs/architecture.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["PinholeCamera", "project", "axis_angle_to_matrix", "matrix_to_axis_angle", "transform_points"]


@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics in pixels; ``width``/``height`` of the image the camera sees."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_fov(cls, width: int, height: int, fov_y_deg: float) -> "PinholeCamera":
        """A centred camera with square pixels and vertical field of view ``fov_y_deg``."""
        f = 0.5 * height / np.tan(np.deg2rad(fov_y_deg) / 2.0)
        return cls(float(f), float(f), width / 2.0, height / 2.0, int(width), int(height))

    def as_array(self) -> np.ndarray:
        """``[fx, fy, cx, cy, width, height]`` as float64 (the stored form)."""
        return np.array([self.fx, self.fy, self.cx, self.cy, self.width, self.height], dtype=np.float64)

    @classmethod
    def from_array(cls, a) -> "PinholeCamera":
        a = np.asarray(a, dtype=np.float64).ravel()
        return cls(float(a[0]), float(a[1]), float(a[2]), float(a[3]), int(a[4]), int(a[5]))

    def intrinsic_matrix(self) -> np.ndarray:
        """OpenCV-style K for the y-down, z-forward frame (``diag(1,-1,-1)`` applied to points)."""
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1]], dtype=np.float64)


def project(points: torch.Tensor, camera: PinholeCamera, eps: float = 1e-6) -> torch.Tensor:
    """Project camera-space points ``(..., 3)`` metres to pixels ``(..., 2)``."""
    depth = (-points[..., 2]).clamp_min(eps)
    u = camera.cx + camera.fx * points[..., 0] / depth
    v = camera.cy - camera.fy * points[..., 1] / depth
    return torch.stack([u, v], dim=-1)


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """Rodrigues: axis-angle ``(..., 3)`` radians -> rotation matrices ``(..., 3, 3)``.

    Smooth at zero (uses the Taylor expansion for tiny angles), so gradients are finite.
    """
    theta2 = (aa * aa).sum(-1, keepdim=True)
    theta = torch.sqrt(theta2.clamp_min(1e-12))
    small = theta2 < 1e-8
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / theta2.clamp_min(1e-12))
    x, y, z = aa.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*aa.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(k)
    return eye + a[..., None] * k + b[..., None] * (k @ k)


def matrix_to_axis_angle(r: np.ndarray) -> np.ndarray:
    """Rotation matrices ``(..., 3, 3)`` -> axis-angle ``(..., 3)`` (numpy, via scipy)."""
    from scipy.spatial.transform import Rotation

    r = np.asarray(r, dtype=np.float64)
    flat = r.reshape(-1, 3, 3)
    out = Rotation.from_matrix(flat).as_rotvec()
    return out.reshape(*r.shape[:-2], 3)


def transform_points(points: torch.Tensor, rotation: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """``R(rotation) @ p + translation`` for points ``(B, N, 3)``, axis-angle ``(B, 3)``, translation ``(B, 3)``."""
    rot = axis_angle_to_matrix(rotation)
    return points @ rot.transpose(-1, -2) + translation[:, None, :]

"""Headless OpenGL for pyrender: pick the platform before the first import, fail with one clear message.

pyrender reads ``PYOPENGL_PLATFORM`` when PyOpenGL is first imported, so :func:`import_pyrender`
sets it to ``egl`` (GPU or Mesa's software EGL) when the user has not chosen one
(``osmesa`` is the other headless choice). Nothing else in the package imports pyrender, and
no metric depends on rendering.
"""

from __future__ import annotations

import os
from types import ModuleType

__all__ = ["RenderUnavailable", "import_pyrender", "GL_HELP"]

GL_HELP = (
    "install the system packages for headless OpenGL: EGL (Debian/Ubuntu: apt-get install libegl1 libgl1-mesa-dri) "
    "or OSMesa (apt-get install libosmesa6, then run with PYOPENGL_PLATFORM=osmesa); "
    "pyrender itself comes with `pip install emoface3d[render]`"
)


class RenderUnavailable(RuntimeError):
    """No usable OpenGL for offscreen rendering; the message names the packages to install."""


def import_pyrender() -> ModuleType:
    """Import pyrender for offscreen use (``PYOPENGL_PLATFORM=egl`` unless already set).

    Raises :class:`RenderUnavailable` when pyrender or the GL libraries are missing.
    """
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    try:
        import pyrender
    except ImportError as exc:
        if exc.name == "pyrender":
            raise RenderUnavailable(f"pyrender is not installed; {GL_HELP}") from exc
        raise RenderUnavailable(f"OpenGL ({os.environ['PYOPENGL_PLATFORM']}) could not be loaded ({exc}); {GL_HELP}") from exc
    except Exception as exc:  # PyOpenGL raises assorted errors when the platform library is absent
        raise RenderUnavailable(f"OpenGL ({os.environ['PYOPENGL_PLATFORM']}) could not be loaded ({type(exc).__name__}: {exc}); {GL_HELP}") from exc
    return pyrender


def offscreen_renderer(width: int, height: int):
    """A ``pyrender.OffscreenRenderer``; :class:`RenderUnavailable` when no GL context can be made."""
    pyrender = import_pyrender()
    try:
        return pyrender.OffscreenRenderer(viewport_width=int(width), viewport_height=int(height))
    except Exception as exc:  # EGL/OSMesa context creation errors have no common base class
        raise RenderUnavailable(
            f"cannot create an offscreen OpenGL context ({os.environ.get('PYOPENGL_PLATFORM')}): {type(exc).__name__}: {exc}; {GL_HELP}"
        ) from exc

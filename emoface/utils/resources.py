"""Where the shipped YAML configs live, in a source checkout and in an installed wheel.

The repository keeps one copy of each config, in ``configs/`` at its root. ``setup.py`` maps that
folder into the wheel as the package data ``emoface/configs/``. So a source checkout (and an
editable install, which imports from it) reads ``<checkout>/configs/``, and a non-editable install
reads ``emoface/configs/`` through :mod:`importlib.resources`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["configs_dir", "config_file"]


def configs_dir() -> Path:
    """The folder of the shipped configs; ``FileNotFoundError`` (one line) when there is none."""
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "configs").is_dir():
        return checkout / "configs"
    packaged = resources.files("emoface").joinpath("configs")
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    raise FileNotFoundError(f"{checkout / 'configs'}: no shipped configs here nor in the installed package (emoface/configs); reinstall emoface3d")


def config_file(name: str) -> Path:
    """The shipped config ``name`` (e.g. ``"ravdess.yaml"``); ``FileNotFoundError`` naming it when missing."""
    path = configs_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"{path}: shipped config missing; reinstall emoface3d")
    return path

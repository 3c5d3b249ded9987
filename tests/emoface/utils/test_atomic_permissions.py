"""Atomic writes leave files with the usual permissions (umask), not mkstemp's 0600."""

from __future__ import annotations


def test_atomic_files_get_normal_permissions(tmp_path):
    import os

    from emoface.utils.atomic import write_bytes_atomic

    mask = os.umask(0o022)
    try:
        write_bytes_atomic(tmp_path / "new.bin", b"x")
        assert (tmp_path / "new.bin").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600
        os.chmod(tmp_path / "new.bin", 0o600)
        write_bytes_atomic(tmp_path / "new.bin", b"y")
        assert (tmp_path / "new.bin").stat().st_mode & 0o777 == 0o600  # a replaced file keeps its mode
    finally:
        os.umask(mask)

"""GuardedFile: a failed write (a full disk) is kept from HDF5, so h5py closes cleanly and the writer can raise it.

``/dev/full`` fails every write with ENOSPC, without root or a full file system. Written to
directly by HDF5 (h5py's default driver), the same failure crashes the process on close
(SIGSEGV); the build-level test is tests/pipeline/dataset_build/test_build_failures.py.
"""

from __future__ import annotations

import errno
import os

import h5py
import numpy as np
import pytest

from emoface.utils.guarded_file import GuardedFile


@pytest.mark.skipif(not os.access("/dev/full", os.W_OK), reason="no writable /dev/full on this system")
def test_a_full_disk_is_recorded_and_h5py_closes_cleanly():
    guard = GuardedFile("/dev/full")
    f = h5py.File(guard, "w")
    f.create_dataset("v", data=np.arange(300_000, dtype=np.float32), compression="gzip", chunks=(10_000,))
    f.attrs["x"] = 1
    f.close()
    guard.close()
    assert guard.error is not None and guard.error.errno == errno.ENOSPC


def test_round_trip_equals_the_default_driver(tmp_path):
    data = np.random.default_rng(0).standard_normal((50, 468, 3)).astype(np.float32)
    guard = GuardedFile(tmp_path / "g.h5")
    with h5py.File(guard, "w") as f:
        f.create_dataset("v", data=data, compression="gzip", shuffle=True, chunks=(10, 468, 3))
        f.create_group("a/b").attrs["n"] = 3
    guard.close()
    assert guard.error is None
    with h5py.File(tmp_path / "g.h5", "r") as f:
        np.testing.assert_array_equal(f["v"][()], data)
        assert f["a/b"].attrs["n"] == 3

"""A file object for h5py that turns a failed write (a full disk) into a clean Python error.

HDF5 is not safe after a write fails: it reports the error only while it frees an object
(h5py prints "Exception ignored"), and the next ``flush``/``close`` of the file crashes the
process with SIGSEGV (HDF5 1.14 via h5py 3.x, reproduced with a full tmpfs). Handing h5py a
:class:`GuardedFile` (h5py's ``fileobj`` driver) keeps HDF5 from ever seeing a failed write:
the first ``OSError`` is kept in :attr:`GuardedFile.error`, later writes are discarded (reads of
discarded bytes give zeros), HDF5 closes normally and the writer raises :attr:`error` itself.
The file's content is garbage once :attr:`error` is set; the caller deletes it.
"""

from __future__ import annotations

import io
import os

__all__ = ["GuardedFile"]


class GuardedFile(io.RawIOBase):
    """Positional reads and writes on ``path`` (created or truncated); see the module docstring."""

    def __init__(self, path: str | os.PathLike):
        super().__init__()
        self.path = os.fspath(path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self._pos = 0
        self._size = 0
        self.error: OSError | None = None

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}[whence]
        self._pos = base + pos
        return self._pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        n = len(view)
        got = 0
        if self.error is None:
            data = os.pread(self._fd, n, self._pos)
            got = len(data)
            view[:got] = data
        view[got:] = bytes(n - got)  # beyond the end, or discarded after an error: zeros (as HDF5's sec2 driver)
        self._pos += n
        return n

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        n = len(view)
        if self.error is None:
            try:
                done = 0
                while done < n:
                    done += os.pwrite(self._fd, view[done:], self._pos + done)
            except OSError as exc:
                self.error = exc
        self._pos += n
        self._size = max(self._size, self._pos)
        return n

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else size
        if self.error is None:
            try:
                os.ftruncate(self._fd, size)
            except OSError as exc:
                self.error = exc
        self._size = size
        return size

    def flush(self) -> None:
        pass

    def fsync(self) -> None:
        """Flush the written bytes to the disk (records a failure like a write does)."""
        if self.error is None:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                self.error = exc

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()

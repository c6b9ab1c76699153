"""Layer files of the feature cache, written front to back, in background threads.

Each layer is one float16 .npy file: the header for the final shape, then rows appended as the
engine produces them, hashed as they are written. `LayerWriters` gives every layer a thread of its
own, so writing and hashing overlap the engine and each other (hashlib and file writes release the
GIL), while a bounded number of batches waits, so memory stays bounded.
"""

from __future__ import annotations

import collections
import hashlib
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

__all__ = ["LayerFile", "LayerWriters", "SYNC_BYTES"]

SYNC_BYTES = 256 << 20  # a layer file is synced every this many bytes: the disk writes while the engine runs


class LayerFile:
    """A float16 .npy file written front to back: the header for the final shape, then rows
    appended as they come (sequential writes; no page faults of a fresh memory map)."""

    def __init__(self, path: Path, shape: tuple[int, ...]):
        self.path, self.shape, self.rows = path, shape, 0
        self._f = open(path, "w+b")
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)), "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(self._f, header)
        self._f.seek(0)
        self._hash = hashlib.sha256(self._f.read())
        self.sha256 = ""
        self._unsynced = 0

    def append(self, maps: np.ndarray) -> None:
        if tuple(maps.shape[1:]) != self.shape[1:]:
            raise ValueError(f"{self.path}: rows of shape {maps.shape[1:]}, the file holds {self.shape[1:]}")
        data = np.ascontiguousarray(maps, dtype=np.float16).data
        self._f.write(data)
        self._hash.update(data)
        self.rows += len(maps)
        self._unsynced += data.nbytes  # the float16 bytes written
        if self._unsynced >= SYNC_BYTES:  # hand the disk its work as it comes, not all at close
            os.fdatasync(self._f.fileno())
            self._unsynced = 0

    def close(self) -> None:
        """Complete: every row written and flushed to disk before the file may be published."""
        if self.rows != self.shape[0]:
            raise RuntimeError(f"{self.path}: {self.rows} of {self.shape[0]} frames written; not publishing a partial layer")
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        self.sha256 = self._hash.hexdigest()

    def abort(self) -> None:
        self._f.close()


class LayerWriters:
    """Appends each batch's maps to their layer files, one writer thread per layer, at most
    `depth` batches behind the caller; `drain` waits for all and raises the first error."""

    def __init__(self, files: dict[str, LayerFile], depth: int = 2):
        self.files, self.depth = files, depth
        self._pools = {n: ThreadPoolExecutor(1, thread_name_prefix=f"autocrop-write-{n}") for n in files}
        self._pending: collections.deque[list[Future]] = collections.deque()

    def write(self, maps: dict[str, np.ndarray]) -> None:
        self._pending.append([self._pools[n].submit(self.files[n].append, m) for n, m in maps.items()])
        while len(self._pending) > self.depth:
            for f in self._pending.popleft():
                f.result()

    def drain(self) -> None:
        try:
            while self._pending:
                for f in self._pending.popleft():
                    f.result()
        finally:
            self.close()

    def close(self) -> None:
        """Stop the threads after what is queued (also on an error: no write outlives its file)."""
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)

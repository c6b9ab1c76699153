"""Overlap decode with inference: a background thread decodes and preprocesses the next batches
into a bounded queue, so the slowest stage (the backbone) sets the pace.

The decode thread runs at the lowest CPU priority (nice 19): where the engine keeps every core
busy (two cores here), decoding at equal priority interrupts its parallel operators and the
overlap is slower than decoding in turn; at low priority it fills the cores' idle moments
between operators instead (bench/extract.py measures both).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from autocrop.errors import DataError
from autocrop.sources import FrameSource

__all__ = ["prefetch", "prefetch_batches", "batched_frames", "size_error"]

_DONE = object()


def size_error(source: FrameSource, fid: int, shape: tuple[int, ...], first: tuple[int, ...]) -> DataError:
    """The one-line refusal of a frame whose size differs from the footage's first frame."""
    where = getattr(source, "file", None)
    name = where(fid) if where else f"{source.path} frame {fid}"
    return DataError(f"{name}: frame {fid} is {shape[1]}x{shape[0]}, the first frame is {first[1]}x{first[0]}; "
                     "footage must have one frame size (resize it, or split the folder)")


def batched_frames(source: FrameSource, ids: Sequence[int], batch: int) -> Iterator[tuple[list[int], list[np.ndarray]]]:
    """(frame ids, RGB frames) in batches, refusing frames whose size differs from the first."""
    fids: list[int] = []
    frames: list[np.ndarray] = []
    shape = None
    for fid, frame in source.frames(ids):
        if shape is None:
            shape = frame.shape
        elif frame.shape != shape:
            raise size_error(source, fid, frame.shape, shape)
        fids.append(fid)
        frames.append(frame)
        if len(frames) == batch:
            yield fids, frames
            fids, frames = [], []
    if frames:
        yield fids, frames


def prefetch_batches(source: FrameSource, ids: Sequence[int], batch: int, prepare: Callable[[list[np.ndarray]], Any],
                     depth: int = 3, nice: int = 19) -> Iterator[Any]:
    """`prepare(frames)` of each batch, decoded and prepared `depth` batches ahead in a thread at
    priority `nice` (depth 0: in this thread)."""
    return prefetch(lambda: (prepare(frames) for _fids, frames in batched_frames(source, ids, batch)), depth, nice)


def prefetch(items: Callable[[], Iterable[Any]], depth: int = 3, nice: int = 19) -> Iterator[Any]:
    """The items of `items()`, produced `depth` ahead in a background thread at priority `nice`
    (depth 0: in this thread).

    An error in the thread (an unreadable frame, say) is raised here, in the consumer; stopping
    early (an exception in the consumer) stops the thread.
    """
    if depth == 0:
        yield from items()
        return
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            if nice and hasattr(os, "setpriority"):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)  # Linux: per thread
            for item in items():
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer
            put(exc)

    worker = threading.Thread(target=produce, name="autocrop-decode", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)

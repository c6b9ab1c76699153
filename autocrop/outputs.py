"""What the edge service writes: a JSONL event log, forwarded frames per query, bandwidth, a summary.

Layout of `--out`:

    events.jsonl                     one line per frame and query, plus stream and drift events
    forwarded/<query>/<source>-<frame>.jpg   the frames each query asked for
    summary.json                     frames, frames/s, bytes in and forwarded per query, alarms

Everything is flushed after each batch and synced when the service stops; `summary.json` is
written atomically (a temporary file renamed into place).
"""

from __future__ import annotations

import io
import json
import os
import queue
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from autocrop.errors import DataError

__all__ = ["EventLog", "Forwarder", "write_summary", "safe_name"]

JPEG_QUALITY = 85


def safe_name(name: str) -> str:
    """A query or source name as a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "stream"


class EventLog:
    """Append-only JSON lines; `flush()` after each batch, `close()` syncs to disk."""

    def __init__(self, path: Path):
        self.path = path
        self._f = open(path, "a", encoding="utf-8")

    def decisions(self, source: str, frame: int, pts: float | None, t: float, queries: Sequence[str],
                  scores: np.ndarray, decisions: np.ndarray) -> None:
        """One line per query for one frame; `queries` are JSON-quoted names (formatted by hand: this
        runs for every frame x query)."""
        head = f'{{"type":"decision","source":{json.dumps(source)},"frame":{frame},"pts":{_num(pts)},"time":{t:.3f},"query":'
        self._f.write("".join(f'{head}{q},"score":{float(s):.6g},"decision":{"true" if d else "false"}}}\n'
                              for q, s, d in zip(queries, scores, decisions, strict=True)))

    def event(self, **fields: Any) -> None:
        self._f.write(json.dumps(fields, default=float) + "\n")

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()


def _num(v: float | None) -> str:
    return "null" if v is None else f"{v:.6f}"


class Forwarder:
    """Writes the frames each query wants as JPEG and counts the bytes forwarded.

    A frame is encoded and written once, into the first wanting query's folder, and hard-linked
    into the others' (a new file costs ~1 ms on ext4, a link ~0.05 ms); the file system work runs
    in a writer thread, so it overlaps with the backbone. `close()` waits for every write.
    """

    def __init__(self, root: Path, queries: Sequence[str], enabled: bool = True, quality: int = JPEG_QUALITY):
        self.root, self.enabled, self.quality = root, enabled, quality
        self.dirs = [root / safe_name(q) for q in queries]
        self.bytes = [0] * len(queries)  # per query
        self.frames = [0] * len(queries)
        self.union_bytes = 0  # each frame counted once, however many queries want it
        self.union_frames = 0
        self._q: queue.Queue = queue.Queue(maxsize=256)
        self._made: set[int] = set()
        self._error: BaseException | None = None
        self._writer = threading.Thread(target=self._write, name="autocrop-forward", daemon=True)
        if enabled:
            self._writer.start()

    def forward(self, source: str, frame: int, image: np.ndarray, wanted: np.ndarray, jpeg: bytes | None = None) -> None:
        """Encode the frame once (or take its own JPEG file); write it for every query that wants it."""
        if not wanted.any():
            return
        if jpeg is None:
            buf = io.BytesIO()
            Image.fromarray(image).save(buf, format="JPEG", quality=self.quality)
            jpeg = buf.getvalue()
        self.union_bytes += len(jpeg)
        self.union_frames += 1
        idx = np.flatnonzero(wanted)
        for j in idx:
            self.bytes[j] += len(jpeg)
            self.frames[j] += 1
        if self.enabled:
            if self._error is not None:
                raise self._error
            self._q.put((f"{safe_name(source)}-{frame:08d}.jpg", jpeg, idx.tolist()))

    def _write(self) -> None:
        while (item := self._q.get()) is not None:
            name, data, idx = item
            try:
                for n, j in enumerate(idx):
                    if j not in self._made:
                        self.dirs[j].mkdir(parents=True, exist_ok=True)
                        self._made.add(j)
                    path = self.dirs[j] / name
                    if n == 0:
                        path.write_bytes(data)
                        first = path
                    else:
                        os.link(first, path)
            except OSError as exc:  # a full disk, say: reported by the next forward() or close()
                self._error = DataError(f"{self.root}: cannot write forwarded frames ({exc}); free space or pass --no-forward")

    def close(self) -> None:
        if self.enabled:
            self._q.put(None)
            self._writer.join()
            if self._error is not None:
                raise self._error


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=2))
    os.replace(tmp, path)

"""Decode footage: a folder of jpg/png frames or a video file (PyAV), as (frame id, RGB array)."""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from autocrop.config import Footage
from autocrop.errors import DataError

__all__ = ["FrameSource", "FolderSource", "VideoSource", "open_source", "unreadable_frame"]

_IMAGE_EXT = {".jpg", ".jpeg", ".png", ".bmp"}


def unreadable_frame(path: Path, fid: int, why: object) -> DataError:
    """The one-line refusal of a frame file that cannot be read or decoded, whichever decoder tried."""
    return DataError(f"{path}: unreadable frame {fid} ({why}); replace the file or drop it with footage.stop")


class FrameSource:
    """Frames with integer ids, a content digest, and streaming decode of any subset."""

    path: Path
    ids: list[int]

    def frames(self, ids: Iterable[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        raise NotImplementedError

    def digest(self, ids: Iterable[int]) -> str:
        raise NotImplementedError

    def first_frame(self) -> np.ndarray:
        return next(self.frames(self.ids[:1]))[1]


def _select(ids: list[int], spec: Footage) -> list[int]:
    kept = [i for i in ids if (spec.start is None or i >= spec.start) and (spec.stop is None or i <= spec.stop)]
    return kept[:: spec.step]


class FolderSource(FrameSource):
    """A folder of image files; the frame id is the last number in each file name."""

    def __init__(self, folder: Path, spec: Footage):
        if not folder.is_dir():
            raise DataError(f"{folder}: frame folder not found; set `footage.frames` to a folder of jpg/png frames")
        files: dict[int, Path] = {}
        for n, f in enumerate(sorted(p for p in folder.iterdir() if p.suffix.lower() in _IMAGE_EXT)):
            digits = re.findall(r"\d+", f.stem)
            fid = int(digits[-1]) if digits else n
            if fid in files:
                raise DataError(f"{f}: frame id {fid} also used by {files[fid].name}; give each frame a unique number")
            files[fid] = f
        if not files:
            raise DataError(f"{folder}: no .jpg/.png frames in this folder; point `footage.frames` at the frames")
        self.path = folder
        self._files = files
        self.ids = _select(sorted(files), spec)
        if not self.ids:
            raise DataError(f"{folder}: `footage.start/stop/step` keep no frames; widen the range")

    def file(self, fid: int) -> Path:
        return self._files[fid]

    def frames(self, ids: Iterable[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        for fid in self.ids if ids is None else ids:
            f = self._files[fid]
            try:
                with Image.open(f) as im:
                    arr = np.asarray(im.convert("RGB"))
            except Exception as exc:  # PIL raises many types for broken files
                raise unreadable_frame(f, fid, exc) from None
            yield fid, arr

    def digest(self, ids: Iterable[int]) -> str:
        h = hashlib.sha256()
        for fid in ids:
            h.update(f"{fid}:".encode())
            h.update(self._files[fid].read_bytes())
        return h.hexdigest()[:16]


class VideoSource(FrameSource):
    """A video file decoded with PyAV, sampled at `fps`; the frame id is the sample index from 0."""

    def __init__(self, video: Path, spec: Footage):
        if not video.is_file():
            raise DataError(f"{video}: video file not found; check `footage.video`")
        self.path = video
        self._fps = spec.fps
        self._spec = spec
        count = sum(1 for _ in self._decode(convert=False))
        self._check_complete(count)
        self.ids = _select(list(range(count)), spec)
        if not self.ids:
            raise DataError(f"{video}: no frames decoded (or none kept by start/stop/step); check the file and range")

    def _decode(self, convert: bool) -> Iterator[np.ndarray | None]:
        import av  # local: the edge runtime and the folder path do not need FFmpeg loaded

        try:
            with av.open(str(self.path)) as container:
                if not container.streams.video:
                    raise DataError(f"{self.path}: no video stream in this file; give a video in `footage.video`")
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"  # FFmpeg's frame and slice threads: decoding keeps up with the engine
                self._duration = container.duration / 1e6 if container.duration else None
                self._format = container.format.name
                self._last_time, self._period = None, (1 / float(stream.average_rate)) if stream.average_rate else 0.0
                next_t = 0.0
                for frame in container.decode(stream):
                    self._last_time = float(frame.time) if frame.time is not None else self._last_time
                    if self._fps is not None:
                        t = float(frame.time) if frame.time is not None else next_t
                        if t + 1e-6 < next_t:
                            continue
                        next_t += 1.0 / self._fps
                    yield frame.to_ndarray(format="rgb24") if convert else None
        except DataError:
            raise
        except Exception as exc:  # av.error.* for missing, truncated or non-video files
            raise DataError(f"{self.path}: cannot decode video ({type(exc).__name__}: {exc}); re-encode or replace the file") from None

    def _check_complete(self, count: int) -> None:
        """Refuse footage that ends before its container says it does (unless `allow_partial`):
        an MPEG-TS file whose size is not whole 188-byte packets was cut mid-packet; a container
        that records its duration (Matroska, MP4) and stops decoding early was cut or damaged."""
        cut = None
        if "mpegts" in self._format and self.path.stat().st_size % 188:
            cut = "the file ends inside a transport-stream packet"
        elif self._duration and self._last_time is not None and self._last_time + self._period < self._duration - max(0.5, 2 * self._period):
            cut = f"frames stop at {self._last_time:.2f} s of the {self._duration:.2f} s the container declares"
        if cut is None:
            return
        if self._spec.allow_partial:
            warnings.warn(f"{self.path}: truncated or damaged ({cut}); using the {count} frames before the damage", stacklevel=2)
            return
        raise DataError(f"{self.path}: truncated or damaged video, {cut}; decoding stops after frame {count - 1}; re-encode or "
                        "replace it, or set `footage.allow_partial: true` to use the frames before the damage")

    def frames(self, ids: Iterable[int] | None = None) -> Iterator[tuple[int, np.ndarray]]:
        wanted = sorted(self.ids if ids is None else ids)
        if not wanted:
            return
        pos = 0
        for fid, arr in enumerate(self._decode(convert=True)):
            if fid == wanted[pos]:
                yield fid, arr
                pos += 1
                if pos == len(wanted):
                    return

    def digest(self, ids: Iterable[int]) -> str:
        h = hashlib.sha256()
        with open(self.path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        h.update(f"fps={self._fps};ids={','.join(map(str, ids))}".encode())
        return h.hexdigest()[:16]


def open_source(spec: Footage) -> FrameSource:
    """The frame source a `footage` config section describes."""
    if spec.frames is not None:
        return FolderSource(spec.frames, spec)
    assert spec.video is not None  # guaranteed by Footage validation
    return VideoSource(spec.video, spec)

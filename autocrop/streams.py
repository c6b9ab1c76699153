"""Sources for the edge service: frame folders, video files and live streams that reconnect.

A live source is any URL FFmpeg opens through PyAV (rtsp://, http://, tcp://, udp://, ...). When
it drops, the reader reconnects with exponential backoff; frames the server sends again after a
reconnect (a relay replaying its last group of pictures, a camera resending) are recognised by
their presentation time and skipped, so no frame is scored twice. The first frame after a
reconnect is marked as a `gap`, so temporal windows and smoothing start again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autocrop.config import Footage
from autocrop.errors import DataError
from autocrop.sources import FolderSource, VideoSource, open_source

__all__ = ["Frame", "StreamEvent", "Source", "FileSource", "LiveSource", "open_stream", "is_url", "Backoff"]

RESYNC_S = 10.0  # a presentation time this far behind the last one scored is a restarted clock, not a replay


@dataclass
class Frame:
    source: int  # which of the service's sources
    index: int  # frame id: the file's number (folder), the decoded frame (video), frames received (live)
    image: np.ndarray  # RGB uint8 (H, W, 3)
    pts: float | None = None  # presentation time in seconds, as the stream says
    time: float = field(default_factory=time.time)  # wall clock when decoded
    gap: bool = False  # first frame after a reconnect: windows and smoothing start again
    jpeg: bytes | None = None  # the frame's own JPEG file, forwarded as is (frame folders)


@dataclass
class StreamEvent:
    source: int
    state: str  # connected | lost | retry | ended
    detail: str = ""
    attempt: int = 0


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: first, doubling up to `cap`; give up after `give_up_s` without a frame (None: never)."""

    first: float = 0.5
    cap: float = 10.0
    give_up_s: float | None = None

    def delay(self, attempt: int) -> float:
        return min(self.cap, self.first * 2 ** max(0, attempt - 1))


def is_url(spec: str) -> bool:
    return "://" in spec


class Source:
    """Frames of one source, and the bytes of the full stream they came from."""

    number: int
    name: str
    bytes_in: int = 0  # compressed bytes of the full stream read so far

    def frames(self, stop) -> Iterator[Frame | StreamEvent]:  # stop: threading.Event
        raise NotImplementedError


class FileSource(Source):
    """A frame folder or a video file, read once to the end."""

    def __init__(self, number: int, spec: str, fps: float | None = None):
        path = Path(spec)
        self.number, self.name, self.fps = number, path.name or str(path), fps
        if path.is_dir():
            self.src = open_source(Footage(frames=path))
        elif path.is_file():
            self.src = open_source(Footage(video=path, fps=fps))
        else:
            raise DataError(f"{spec}: no such frame folder or video file; give a folder, a video or a stream URL")

    def frames(self, stop) -> Iterator[Frame | StreamEvent]:
        src = self.src
        if isinstance(src, VideoSource):
            self.bytes_in = src.path.stat().st_size
        fps = self.fps if isinstance(src, VideoSource) else None
        for fid, img in src.frames():
            if stop.is_set():
                return
            jpeg = None
            if isinstance(src, FolderSource):
                f = src.file(fid)
                self.bytes_in += f.stat().st_size
                jpeg = f.read_bytes() if f.suffix.lower() in (".jpg", ".jpeg") else None
            yield Frame(self.number, fid, img, pts=fid / fps if fps else None, jpeg=jpeg)
        yield StreamEvent(self.number, "ended", "end of footage")


class LiveSource(Source):
    """A stream URL opened through PyAV; reconnects with backoff and skips replayed frames."""

    def __init__(self, number: int, url: str, fps: float | None = None, backoff: Backoff = Backoff(),
                 timeout: tuple[float, float] = (10.0, 5.0)):
        self.number, self.name, self.url = number, url, url
        self.fps, self.backoff, self.timeout = fps, backoff, timeout
        self.received = 0  # frames handed on
        self.replayed = 0  # frames skipped as already scored
        self.reconnects = 0
        self._last_pts: float | None = None
        self._next_t: float | None = None

    def _accept(self, pts: float | None) -> bool:
        """False for a frame at or before the last scored presentation time (a replay), unless the
        clock went back more than RESYNC_S (the stream restarted its clock); applies `fps` sampling."""
        if pts is None:
            return True
        last = self._last_pts
        if last is not None and pts <= last and last - pts <= RESYNC_S:
            self.replayed += 1
            return False
        if last is not None and pts <= last:  # a new clock: sampling starts again
            self._next_t = None
        if self.fps is not None:
            if self._next_t is not None and pts + 1e-6 < self._next_t:
                return False
            self._next_t = (self._next_t if self._next_t is not None else pts) + 1.0 / self.fps
        self._last_pts = pts
        return True

    def _open(self):
        import av

        options = {"rtsp_transport": "tcp"} if self.url.startswith("rtsp") else {}
        return av.open(self.url, options=options, timeout=self.timeout)

    def frames(self, stop) -> Iterator[Frame | StreamEvent]:
        import av

        attempt, down_since, gap = 0, time.monotonic(), False
        while not stop.is_set():
            try:
                container = self._open()
            except (av.FFmpegError, OSError) as exc:
                attempt += 1
                if self.backoff.give_up_s is not None and time.monotonic() - down_since > self.backoff.give_up_s:
                    raise DataError(f"{self.url}: no stream for {self.backoff.give_up_s:g} s ({exc}); check the URL "
                                    "and that the camera is up, or raise --give-up") from None
                delay = self.backoff.delay(attempt)
                yield StreamEvent(self.number, "retry", f"{exc}; next try in {delay:g} s", attempt)
                stop.wait(delay)
                continue
            yield StreamEvent(self.number, "connected", "", attempt)
            if attempt or gap:
                self.reconnects += 1
            attempt, reason = 0, "end of stream"
            try:
                with container:
                    if not container.streams.video:
                        raise DataError(f"{self.url}: the stream has no video; give a video stream URL")
                    stream = container.streams.video[0]
                    stream.thread_type = "AUTO"
                    for packet in container.demux(stream):
                        if stop.is_set():
                            return
                        self.bytes_in += packet.size
                        if packet.is_corrupt:
                            continue
                        try:
                            decoded = packet.decode()
                        except av.FFmpegError:  # a damaged packet: drop its frame, keep the stream
                            continue
                        for f in decoded:
                            pts = float(f.time) if f.time is not None else None
                            if not self._accept(pts):
                                continue
                            yield Frame(self.number, self.received, f.to_ndarray(format="rgb24"), pts, gap=gap)
                            self.received += 1
                            gap = False
            except (av.FFmpegError, OSError) as exc:
                reason = str(exc)
            down_since, gap = time.monotonic(), True
            yield StreamEvent(self.number, "lost", reason)


def open_stream(number: int, spec: str, fps: float | None = None, backoff: Backoff = Backoff()) -> Source:
    """A live source for a URL, else a frame folder or video file."""
    if is_url(spec):
        return LiveSource(number, spec, fps, backoff)
    return FileSource(number, spec, fps)

"""The edge service: many exported microclassifiers on one or more sources, one backbone pass per frame.

One reader thread per source decodes frames into a bounded queue (a live stream reconnects on its
own); the main loop takes what is there, up to `batch` frames, runs the backbone once over them
(every source together), then each source's frames through every bundle's head in stream order,
with k-of-n smoothing, temporal windows and drift monitors kept per source. Decisions go to the
event log, wanted frames are forwarded per query, and the status line shows frames/s and
positives. SIGINT or SIGTERM stops it cleanly: the batch in hand is finished, every file is
flushed and synced, and the summary is written.
"""

from __future__ import annotations

import json
import queue
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from autocrop.edge import EdgeRuntime, Stream
from autocrop.errors import DataError
from autocrop.outputs import EventLog, Forwarder, write_summary
from autocrop.streams import Frame, Source, StreamEvent

__all__ = ["Service", "ServeResult"]

_END = object()


@dataclass
class ServeResult:
    frames: int
    seconds: float
    summary: dict[str, Any]
    stopped_by: str | None = None  # the signal's name when a signal stopped it


class Service:
    """Serve `runtime`'s bundles on `sources`, writing into `out` (a new or empty folder)."""

    def __init__(self, runtime: EdgeRuntime, sources: Sequence[Source], out: Path, batch: int = 8,
                 latency_s: float = 0.05, forward: bool = True, progress: bool = True, drift: bool = True):
        self.rt, self.sources, self.out = runtime, list(sources), Path(out)
        self.batch, self.latency_s, self.progress = batch, latency_s, progress
        self.streams: list[Stream] = [runtime.stream(drift) for _ in self.sources]
        self.queries = runtime.names
        self._quoted = [json.dumps(q) for q in self.queries]
        self.out.mkdir(parents=True, exist_ok=True)
        self.log = EventLog(self.out / "events.jsonl")
        self.forwarder = Forwarder(self.out / "forwarded", self.queries, enabled=forward)
        self.alarms = [0] * len(self.queries)
        self.stop = threading.Event()
        self._q: queue.Queue = queue.Queue(maxsize=4 * batch)
        self.frames = 0

    # ---- readers
    def _read(self, src: Source) -> None:
        try:
            for item in src.frames(self.stop):
                while not self.stop.is_set():
                    try:
                        self._q.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
        except BaseException as exc:  # handed to the main loop, which reports it
            self._q.put(exc)
        finally:
            self._q.put((_END, src.number))

    # ---- main loop
    def run(self, handle_signals: bool = True) -> ServeResult:
        stopped_by: list[str] = []
        old = {}
        if handle_signals and threading.current_thread() is threading.main_thread():
            def on_signal(signum, _frame):
                stopped_by.append(signal.Signals(signum).name)
                self.stop.set()
                for s, h in old.items():  # a second signal acts at once
                    signal.signal(s, h)
            for s in (signal.SIGINT, signal.SIGTERM):
                old[s] = signal.signal(s, on_signal)
        readers = [threading.Thread(target=self._read, args=(s,), name=f"autocrop-source-{s.number}", daemon=True)
                   for s in self.sources]
        t0 = time.monotonic()
        errors: list[str] = []
        bar = tqdm(unit="frame", desc="serve", disable=not self.progress, dynamic_ncols=True)
        try:
            for r in readers:
                r.start()
            live = len(readers)
            while live and not self.stop.is_set():
                items = self._take()
                frames = []
                for item in items:
                    if isinstance(item, tuple) and item and item[0] is _END:
                        live -= 1
                    elif isinstance(item, BaseException):
                        errors.append(str(item) if isinstance(item, DataError) else f"{type(item).__name__}: {item}")
                        self.stop.set()
                    elif isinstance(item, StreamEvent):
                        self._stream_event(item)
                    else:
                        frames.append(item)
                if frames:
                    self._score(frames)
                    bar.update(len(frames))
                    bar.set_postfix_str(self._status(), refresh=False)
                self.log.flush()
        finally:
            self.stop.set()
            for s, h in old.items():
                signal.signal(s, h)
            bar.close()
            seconds = time.monotonic() - t0
            summary = self.summary(seconds, stopped_by[0] if stopped_by else None)
            self.log.close()
            self.forwarder.close()
            write_summary(self.out / "summary.json", summary)
            for r in readers:
                r.join(timeout=2)
        if errors:
            raise DataError(errors[0])
        return ServeResult(self.frames, seconds, summary, stopped_by[0] if stopped_by else None)

    def _take(self) -> list:
        """What the readers have ready: blocks for the first item, then waits at most `latency_s` for a full batch."""
        items: list = []
        try:
            items.append(self._q.get(timeout=0.2))
        except queue.Empty:
            return items
        deadline = time.monotonic() + self.latency_s
        n = 1
        while n < self.batch:
            try:
                items.append(self._q.get(timeout=max(0.0, deadline - time.monotonic())))
                n += isinstance(items[-1], Frame)
            except queue.Empty:
                break
        return items

    def _stream_event(self, ev: StreamEvent) -> None:
        src = self.sources[ev.source]
        self.log.event(type="stream", source=src.name, time=round(time.time(), 3), state=ev.state, detail=ev.detail,
                       attempt=ev.attempt)
        if self.progress and ev.state in ("lost", "retry") and ev.attempt <= 1:
            tqdm.write(f"autocrop serve: {src.name}: {ev.state} ({ev.detail}); reconnecting")

    def _score(self, frames: list[Frame]) -> None:
        maps = self.rt.maps([f.image for f in frames])
        by_source: dict[int, list[int]] = {}
        for i, f in enumerate(frames):
            by_source.setdefault(f.source, []).append(i)
        for s, rows in by_source.items():
            # split at gaps: windows and smoothing restart there
            cuts = [k for k, i in enumerate(rows) if frames[i].gap and k > 0]
            for a, b in zip([0, *cuts], [*cuts, len(rows)], strict=True):
                seg = rows[a:b]
                if frames[seg[0]].gap:
                    self.streams[s].reset()
                self._score_segment(s, [frames[i] for i in seg], {k: v[seg] for k, v in maps.items()})

    def _score_segment(self, s: int, frames: list[Frame], maps) -> None:
        step = self.streams[s].step(maps)
        name = self.sources[s].name
        for f, sc, dec in zip(frames, step.scores, step.decisions, strict=True):
            self.log.decisions(name, f.index, f.pts, f.time, self._quoted, sc, dec)
            self.forwarder.forward(name, f.index, f.image, dec, f.jpeg)  # counts each query's positives too
        self.frames += len(frames)
        for j, check in step.drift:
            if check.changed:
                f = frames[check.row]
                self.alarms[j] += check.alarm
                self.log.event(type="drift", state="alarm" if check.alarm else "cleared", source=name, frame=f.index,
                               pts=f.pts, time=round(f.time, 3), query=self.queries[j], statistic="mean_shift",
                               value=round(check.value, 4), threshold=round(check.threshold, 4),
                               window_score_mean=round(check.score_mean, 4))
                if check.alarm and self.progress:
                    tqdm.write(f"autocrop serve: drift alarm for {self.queries[j]} on {name} at frame {f.index}: "
                               f"mean shift {check.value:.2f} > {check.threshold:.2f}")

    def _status(self) -> str:
        pos = sorted(zip(self.forwarder.frames, self.queries, strict=True), reverse=True)
        shown = " ".join(f"{q}:{n}" for n, q in pos[:3]) + (f" +{len(pos) - 3} queries" if len(pos) > 3 else "")
        alarms = sum(self.alarms)
        return f"positives {shown}" + (f" | drift alarms {alarms}" if alarms else "")

    def summary(self, seconds: float, stopped_by: str | None) -> dict[str, Any]:
        total_in = sum(s.bytes_in for s in self.sources)
        fw = self.forwarder

        def share(b: int) -> float | None:
            return round(b / total_in, 6) if total_in else None

        return {
            "frames": self.frames,
            "seconds": round(seconds, 3),
            "frames_per_s": round(self.frames / seconds, 3) if seconds > 0 else None,
            "stopped_by": stopped_by,
            "sources": [{"name": s.name, "bytes_in": s.bytes_in, **_live_counts(s)} for s in self.sources],
            "bytes_in": total_in,
            "queries": [{"query": q, "positives": fw.frames[j],  # every positive frame is forwarded
                         "bytes_forwarded": fw.bytes[j], "share_of_stream": share(fw.bytes[j]),
                         "drift_alarms": self.alarms[j]} for j, q in enumerate(self.queries)],
            "forwarded": {"frames": fw.union_frames, "bytes": fw.union_bytes, "share_of_stream": share(fw.union_bytes)},
        }


def _live_counts(src: Source) -> dict[str, int]:
    return {k: getattr(src, k) for k in ("received", "replayed", "reconnects") if hasattr(src, k)}

"""Play footage as a live camera: H.264 in MPEG-TS, sent in real time to a URL FFmpeg writes to.

Try the edge service on a "camera" without one:

    python examples/camera.py ../shared/data/cdnet2014-highway/input --url "tcp://127.0.0.1:8554?listen=1" &
    autocrop serve bundles/car --source tcp://127.0.0.1:8554 --weights ... --out served/

The frames are encoded once (deterministically) and then sent packet by packet at `--fps`, from
`--start` (rounded down to a keyframe, as a relay resends its last group of pictures). Killing
and restarting it with a later `--start` is a camera that dropped and came back; the service
reconnects and skips the frames it already scored. `encode()` is importable, so a test can
decode exactly the bitstream the camera sends.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image


def frame_files(folder: Path, first: int | None = None, count: int | None = None) -> list[Path]:
    files = sorted((p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")),
                   key=lambda p: int(re.findall(r"\d+", p.stem)[-1]))
    if first is not None:
        files = [p for p in files if int(re.findall(r"\d+", p.stem)[-1]) >= first]
    return files[:count] if count else files


def encode(files: list[Path], out: Path, fps: int = 25, gop: int = 10) -> Path:
    """H.264 (no B-frames, a keyframe every `gop` frames) in MPEG-TS; pts = frame index / fps."""
    with av.open(str(out), "w", format="mpegts") as container:
        stream = container.add_stream("libx264", rate=fps, options={"g": str(gop), "bf": "0", "preset": "veryfast",
                                                                    "tune": "zerolatency", "threads": "1"})
        first = np.asarray(Image.open(files[0]).convert("RGB"))
        stream.height, stream.width = first.shape[:2]
        stream.pix_fmt = "yuv420p"
        for i, f in enumerate(files):
            frame = av.VideoFrame.from_ndarray(np.asarray(Image.open(f).convert("RGB")), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out


def send(ts: Path, url: str, start: int = 0, fps: float = 25.0, loop: bool = False) -> None:
    """Send the packets of `ts` from the keyframe at or before frame `start`, in real time."""
    with av.open(str(ts)) as src:
        packets = [p for p in src.demux(src.streams.video[0]) if p.dts is not None]
        template = src.streams.video[0]
        keys = [i for i, p in enumerate(packets) if p.is_keyframe and i <= start]
        first = keys[-1] if keys else 0
        with av.open(url, "w", format="mpegts", options={"flush_packets": "1"}) as out:
            stream = out.add_stream_from_template(template)
            t0, n = time.monotonic(), 0
            while True:
                for i in range(first, len(packets)):
                    p = packets[i]
                    p.stream = stream
                    out.mux(p)
                    print(f"sent {i}", flush=True)
                    n += 1
                    time.sleep(max(0.0, t0 + n / fps - time.monotonic()))
                if not loop:
                    break
                first = 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("footage", help="a frame folder, or an MPEG-TS file made by --encode-only")
    p.add_argument("--url", default="tcp://127.0.0.1:8554?listen=1", help="where to send (FFmpeg output URL)")
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--start", type=int, default=0, help="first frame to send (rounded down to a keyframe)")
    p.add_argument("--first", type=int, help="first frame number of the folder to use")
    p.add_argument("--count", type=int, help="frames of the folder to use")
    p.add_argument("--loop", action="store_true", help="send the footage again and again")
    p.add_argument("--encode-only", metavar="TS", help="write the encoded footage to this file and exit")
    a = p.parse_args(argv)
    src = Path(a.footage)
    if src.is_dir():
        ts = Path(a.encode_only) if a.encode_only else Path(f"/tmp/camera-{src.name}.ts")
        encode(frame_files(src, a.first, a.count), ts, fps=round(a.fps))
        if a.encode_only:
            return 0
    else:
        ts = src
    send(ts, a.url, a.start, a.fps, a.loop)
    return 0


if __name__ == "__main__":
    sys.exit(main())

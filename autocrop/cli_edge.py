"""The edge commands of the command line: `run` (CSV decisions) and `serve` (the edge service)."""

from __future__ import annotations

import argparse
import sys

__all__ = ["add_edge_commands", "cmd_run", "cmd_serve"]


def add_edge_commands(sub) -> None:
    c = sub.add_parser("run", help="edge runtime: score footage with exported bundles, one backbone pass per frame",
                       description="Print frame,<query#trial>... (1 = the query's smoothed decision fires) as CSV.")
    c.add_argument("bundles", nargs="+", metavar="BUNDLE", help="bundle folders made by `autocrop export`")
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--frames", help="folder of jpg/png frames")
    src.add_argument("--video", help="video file (PyAV)")
    c.add_argument("--fps", type=float, help="sample the video at this rate")
    c.add_argument("--weights", required=True, help="backbone weights the bundles were exported with (.safetensors/.pth, or hub)")
    c.add_argument("--engine", choices=("auto", "onnxruntime", "torch"), default="auto",
                   help="backbone engine (default auto: PyTorch on CUDA when a GPU is there, else ONNX Runtime)")
    c.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where the backbone runs (default auto)")
    _trust(c)
    c = sub.add_parser(
        "serve", help="edge service: many bundles on frame folders, videos or live streams; events, forwarded frames, drift alarms",
        description="Serve exported microclassifiers: one backbone pass per frame for every bundle, on one or more "
                    "sources. Writes OUT/events.jsonl (a line per frame and query, plus stream and drift events), "
                    "OUT/forwarded/<query>/ (the frames each query wants) and OUT/summary.json (bandwidth per query). "
                    "A live stream that drops is reconnected with backoff; Ctrl-C or SIGTERM stops cleanly.",
        epilog="example:\n  autocrop serve bundles/car bundles/train --source rtsp://cam1/stream --weights "
               "weights/model.safetensors --out served/", formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("bundles", nargs="+", metavar="BUNDLE", help="bundle folders made by `autocrop export`")
    c.add_argument("--source", action="append", required=True, metavar="SRC",
                   help="frame folder, video file, or stream URL FFmpeg opens (rtsp://, http://, tcp://, udp://); repeatable")
    c.add_argument("--weights", required=True, help="backbone weights the bundles were exported with")
    c.add_argument("--out", required=True, help="output folder (new or empty)")
    c.add_argument("--fps", type=float, help="sample video and live sources at this rate (default: every frame)")
    c.add_argument("--batch", type=int, default=8, help="frames per backbone pass (default 8)")
    c.add_argument("--give-up", type=float, metavar="SECONDS",
                   help="stop when a live source has been down this long (default: keep reconnecting)")
    c.add_argument("--no-forward", action="store_true", help="count forwarded bytes but write no frames")
    c.add_argument("--no-drift", action="store_true", help="no drift statistics or alarms")
    c.add_argument("--engine", choices=("auto", "onnxruntime", "torch"), default="auto", help="backbone engine (default auto)")
    c.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where the backbone runs (default auto)")
    c.add_argument("--quiet", action="store_true", help="no status line")
    _trust(c)


def _trust(c: argparse.ArgumentParser) -> None:
    c.add_argument("--trust", action="append", default=[], metavar="PUBKEY",
                   help="accept only bundles signed by this Ed25519 public key (PEM); repeatable")


def _bundles(args: argparse.Namespace):
    from pathlib import Path

    from autocrop.export import load_bundle

    return [load_bundle(Path(b), [Path(k) for k in args.trust]) for b in args.bundles]


def cmd_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from autocrop.config import Footage
    from autocrop.errors import ConfigError
    from autocrop.edge import EdgeRuntime
    from autocrop.sources import open_source

    if args.fps is not None and args.fps <= 0:
        raise ConfigError(f"--fps {args.fps:g}: must be positive (frames per second to sample)")
    rt = EdgeRuntime(_bundles(args), args.weights, args.engine, args.device)
    source = open_source(Footage(frames=args.frames and Path(args.frames), video=args.video and Path(args.video), fps=args.fps))
    print("frame," + ",".join(rt.names))
    for fid, decisions in rt.run(source.frames()):
        print(f"{fid}," + ",".join(str(int(d)) for d in decisions), flush=True)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from autocrop.edge import EdgeRuntime
    from autocrop.errors import ConfigError
    from autocrop.export import check_out
    from autocrop.report import format_serve
    from autocrop.serve import Service
    from autocrop.streams import Backoff, open_stream

    for flag, value in (("--fps", args.fps), ("--batch", args.batch), ("--give-up", args.give_up)):
        if value is not None and value <= 0:
            raise ConfigError(f"{flag} {value:g}: must be positive")
    out = Path(args.out)
    check_out(out)
    bundles = _bundles(args)
    sources = [open_stream(i, s, args.fps, Backoff(give_up_s=args.give_up)) for i, s in enumerate(args.source)]
    rt = EdgeRuntime(bundles, args.weights, args.engine, args.device)
    res = Service(rt, sources, out, batch=args.batch, forward=not args.no_forward, progress=not args.quiet,
                  drift=not args.no_drift).run()
    print(format_serve(res.summary))
    if res.stopped_by:
        print(f"stopped by {res.stopped_by}; everything written is flushed", file=sys.stderr)
    return 0

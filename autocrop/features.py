"""FeatureStore: extract every requested layer once, float16 on disk, never serve a partial or damaged cache."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import mmap
import os
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from autocrop.backbone import Backbone
from autocrop.engine import make_engine, resolve
from autocrop.errors import DataError
from autocrop.layer_files import LayerFile, LayerWriters
from autocrop.sources import FrameSource

__all__ = ["FeatureStore"]

_PARTIAL = ".partial.npy"
CPU_BATCH, CUDA_BATCH = 16, 256  # frames per backbone pass when `backbone.batch_size` is not set


class FeatureStore:
    """Cached feature maps of one backbone over one set of frames, one .npy file per layer.

    The directory is keyed by (model, kwargs, weights digest, input size, preprocessing, engine,
    frame digest), so a change to any of them extracts afresh. A layer file appears only by an
    atomic rename after every frame is written and synced, beside a record of its shape, dtype,
    size and SHA-256 (`<layer>.npy.json`); an interrupted run leaves only `*.partial.npy` files,
    which are never read and are removed by the next extraction. Extraction holds an exclusive
    lock on the cache folder (`flock`, also across machines on a shared file system): a second
    extractor or searcher waits, then reuses what the first wrote. Opening a layer checks its
    record and size (a truncated file is refused in one line); `extract` re-extracts a damaged
    layer, and `verify=True` also compares checksums. Layers are read memory-mapped: memory does
    not grow with the number of frames.
    """

    def __init__(self, root: Path, backbone: Backbone, source: FrameSource, ids: Sequence[int]):
        self.backbone = backbone
        self.source = source
        self.ids = [int(i) for i in ids]
        spec = backbone.spec
        self.root = Path(root)
        self.engine_name, self.device = resolve(spec.engine, spec.device, backbone)
        key = {
            "model": spec.model,
            "kwargs": spec.kwargs,
            "weights": backbone.weights_digest,
            "input_size": list(spec.input_size),
            "preprocessing": backbone.preprocessing,
            "engine": self.engine_name,
            "frames": source.digest(self.ids),
        }
        if self.device == "cuda":  # half precision (and GPU JPEG decode): a cache of its own
            key["device"] = "cuda" + ("+nvjpeg" if spec.gpu_decode else "")
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
        self.key = key
        self.dir = self.root / f"{spec.model}-{digest}"
        self._maps: dict[str, np.ndarray] = {}
        self._mm: dict[str, mmap.mmap] = {}

    def path(self, layer: str) -> Path:
        return self.dir / f"{layer}.npy"

    def record(self, layer: str) -> Path:
        return self.dir / f"{layer}.npy.json"

    def damage(self, layer: str, verify: bool = False) -> str | None:
        """Why a published layer file cannot be served (None: it can); `verify` also hashes it."""
        path, rec_path = self.path(layer), self.record(layer)
        try:
            rec = json.loads(rec_path.read_text())
        except FileNotFoundError:
            return "no completeness record (an older autocrop, or an interrupted publish)"
        except (ValueError, OSError) as exc:
            return f"unreadable completeness record ({exc})"
        size = path.stat().st_size
        if size != rec.get("bytes"):
            return f"{size:,} bytes where {rec.get('bytes'):,} were written (truncated or overwritten)"
        if rec.get("shape") != [len(self.ids), *rec.get("shape", [0])[1:]]:
            return f"{rec.get('shape', ['?'])[0]} frames where this footage has {len(self.ids)}"
        if verify and _sha256(path) != rec.get("sha256"):
            return "checksum mismatch (the file's bytes changed after it was written)"
        return None

    def missing(self, layers: Sequence[str]) -> list[str]:
        return [n for n in dict.fromkeys(layers) if not self.path(n).is_file()]

    @contextlib.contextmanager
    def _locked(self, progress: bool) -> Iterator[None]:
        """Exclusive use of the cache folder for extraction; waits (saying so) while another process has it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if progress:
                    print(f"{self.dir}: another process is extracting into this cache; waiting to reuse its work",
                          file=sys.stderr, flush=True)
                fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def extract(self, layers: Sequence[str], progress: bool = True, verify: bool = False) -> list[str]:
        """One backbone pass per frame for every missing or damaged layer; returns the layers written.

        Damaged layers (see `damage`) are reported on stderr and extracted again."""
        layers = list(dict.fromkeys(layers))
        if not self.missing(layers) and not verify and not any(self.damage(n) for n in layers):
            return []  # the common case: no lock needed to read a complete cache
        self.backbone.check_layers(layers, "feature extraction")
        with self._locked(progress):
            todo = self.missing(layers)
            for n in (n for n in layers if n not in todo):
                why = self.damage(n, verify)
                if why:
                    print(f"{self.path(n)}: damaged cache file, {why}; extracting it again", file=sys.stderr, flush=True)
                    self.path(n).unlink()
                    todo.append(n)
            if todo:
                self._extract(todo, progress)
        return todo

    def _extract(self, todo: list[str], progress: bool) -> None:
        for stale in self.dir.glob("*" + _PARTIAL):  # under the lock: nobody else is writing
            stale.unlink()
        info = self.backbone.layers()
        tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        partial = {n: self.dir / f"{n}.{tag}{_PARTIAL}" for n in todo}
        files: dict[str, LayerFile] = {}
        try:
            for n in todo:
                files[n] = LayerFile(partial[n], (len(self.ids), info[n].channels, info[n].height, info[n].width))
            self._fill(files, progress)
            for n in todo:
                f = files.pop(n)
                f.close()
                _atomic_write(self.record(n), json.dumps({"shape": list(f.shape), "dtype": "float16",
                                                          "bytes": partial[n].stat().st_size, "sha256": f.sha256}))
                os.replace(partial[n], self.path(n))
            self._write_meta()
        except OSError as exc:  # a full disk, say: nothing half-written stays
            raise DataError(f"{self.dir}: cannot write the feature cache ({exc}); free space or set `cache_dir` "
                            "elsewhere, then run `autocrop extract` again") from None
        finally:
            for f in files.values():
                f.abort()
            for p in partial.values():
                p.unlink(missing_ok=True)

    def _fill(self, files: dict[str, LayerFile], progress: bool) -> None:
        """Decode ahead of the engine (a background thread; on CUDA, on the GPU) while the engine
        runs and each layer's writer thread writes the batch before."""
        engine = make_engine(self.backbone, list(files), self.engine_name, self.device, self.root, half_outputs=True)
        batch = self.backbone.spec.batch_size or (CUDA_BATCH if self.device == "cuda" else CPU_BATCH)
        bar = tqdm(total=len(self.ids), unit="frame", desc=f"extract {len(files)} layer(s) [{engine.name} {self.device}]",
                   disable=not progress, dynamic_ncols=True)
        writers = LayerWriters(files)
        try:
            with bar:
                for x in engine.batches(self.source, self.ids, batch):
                    writers.write(engine.run(x))
                    bar.update(len(x))
                writers.drain()
        finally:
            writers.close()

    def _write_meta(self) -> None:
        meta = {"key": self.key, "ids": self.ids, "layers": sorted(p.name[:-4] for p in self.dir.glob("*.npy") if not p.name.endswith(_PARTIAL))}
        _atomic_write(self.dir / "meta.json", json.dumps(meta, indent=1, default=str))

    def load(self, layer: str) -> np.ndarray:
        """The whole layer, float16 [frames, C, H, W], memory-mapped (read from disk as sliced)."""
        if layer not in self._maps:
            path = self.path(layer)
            if not path.is_file():
                raise DataError(f"{path}: layer `{layer}` is not extracted; run `autocrop extract CONFIG`")
            why = self.damage(layer)
            if why:
                raise DataError(f"{path}: damaged cache file, {why}; run `autocrop extract CONFIG` to extract it again")
            self._maps[layer], self._mm[layer] = _map(path)
        return self._maps[layer]

    def release(self) -> None:
        """Drop the mapped pages this process has read (they stay in the OS page cache), so that
        reading a long layer in chunks keeps the resident set at one chunk, not the layer."""
        for mm in self._mm.values():
            with contextlib.suppress(OSError, ValueError, AttributeError):
                mm.madvise(mmap.MADV_DONTNEED)

    def __getitem__(self, layer: str) -> np.ndarray:
        """float16 [frames, C, H, W]: the store is a mapping of layer -> maps, as `InputSpec.gather` reads."""
        return self.load(layer)


def _map(path: Path) -> tuple[np.ndarray, mmap.mmap]:
    """A .npy file as a read-only array over a memory map this module owns (so it can `release`)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(f)
        offset = f.tell()
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    count = int(np.prod(shape))
    arr = np.frombuffer(mm, dtype=dtype, count=count, offset=offset).reshape(shape, order="F" if fortran else "C")
    return arr, mm


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)

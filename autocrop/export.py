"""The edge bundle: manifest.json + head weights (safetensors) + the head as ONNX, checksummed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autocrop.drift import DRIFT_FILE, DriftReference
from autocrop.errors import DataError
from autocrop.inputs import InputSpec
from autocrop.integrity import HASH_KEY, SIGNATURE, manifest_hash, sign, verify_signature

__all__ = ["FORMAT_VERSION", "Bundle", "write_bundle", "copy_bundle", "load_bundle", "check_out"]

FORMAT_VERSION = 3  # 2: the head's input is one `input` object (InputSpec); 3: the manifest is hashed (and may be signed)
REQUIRED = ("query", "trial", "backbone", "input", "head", "threshold", "smoothing", "files")
HEAD_WEIGHTS = "head.safetensors"
HEAD_ONNX = "head.onnx"
MANIFEST = "manifest.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _export_onnx(head: Any, path: Path) -> None:
    """The head (standardization included) as ONNX: features [N, D] float32 -> score [N]."""
    import torch

    class _One(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            return self.inner(features[None])[0]

    if not type(head).trainable:
        raise DataError(f"{path.parent}: `{head.kind}` heads have no ONNX form (they search stored frames); export another head")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _One(head).eval(), (torch.zeros(2, head.dims[0]),), str(path), dynamo=False,
            input_names=["features"], output_names=["score"], dynamic_axes={"features": {0: "n"}, "score": {0: "n"}},
        )


def check_out(out: Path) -> None:
    """Refuse an `--out` that would overwrite something (it must not exist, or be an empty folder)
    or that cannot be written (its nearest existing folder is a file or not writable); creates nothing."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out}: exists and is not an empty folder; choose a new --out or remove it")
    above = out.parent
    while not above.exists():
        above = above.parent
    if not above.is_dir() or not os.access(above, os.W_OK | os.X_OK):
        raise DataError(f"{out}: cannot be written ({above} is not a writable folder); choose another --out")


def _staging(out: Path) -> Path:
    """A fresh temporary folder beside `out`, after refusing a non-empty `out`."""
    check_out(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".bundle-", dir=out.parent))
    except OSError as exc:
        raise DataError(f"{out}: cannot be written ({exc.strerror}); choose another --out") from None


def _publish(tmp: Path, out: Path) -> Path:
    """Rename a complete bundle into place: `out` never holds half a bundle."""
    if out.exists():
        out.rmdir()
    os.replace(tmp, out)
    return out


def write_bundle(out: Path, head: Any, manifest: dict[str, Any], drift: DriftReference | None = None,
                 sign_key: Path | None = None) -> Path:
    """Write the bundle into `out` atomically: a temporary folder renamed into place when complete.

    `drift`: the statistics of the head's training inputs, for the edge's drift alarms;
    `sign_key`: an Ed25519 private key (PEM) that signs the manifest's hash.
    """
    from autocrop.heads import save_head

    out = Path(out)
    tmp = _staging(out)
    try:
        save_head(head, tmp / HEAD_WEIGHTS)
        _export_onnx(head, tmp / HEAD_ONNX)
        names = [HEAD_WEIGHTS, HEAD_ONNX]
        if drift is not None:
            drift.save(tmp / DRIFT_FILE)
            manifest = {**manifest, "drift": drift.manifest()}
            names.append(DRIFT_FILE)
        files = {name: _sha256(tmp / name) for name in names}
        body = json.loads(json.dumps({"format_version": FORMAT_VERSION, **manifest, "files": files}, default=str))
        body[HASH_KEY] = manifest_hash(body)
        (tmp / MANIFEST).write_text(json.dumps(body, indent=2))
        if sign_key is not None:
            (tmp / SIGNATURE).write_text(json.dumps(sign(body[HASH_KEY], sign_key), indent=2))
        return _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def copy_bundle(src: Path, out: Path, sign_key: Path | None = None) -> Path:
    """Verify the bundle at `src`, then copy it to `out` atomically (signed with `sign_key` if given)."""
    bundle = load_bundle(src)
    out = Path(out)
    tmp = _staging(out)
    try:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
        if sign_key is not None:
            (tmp / SIGNATURE).write_text(json.dumps(sign(bundle.manifest[HASH_KEY], sign_key), indent=2))
        return _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@dataclass
class Bundle:
    """A verified bundle: its manifest and a scorer; torch is not needed to score."""

    path: Path
    manifest: dict[str, Any]

    @property
    def threshold(self) -> float:
        return float(self.manifest["threshold"])

    @property
    def input(self) -> InputSpec:
        return InputSpec.from_dict(self.manifest["input"])

    @property
    def name(self) -> str:
        return f"{self.manifest['query']}#{self.manifest['trial']}"

    def session(self):
        """An ONNX Runtime session for the head: one thread, no spinning. A head is microseconds of
        work; a thread pool per head (ORT's default) costs more than the head, and fifty pools
        spinning after each run take the cores from the backbone."""
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return ort.InferenceSession(str(self.path / HEAD_ONNX), opts, providers=["CPUExecutionProvider"])

    def scores(self, features: np.ndarray, session: Any = None) -> np.ndarray:
        """Scores for crop features [N, D] (or [N, C, h, w]) with ONNX Runtime."""
        sess = session or self.session()
        x = np.ascontiguousarray(features.reshape(len(features), -1), dtype=np.float32)
        return sess.run(["score"], {"features": x})[0]

    def drift(self) -> DriftReference | None:
        """The training-input statistics for drift alarms; None for a bundle exported without them."""
        entry = self.manifest.get("drift")
        return DriftReference.load(self.path / DRIFT_FILE, entry) if entry else None

    def head(self):
        """The head as a torch module, from safetensors (never unpickled)."""
        from autocrop.heads import load_head

        return load_head(self.path / HEAD_WEIGHTS)


def load_bundle(path: Path, trust: Sequence[Path] = ()) -> Bundle:
    """Read and verify a bundle: format version, the manifest's hash, every file's checksum, and
    with `trust` (public keys) a signature by one of them; refuse anything else."""
    path = Path(path)
    mf = path / MANIFEST
    if not mf.is_file():
        raise DataError(f"{path}: no {MANIFEST}; not an autocrop bundle (make one with `autocrop export`)")
    try:
        manifest = json.loads(mf.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{mf}: corrupt manifest ({exc}); export the bundle again") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        version = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise DataError(f"{mf}: format_version {version!r}, this autocrop reads {FORMAT_VERSION}; export the bundle again")
    if manifest.get(HASH_KEY) != manifest_hash(manifest):
        raise DataError(f"{mf}: the manifest does not match its hash (edited or damaged); refusing to load, export the bundle again")
    if trust:
        verify_signature(path, manifest[HASH_KEY], trust)
    missing = [k for k in REQUIRED if k not in manifest]
    if missing:
        raise DataError(f"{mf}: missing key `{missing[0]}`; the manifest is incomplete, export the bundle again")
    try:
        InputSpec.from_dict(manifest["input"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{mf}: `input` is malformed ({type(exc).__name__}: {exc}); export the bundle again") from None
    files = manifest.get("files") or {}
    for name in (HEAD_WEIGHTS, HEAD_ONNX, *([DRIFT_FILE] if manifest.get("drift") else [])):
        f = path / name
        if name not in files or not f.is_file():
            raise DataError(f"{path}: {name} is missing; the bundle is incomplete, export it again")
        if _sha256(f) != files[name]:
            raise DataError(f"{f}: checksum mismatch (tampered or truncated); refusing to load, export the bundle again")
    return Bundle(path, manifest)

"""A bundle's integrity: the manifest hashed in canonical form, and optionally signed (Ed25519).

The manifest lists the SHA-256 of every other file, so its own hash covers the whole bundle; a
signature over that hash lets an edge node refuse bundles that a key it trusts did not sign.
Keys are ordinary PEM files, e.g. made with OpenSSL:

    openssl genpkey -algorithm ed25519 -out export-key.pem
    openssl pkey -in export-key.pem -pubout -out export-key.pub
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autocrop.errors import DataError

__all__ = ["manifest_hash", "sign", "private_key", "verify_signature", "SIGNATURE", "HASH_KEY"]

HASH_KEY = "manifest_sha256"
SIGNATURE = "signature.json"


def manifest_hash(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest without its own hash: keys sorted, no whitespace, UTF-8."""
    body = {k: v for k, v in manifest.items() if k != HASH_KEY}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _key_id(public_key) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(digest: str, key_path: Path) -> dict[str, str]:
    """The signature entry for a manifest hash, made with an Ed25519 private key (PEM, no password)."""
    key = private_key(key_path)
    return {"algorithm": "ed25519", "key_id": _key_id(key.public_key()),
            "signature": base64.b64encode(key.sign(digest.encode())).decode()}


def private_key(key_path: Path):
    """An Ed25519 private key from a PEM file, or a one-line error saying how to make one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise DataError(f"{key_path}: not a readable PEM private key without password ({exc}); "
                        "make one with `openssl genpkey -algorithm ed25519 -out KEY.pem`") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise DataError(f"{key_path}: not an Ed25519 key; make one with `openssl genpkey -algorithm ed25519 -out KEY.pem`")
    return key


def _public_key(path: Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable PEM public key ({exc}); export it with "
                        "`openssl pkey -in KEY.pem -pubout -out KEY.pub`") from None
    if not isinstance(key, Ed25519PublicKey):
        raise DataError(f"{path}: not an Ed25519 public key")
    return key


def verify_signature(bundle: Path, digest: str, trusted: Sequence[Path]) -> str:
    """The key id that signed `digest`, if it is one of `trusted`; else a one-line refusal."""
    from cryptography.exceptions import InvalidSignature

    sig_path = Path(bundle) / SIGNATURE
    if not sig_path.is_file():
        raise DataError(f"{bundle}: not signed, and --trust asks for a signature; export it with --sign KEY")
    try:
        entry = json.loads(sig_path.read_text())
        signature = base64.b64decode(entry["signature"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{sig_path}: unreadable signature ({exc}); export the bundle again with --sign") from None
    keys = {_key_id(k): k for k in map(_public_key, trusted)}
    key = keys.get(entry.get("key_id", ""))
    if key is None:
        raise DataError(f"{bundle}: signed by key {entry.get('key_id')!r}, which no --trust key is; "
                        "trust that key or export the bundle with yours")
    try:
        key.verify(signature, digest.encode())
    except InvalidSignature:
        raise DataError(f"{bundle}: signature does not match the manifest (tampered); refusing to load, "
                        "export the bundle again") from None
    return entry["key_id"]

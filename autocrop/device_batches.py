"""Batches for the engines, read and decoded ahead of them in a background thread (`pipeline.prefetch`).

- `device_batches` (the torch engine on CUDA): a folder of JPEG frames is decoded on the device
  (nvjpeg, batched `decode_jpeg` of a list), so the CPU only reads files; other footage (PNG
  frames, video) is decoded on the CPU and sent as uint8, a quarter of the bytes of float32, from
  pinned memory. The batch is normalised (and resized) on the device, in float32 as
  `Backbone.preprocess` does, then cast to the engine's precision.
- `cpu_batches` (engines on the CPU): JPEG frames decoded by torchvision's libjpeg-turbo, the
  same pixels as PIL with less of the CPU the engine needs; other footage by its `FrameSource`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch

from autocrop.backbone import Backbone
from autocrop.pipeline import batched_frames, prefetch, prefetch_batches, size_error
from autocrop.sources import FolderSource, FrameSource, unreadable_frame

__all__ = ["device_batches", "cpu_batches", "jpeg_folder"]

_JPEG = (".jpg", ".jpeg")


def jpeg_folder(source: FrameSource, ids: Sequence[int]) -> bool:
    """True when every frame asked for is a JPEG file of a frame folder (decodable on the device)."""
    return isinstance(source, FolderSource) and all(source.file(i).suffix.lower() in _JPEG for i in ids)


def device_batches(source: FrameSource, ids: Sequence[int], batch: int, backbone: Backbone, device: str | torch.device,
                   dtype: torch.dtype = torch.float32, depth: int = 3, jpeg_on_device: bool = True) -> Iterator[torch.Tensor]:
    """Normalised NCHW batches of `dtype` on `device`, in the order of `ids`; JPEG frames decoded
    there unless `jpeg_on_device` is False."""
    device = torch.device(device)
    if jpeg_on_device and jpeg_folder(source, ids):  # files read ahead, decoded here, on the device
        for images in _decoded(source, prefetch(lambda: _read_jpegs(source, ids, batch), depth), device):
            yield backbone.preprocess_tensor(torch.stack(images), dtype)
        return
    pin = device.type == "cuda"
    for x in prefetch(lambda: (_uint8(frames, pin) for _f, frames in batched_frames(source, ids, batch)), depth):
        yield backbone.preprocess_tensor(x.to(device, non_blocking=True), dtype)


def cpu_batches(source: FrameSource, ids: Sequence[int], batch: int, backbone: Backbone, depth: int = 3) -> Iterator[torch.Tensor]:
    """float32 batches for an engine on the CPU, prepared `depth` ahead in the background thread.

    JPEG frames are decoded by torchvision: libjpeg-turbo, as PIL, so the same pixels (tested),
    with less of the CPU that the engine needs; other footage by its `FrameSource`."""
    if not jpeg_folder(source, ids):
        return prefetch_batches(source, ids, batch, backbone.preprocess)

    def items() -> Iterator[torch.Tensor]:  # read, decoded and preprocessed in the background thread
        for images in _decoded(source, _read_jpegs(source, ids, batch), torch.device("cpu")):
            yield backbone.preprocess([img.permute(1, 2, 0).numpy() for img in images])

    return prefetch(items, depth)


def _decoded(source: FolderSource, reads: Iterable[tuple[list[int], list[torch.Tensor]]],
             device: torch.device) -> Iterator[list[torch.Tensor]]:
    """uint8 CHW frames per batch of file bytes, decoded on `device`; a frame whose size differs
    from the first is refused in one line."""
    first = None
    for fids, files in reads:
        images = _decode(source, fids, files, device)
        first = first or tuple(images[0].shape)
        for fid, img in zip(fids, images, strict=True):
            if tuple(img.shape) != first:
                raise size_error(source, fid, tuple(img.shape[1:]), first[1:])
        yield images


def _uint8(frames: list[np.ndarray], pin: bool) -> torch.Tensor:
    x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)
    return x.pin_memory() if pin else x


def _read_jpegs(source: FolderSource, ids: Sequence[int], batch: int) -> Iterator[tuple[list[int], list[torch.Tensor]]]:
    for k in range(0, len(ids), batch):
        fids = [int(i) for i in ids[k:k + batch]]
        files = []
        for fid in fids:
            try:
                files.append(torch.from_numpy(np.fromfile(source.file(fid), dtype=np.uint8)))
            except OSError as exc:
                raise unreadable_frame(source.file(fid), fid, exc) from None
        yield fids, files


def _decode(source: FolderSource, fids: list[int], files: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """uint8 CHW frames decoded on `device`; a damaged file is refused in one line naming it."""
    from torchvision.io import ImageReadMode, decode_jpeg

    try:
        return decode_jpeg(files, mode=ImageReadMode.RGB, device=device)
    except RuntimeError:  # find the file, as the CPU decode does
        for fid, data in zip(fids, files, strict=True):
            try:
                decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
            except RuntimeError as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                first = re.sub(r"^\w+, \S+:\d+, ", "", first)  # torchvision's source location
                raise unreadable_frame(source.file(fid), fid, first) from None
        raise

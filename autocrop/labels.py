"""Per-frame labels from a CSV or masks + a query region: 1 positive, 0 negative, UNLABELLED (not
labelled yet: a frame `label-next` may propose) or IGNORE (outside the temporal ROI, marked
`ignore`, or nothing of the region scored: never trained on, scored or proposed).

In a label CSV a later row for a frame overrides an earlier one (a correction appended), but an
empty `label` cell never erases a label: appending a batch's rows before they are filled is harmless.

Splits are cut in time over every frame that can carry a label (labelled or not), so a frame's
split does not change as labels are added; each split trains and scores on its labelled frames."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from autocrop.config import Labels, Split
from autocrop.errors import DataError
from autocrop.sources import FrameSource

__all__ = ["FrameLabels", "load_labels", "label_value", "IGNORE", "UNLABELLED", "split_blocks", "block_of", "subsample", "check_trainable", "SPLITS"]

IGNORE = -1
UNLABELLED = -2
SPLITS = ("train", "val", "test")
_UNKNOWN_PIXEL = 170  # CDnet: motion border, never scored
_OBJECT_PIXEL = 255


@dataclass(frozen=True)
class FrameLabels:
    """Labels aligned with frame ids in time order; y is 1, 0, UNLABELLED or IGNORE."""

    ids: np.ndarray
    y: np.ndarray

    @property
    def scored(self) -> np.ndarray:
        """Frames with a 0/1 label."""
        return self.y >= 0

    @property
    def candidates(self) -> np.ndarray:
        """Frames that are or may become labelled: the feature store's rows, cut into splits."""
        return self.y != IGNORE


def load_labels(spec: Labels, source: FrameSource, allow_none: bool = False) -> FrameLabels:
    """Labels for every frame of `source` from whichever kind the config gives; `allow_none` (a
    cold start of `label-next`) accepts a label CSV that does not exist yet or labels nothing."""
    ids = np.asarray(source.ids, dtype=np.int64)
    if spec.csv is not None and allow_none and not spec.csv.exists():
        y = np.full(len(ids), UNLABELLED, dtype=np.int8)
    else:
        y = _from_csv(spec.csv, ids) if spec.csv is not None else _from_masks(spec, source, ids)
    if spec.temporal_roi is not None:
        first, last = _temporal_roi(spec.temporal_roi)
        y[(ids < first) | (ids > last)] = IGNORE
    if not allow_none and not (y >= 0).any():
        where = spec.csv or spec.masks
        raise DataError(f"{where}: no frame of {source.path} has a label; the labels do not match the frames")
    return FrameLabels(ids=ids, y=y)


def _from_csv(path: Path, ids: np.ndarray) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path}: label CSV not found; check `labels.csv`")
    known = {int(i): n for n, i in enumerate(ids)}
    y = np.full(len(ids), UNLABELLED, dtype=np.int8)
    try:
        return _read_csv(path, ids, known, y)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); save the CSV as UTF-8") from None


def _read_csv(path: Path, ids: np.ndarray, known: dict[int, int], y: np.ndarray) -> np.ndarray:
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"frame", "label"} <= set(reader.fieldnames):
            raise DataError(f"{path}: needs a header with columns `frame,label`, got {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            try:
                fid = int(row["frame"])
                value = label_value(row["label"])
            except ValueError:
                raise DataError(f"{path}:{line}: frame and label must be integers, got {row}") from None
            if value not in (UNLABELLED, IGNORE, 0, 1):
                raise DataError(f"{path}:{line}: label must be 0, 1, empty (not labelled yet) or `ignore`, got {value}")
            if fid not in known:
                raise DataError(
                    f"{path}:{line}: frame {fid} is not in the footage (ids {ids[0]}..{ids[-1]}); "
                    "the labels do not match the frames"
                )
            if value != UNLABELLED:  # a later row corrects an earlier one; an empty cell never erases a label
                y[known[fid]] = value
    return y


def label_value(cell: str | None) -> int:
    """A label CSV's `label` cell as a value: UNLABELLED when empty, IGNORE for `ignore` or -1,
    else the integer it holds (ValueError when it holds none); the caller checks it is 0 or 1."""
    raw = (cell or "").strip().lower()
    return UNLABELLED if raw == "" else IGNORE if raw in ("-1", "ignore") else int(raw)


def _temporal_roi(path: Path) -> tuple[int, int]:
    try:
        first, last = (int(v) for v in path.read_text().split()[:2])
    except (OSError, ValueError):
        raise DataError(f"{path}: expected two frame numbers `first last` (CDnet temporalROI.txt)") from None
    return first, last


def _mask_files(folder: Path) -> dict[int, Path]:
    if not folder.is_dir():
        raise DataError(f"{folder}: mask folder not found; check `labels.masks`")
    out = {}
    for f in folder.iterdir():
        digits = re.findall(r"\d+", f.stem)
        if f.suffix.lower() in (".png", ".bmp") and digits:
            out[int(digits[-1])] = f
    return out


def _region_mask(polygon: list[tuple[float, float]], size: tuple[int, int]) -> np.ndarray:
    canvas = Image.new("L", (size[1], size[0]), 0)
    ImageDraw.Draw(canvas).polygon([tuple(p) for p in polygon], fill=1)
    return np.asarray(canvas, dtype=bool)


def _from_masks(spec: Labels, source: FrameSource, ids: np.ndarray) -> np.ndarray:
    assert spec.masks is not None and spec.region is not None
    files = _mask_files(spec.masks)
    first, last = _temporal_roi(spec.temporal_roi) if spec.temporal_roi else (ids[0], ids[-1])
    frame_hw = source.first_frame().shape[:2]
    region = _region_mask(spec.region, frame_hw)
    if not region.any():
        raise DataError(f"{spec.masks}: `labels.region` {spec.region} covers no pixel of the {frame_hw[1]}x{frame_hw[0]} frame")
    y = np.full(len(ids), IGNORE, dtype=np.int8)
    for n, fid in enumerate(ids):
        if not first <= fid <= last:
            continue
        if fid not in files:
            raise DataError(f"{spec.masks}: no mask for frame {fid}; the labels do not match the frames")
        try:
            mask = np.asarray(Image.open(files[fid]).convert("L"))
        except Exception as exc:
            raise DataError(f"{files[fid]}: unreadable mask for frame {fid} ({exc})") from None
        if mask.shape != frame_hw:
            raise DataError(f"{files[fid]}: mask is {mask.shape[::-1]} but frames are {frame_hw[::-1]}; the labels do not match the frames")
        scored = region & (mask != _UNKNOWN_PIXEL)
        total = int(scored.sum())
        if total:
            y[n] = int((mask[scored] == _OBJECT_PIXEL).sum() >= spec.min_fraction * total)
    return y


def split_blocks(labels: FrameLabels, spec: Split) -> dict[str, np.ndarray]:
    """Positions among the candidate frames (labelled or not) per split, cut into contiguous time blocks."""
    parts: dict[str, list[np.ndarray]] = {s: [] for s in SPLITS}
    for cycle in _cycles(int(labels.candidates.sum()), spec.blocks):
        bounds = np.round(np.cumsum((0, *spec.fractions)) * len(cycle)).astype(int)
        for name, lo, hi in zip(SPLITS, bounds[:-1], bounds[1:], strict=True):
            parts[name].append(cycle[lo:hi])
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def _cycles(n_rows: int, blocks: int) -> list[np.ndarray]:
    """The positions of each time block: `blocks` contiguous train|val|test cycles."""
    return np.array_split(np.arange(n_rows), blocks)


def block_of(positions: np.ndarray, n_rows: int, blocks: int) -> np.ndarray:
    """The time block (cycle of `split_blocks`) each position among the candidate frames falls in."""
    starts = np.array([c[0] for c in _cycles(n_rows, blocks) if len(c)])
    return np.searchsorted(starts, positions, side="right") - 1


def subsample(rows: np.ndarray, max_frames: int | None, run: int = 50) -> np.ndarray:
    """At most `max_frames` of `rows`: evenly spaced runs of `run` consecutive rows (temporal
    windows stay whole), or all of them when they fit."""
    if max_frames is None or len(rows) <= max_frames:
        return rows
    runs = np.array_split(rows, int(np.ceil(len(rows) / run)))
    keep = np.unique(np.linspace(0, len(runs) - 1, max(1, max_frames // run)).round().astype(int))
    return np.concatenate([runs[i] for i in keep])


def check_trainable(y: np.ndarray, splits: dict[str, np.ndarray], where: str) -> None:
    """Refuse a query that cannot be learned: a train or val block without positives or negatives."""
    for name in ("train", "val"):
        ys = y[splits[name]]
        pos, neg = int((ys == 1).sum()), int((ys == 0).sum())
        if pos == 0 or neg == 0:
            raise DataError(
                f"{where}: the {name} block has {pos} positive and {neg} negative labelled frames; the query needs both "
                "(label more frames, e.g. with `autocrop label-next`; enlarge `labels.region`, lower `labels.min_fraction`, or change `split`)"
            )

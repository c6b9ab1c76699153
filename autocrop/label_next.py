"""`autocrop label-next`: propose a batch of frames to label, write it as a CSV and a contact sheet.

The CSV (`frame,label,split,reason,score`, label left empty) can be filled in and its rows
appended to the query's label CSV as they are: the label loader reads `frame,label` and ignores
the rest. Both files appear whole or not at all (written beside, then renamed). A new batch is
never written over the query's label CSV, nor over a batch whose filled labels are not appended yet.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from autocrop.config import Config
from autocrop.dataset import QueryData
from autocrop.defaults import LABEL_MAX_HEADS, LABEL_MIN_DISTANCE, LABEL_MIN_GAP
from autocrop.errors import ConfigError
from autocrop.labels import IGNORE, UNLABELLED, label_value
from autocrop.embedding import embedding
from autocrop.proposals import Proposal, propose, val_plan
from autocrop.seek import describe, lacking, seek_share
from autocrop.votes import Votes, head_votes

__all__ = ["Batch", "next_batch", "unsaved_labels", "write_csv", "contact_sheet", "default_out"]

EVEN = "frames spread evenly in time, each batch in the gaps of those labelled before (no search or features needed)"  # how --even chooses
COLD_START = "half the training frames typical (the densest of the largest groups of similar cached features), half random"  # how a cold start chooses
THUMB = (160, 120)  # contact-sheet thumbnail width, height
COLUMNS = 8
HEADER = ["frame", "label", "split", "reason", "score"]  # a batch CSV's columns


@dataclass
class Batch:
    proposals: list[Proposal]
    mode: str  # how they were chosen, one line for the user


def default_out(cfg: Config, study: str) -> Path:
    return Path(cfg.source_path).parent / f"{study}-label-next.csv"


def _votes(data: QueryData, study_name: str, train_rows: np.ndarray) -> tuple[Votes | None, str]:
    """The Pareto heads' votes on the train pool, or None and why not (a cold start)."""
    from autocrop.labels import check_trainable
    from autocrop.errors import DataError
    from autocrop.selection import best_of
    from autocrop.study import pareto_numbers, peek, trial_records

    study = peek(data.cfg, study_name)
    records = trial_records(study) if study is not None else []
    if not records:
        return None, f"cold start (no complete trial in study `{study_name}` yet): {COLD_START}"
    try:
        check_trainable(data.y, data.splits, "too few labels to train")
    except DataError as exc:
        return None, f"cold start ({str(exc).split(';')[0]}): {COLD_START}"
    op = data.cfg.search.operating_point
    front = pareto_numbers(study)  # the Pareto set first, then the next best by val FN: a committee of a few
    heads = sorted(records, key=lambda r: (r.number not in front, r.val_fn, r.val_fp, r.cost_madds))[:LABEL_MAX_HEADS]
    best = best_of(records, op.target, op.rule)
    assert best is not None
    votes = head_votes(data, heads, best, train_rows)
    if votes.crossfit:  # nearness alone (votes.head_votes)
        return votes, (f"after study `{study_name}`: the training frames trial {best.number} is least sure of (its cross-fitted score "
                       f"nearest its threshold), retrained on the {data.labelled} labels there are now")
    return votes, (f"after study `{study_name}`: where its {votes.heads} best heads (Pareto set first) disagree "
                   f"and trial {best.number} is unsure, retrained on the {data.labelled} labels there are now")


def next_batch(data: QueryData, n: int, study_name: str, seed: int = 0, min_distance: float = LABEL_MIN_DISTANCE,
               min_gap: int = LABEL_MIN_GAP, cold: bool = False, progress: bool = True, even: bool = False) -> Batch:
    """Up to n frames to label next (see `proposals`); `cold` ignores any search; `even` ignores any
    search and the features too: the next frames of the seed's nested time order (`autocrop.timegrid`)."""
    from autocrop.evaluation import baseline_layer

    if n < 1:
        raise ConfigError(f"--n {n}: give the number of frames to propose, at least 1")
    assert data.pool is not None
    if not len(data.pool["train"]) + len(data.pool["val"]):
        raise ConfigError(f"{data.cfg.source_path}: every train and validation frame is labelled already; nothing to propose")
    if even:
        from autocrop.timegrid import in_time

        return Batch(in_time(data, n, seed, min_gap), f"evenly spaced (--even, seed {seed}): {EVEN}")
    layer = baseline_layer(data)
    data.store.extract([layer], progress=progress)
    votes, mode = (None, f"cold start (--cold): {COLD_START}") if cold else _votes(data, study_name, data.pool["train"])
    pairs = lacking(data) if votes is None and not cold else []
    if pairs:  # labels that cannot train yet: look for what they lack first
        mode = f"too few labels to search, {describe(pairs, seek_share(n, pairs))}; the rest a cold start: {COLD_START}"
    picks = propose(data, embedding(data, layer), n, seed, votes, min_distance, min_gap, pairs)
    plan = val_plan(data) if votes is not None else None
    if plan is not None and plan.short:
        mode += f"; {plan.describe()}; {sum(p.split == 'val' for p in picks)} of these are validation frames, the split's share"
    return Batch(picks, mode)


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def unsaved_labels(path: Path, data: QueryData) -> list[str]:
    """Where a batch CSV at `path` holds a filled `label` cell that the query's labels do not hold
    yet ("frame 1234", or "line 7" where the frame cannot be read): writing a new batch over it
    would lose that work. A file there that is not a batch CSV is refused outright."""
    if not path.is_file() or path.stat().st_size == 0:
        return []
    known = dict(zip(data.ids.tolist(), data.y.tolist(), strict=True))
    not_ours = ConfigError(f"--out {path}: exists and is not a label-next batch (columns {','.join(HEADER)}); choose another --out")
    lost = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if reader.fieldnames != HEADER:
                raise not_ours
            for line, row in enumerate(reader, start=2):
                try:
                    value = label_value(row["label"])
                except ValueError:
                    value = None  # filled, but not a label: unsaved all the same
                if value == UNLABELLED:
                    continue
                frame = (row["frame"] or "").strip()
                if not frame.isdigit():
                    lost.append(f"line {line}")
                elif value not in (0, 1, IGNORE) or known.get(int(frame), IGNORE) != value:
                    lost.append(f"frame {frame}")
    except (UnicodeDecodeError, csv.Error):
        raise not_ours from None
    return lost


def write_csv(path: Path, picks: list[Proposal]) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(HEADER)
            for p in picks:
                w.writerow([p.frame, "", p.split, p.reason, f"{p.score:.4f}"])

    _atomic(path, write)


def contact_sheet(path: Path, data: QueryData, picks: list[Proposal]) -> None:
    """A grid of the proposed frames, each with its id, split and the query's region outlined."""
    rows = max(1, -(-len(picks) // COLUMNS))
    w, h = THUMB
    sheet = Image.new("RGB", (COLUMNS * w, rows * (h + 14)), "white")
    draw = ImageDraw.Draw(sheet)
    region = data.cfg.labels.region
    for k, (fid, frame) in enumerate(data.source.frames([p.frame for p in picks])):
        im = Image.fromarray(frame)
        sx, sy = w / im.width, h / im.height
        im = im.resize(THUMB)
        if region:
            ImageDraw.Draw(im).polygon([(x * sx, y * sy) for x, y in region], outline=(255, 215, 0))
        x0, y0 = (k % COLUMNS) * w, (k // COLUMNS) * (h + 14)
        sheet.paste(im, (x0, y0))
        draw.text((x0 + 2, y0 + h + 1), f"{fid} {picks[k].split}", fill="black")
    _atomic(path, lambda tmp: sheet.save(tmp, format="PNG"))

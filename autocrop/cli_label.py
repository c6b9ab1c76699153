"""The `label-next` command: propose the next frames to label, after a search or from scratch."""

from __future__ import annotations

import argparse

from autocrop.defaults import LABEL_MIN_DISTANCE, LABEL_MIN_GAP

__all__ = ["add_label_command", "cmd_label_next"]

EPILOG = """\
how a query gets its labels:
  autocrop label-next q.yaml --n 50          # no labels yet: typical and random frames (q.yaml's labels.csv may not exist yet)
  # fill the `label` column (1, 0, or `ignore`) and append the rows to labels.csv (until then no
  # new batch is written over this one)
  autocrop search q.yaml --study q-1         # a short search on what is labelled
  autocrop label-next q.yaml --study q-1     # 50 frames where its Pareto heads disagree
  # ... label, append, search again (a new study: the labels changed)

  autocrop label-next q.yaml --n 50 --even   # without searching between batches: frames spread evenly in time,
  # each batch in the gaps of the ones before (keep the seed); about as strong as the heads' votes on the
  # bench's queries, though the votes stay ahead where positives are rare (BENCHMARKS.md)

Frames without a label (no row, or an empty `label` cell) are unlabelled: search trains and scores
only on labelled frames of each split, except that its threshold counts every validation frame,
the unlabelled ones by their estimated class; label-next proposes only unlabelled frames of the
train and validation blocks, never test. Validation frames are drawn one per time stratum, not for
difficulty, so that the fit behind that estimate sees frames of every score.

Until the labels can train a search (each of train and validation holds a positive and a negative),
label-next first seeks what a split lacks: its frames nearer a labelled frame of the missing class
than any labelled frame of the other (or, with none labelled, the frames least like any labelled one).
"""


def add_label_command(sub) -> None:
    c = sub.add_parser("label-next", help="propose the next frames to label: where a search's heads disagree, or typical and random ones for a cold start",
                       description="Write FILE.csv (frame,label,split,reason,score; fill in `label`) and FILE.png (a contact sheet).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("config", metavar="CONFIG", help="query config YAML")
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="override a config key; repeatable")
    c.add_argument("--n", type=int, default=50, help="frames to propose (default 50)")
    c.add_argument("--study", help="the search whose heads vote (default: the config's name, and a cold start while it has none; a study named here must exist)")
    c.add_argument("--out", help="CSV to write (default: <study>-label-next.csv beside the config); the sheet goes beside it as .png")
    c.add_argument("--seed", type=int, default=0, help="tie-breaks, the clustering behind typical picks, the random ones and the validation draws (default 0)")
    mode = c.add_mutually_exclusive_group()
    mode.add_argument("--cold", action="store_true", help="ignore any search: a cold start (half typical frames of the cached features, half random ones)")
    mode.add_argument("--even", action="store_true",
                      help="ignore any search and the features: the next frames of a nested order spread evenly over the train and "
                           "validation blocks' time, in the gaps of the frames labelled (keep --seed from batch to batch; --min-distance does not apply)")
    c.add_argument("--min-distance", type=float, default=LABEL_MIN_DISTANCE,
                   help=f"no two proposals closer than this in feature space, in units of the median distance "
                        f"between two frames of the footage (default {LABEL_MIN_DISTANCE})")
    c.add_argument("--min-gap", type=int, default=LABEL_MIN_GAP, help=f"... nor fewer frames apart in time (default {LABEL_MIN_GAP})")
    c.add_argument("--no-mlflow", action="store_true", help="do not log the batch to MLflow")
    c.add_argument("--quiet", action="store_true", help="no progress bars")


def cmd_label_next(args: argparse.Namespace) -> int:
    from pathlib import Path

    from autocrop.config import load_config
    from autocrop.dataset import prepare
    from autocrop.errors import ConfigError
    from autocrop.label_next import contact_sheet, default_out, next_batch, unsaved_labels, write_csv
    from autocrop.tracking import Tracker

    cfg = load_config(args.config, args.overrides)
    study = args.study or cfg.study_name
    out = Path(args.out) if args.out else default_out(cfg, study)
    if out.suffix.lower() != ".csv":
        raise ConfigError(f"--out {out}: give a .csv path (the contact sheet is written beside it as .png)")
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: folder {out.parent} does not exist; create it or choose another path")
    if args.min_distance < 0 or args.min_gap < 1:
        raise ConfigError(f"--min-distance {args.min_distance} --min-gap {args.min_gap}: give a distance >= 0 and a gap >= 1")
    if args.study and not (args.cold or args.even):  # named, so meant to exist: a typo must not turn into a cold start
        from autocrop.study import load_existing

        load_existing(cfg, args.study, f"label-next --study {args.study}")
    labels_csv = cfg.labels.csv
    if labels_csv is not None and out.resolve() == labels_csv.resolve():
        raise ConfigError(f"--out {out}: that is the query's label CSV (`labels.csv`); write the batch elsewhere and append its rows")
    data = prepare(cfg, need_trainable=False, allow_unlabelled=True)
    if lost := unsaved_labels(out, data):  # a filled batch not yet appended: the labels are the user's work
        raise ConfigError(f"--out {out}: {len(lost)} filled label(s) there ({lost[0]}{', ...' * (len(lost) > 1)}) are not in the "
                          f"query's labels yet; append its filled rows to {labels_csv or 'the label CSV'} first, or choose another --out")
    print(f"{cfg.name}: {data.describe()}")
    batch = next_batch(data, args.n, study, args.seed, args.min_distance, args.min_gap, args.cold, not args.quiet, args.even)
    sheet = out.with_suffix(".png")
    write_csv(out, batch.proposals)
    contact_sheet(sheet, data, batch.proposals)
    if not args.no_mlflow:
        params = {"n": args.n, "seed": args.seed, "min_gap": args.min_gap, **({} if args.even else {"min_distance": args.min_distance}),
                  "labelled": data.labelled, "mode": batch.mode}
        Tracker(cfg.tracking.dir, cfg.tracking.experiment).label_run(study, params, [out, sheet])
    picks = batch.proposals
    n_val = sum(p.split == "val" for p in picks)
    print(batch.mode)
    for p in picks[:10]:
        print(f"  frame {p.frame:>7} {p.split:<5} {p.score:6.3f}  {p.reason}")
    if len(picks) > 10:
        print(f"  ... {len(picks) - 10} more in the CSV")
    short = f" (only {len(picks)} of {args.n} keep the rules)" if len(picks) < args.n else ""
    distance = "" if args.even else f"{args.min_distance} (median distance between two frames = 1) or "  # --even reads no features
    print(f"{out}: {len(picks)} frames to label{short}: {len(picks) - n_val} train, {n_val} validation; no two closer than "
          f"{distance}{args.min_gap} frames apart. Contact sheet: {sheet}")
    return 0

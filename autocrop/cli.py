"""Command line: parse -> config -> call. Every user error is one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from autocrop.errors import AutocropError

EPILOG = """\
typical session:
  autocrop layers conf/car.yaml              # which layers can a microclassifier read?
  autocrop extract conf/car.yaml             # cache the backbone's features once (resumable)
  autocrop search conf/car.yaml --trials 40  # Optuna search, tracked in MLflow (mlruns/)
  autocrop report conf/car.yaml              # Pareto front of cost vs FP/FN, beside the baselines
  mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db   # browse every trial

Any config key can be overridden: --set search.trials=10 --set backbone.input_size=[224,224]
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="autocrop",
        description="Find which crop of which CNN layer a tiny per-query microclassifier should read.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help, description=help)
        c.add_argument("config", metavar="CONFIG", help="query config YAML, e.g. conf/car.yaml")
        c.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key (dotted path, YAML value); repeatable")
        return c

    command("layers", "list every tappable layer: channels, stride, size at the configured input size")
    c = command("extract", "run the backbone once per frame and cache the search space's layers (float16)")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c = command("search", "run an Optuna search over layer x crop x head; resumes a study of the same name")
    c.add_argument("--trials", type=int, help="trials to add (default: search.trials)")
    c.add_argument("--study", help="study name (default: the config's name)")
    c.add_argument("--sampler", help="paper | random | tpe | nsga2 (default: the space's)")
    c.add_argument("--no-mlflow", action="store_true", help="do not track runs in MLflow")
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    c = command("report", "print the Pareto front and the pooled-feature baselines of a study")
    c.add_argument("--study", help="study name (default: the config's name)")
    c.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    c.add_argument("--all", action="store_true", help="every complete trial, not only the Pareto front")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except AutocropError as exc:
        print(f"autocrop: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("autocrop: interrupted; finished trials and complete cache files are kept", file=sys.stderr)
        return 130


def _config(args: argparse.Namespace):
    from autocrop.config import load_config

    return load_config(args.config, args.overrides)


def _space_and_data(args: argparse.Namespace, need_trainable: bool = True):
    from autocrop.dataset import prepare
    from autocrop.search import baseline_layer
    from autocrop.space import load_space

    cfg = _config(args)
    space = load_space(cfg.search.space)
    data = prepare(cfg, need_trainable=need_trainable)
    data.backbone.check_layers(space.layers, str(space.source_path))
    return cfg, space, data, [*space.layers, baseline_layer(data)]


def cmd_layers(args: argparse.Namespace) -> int:
    from autocrop.backbone import build_backbone

    cfg = _config(args)
    bb = build_backbone(cfg.backbone)
    h, w = cfg.backbone.input_size
    print(f"{cfg.backbone.model} at {h}x{w} (weights {bb.weights_digest})")
    print(f"{'layer':<12} {'channels':>8} {'stride':>6} {'size HxW':>9}")
    for info in bb.layers().values():
        print(f"{info.name:<12} {info.channels:>8} {info.stride:>6} {info.height:>4}x{info.width:<4}")
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    cfg, _space, data, layers = _space_and_data(args, need_trainable=False)
    written = data.store.extract(layers, progress=not args.quiet)
    state = f"wrote {', '.join(written)}" if written else "all layers already cached"
    print(f"{data.store.dir}: {state} ({len(data.ids)} frames)")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from autocrop.report import best_row, format_table, report_rows
    from autocrop.search import run_search
    from autocrop.tracking import Tracker, tracking_uri

    cfg, space, data, layers = _space_and_data(args)
    sampler = args.sampler or cfg.search.sampler or space.sampler
    from autocrop.samplers import make_sampler

    make_sampler(sampler, 0)  # fail on an unknown name before any work
    print(f"{cfg.name}: {data.describe()}")
    data.store.extract(layers, progress=not args.quiet)
    tracker = None if args.no_mlflow else Tracker(cfg.tracking.dir, cfg.tracking.experiment)
    study_name = args.study or cfg.study_name
    study = run_search(cfg, data, space, args.trials or cfg.search.trials, sampler, study_name, tracker, progress=not args.quiet)
    rows = report_rows(study)
    best = best_row(rows, cfg.search.operating_point.target)
    print(format_table(rows, best["number"] if best else None))
    print(f"{len(study.trials)} trials in study `{study_name}` ({cfg.search.operating_point.rule} "
          f"{cfg.search.operating_point.target}); * = best val FN within the val FP target")
    if tracker is not None:
        print(f"browse: mlflow ui --backend-store-uri {tracking_uri(cfg.tracking.dir)}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import optuna

    from autocrop.errors import ConfigError
    from autocrop.report import FIELDS, best_row, format_table, report_rows
    from autocrop.search import open_study, storage_url

    cfg = _config(args)
    name = args.study or cfg.study_name
    try:
        study = open_study(cfg, name, create=False)
    except KeyError:
        names = optuna.study.get_all_study_names(storage_url(cfg))
        raise ConfigError(f"{args.config}: no study `{name}` in {storage_url(cfg)}; run `autocrop search` first "
                          f"(studies there: {', '.join(names) or 'none'})") from None
    rows = report_rows(study, everything=args.all)
    if args.json:
        keep = (*FIELDS, "pareto", "cells", "pooled", "hparams", "threshold", "val_auc", "test_auc")
        print(json.dumps([{k: r.get(k) for k in keep} for r in rows], indent=1))
    else:
        best = best_row(rows, cfg.search.operating_point.target)
        print(format_table(rows, best["number"] if best else None))
    return 0


_COMMANDS = {"layers": cmd_layers, "extract": cmd_extract, "search": cmd_search, "report": cmd_report}

if __name__ == "__main__":
    sys.exit(main())

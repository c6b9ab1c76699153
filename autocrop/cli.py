"""Command line: parse -> config -> call. Every user error is one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from autocrop.cli_edge import add_edge_commands, cmd_run, cmd_serve
from autocrop.cli_label import add_label_command, cmd_label_next
from autocrop.errors import AutocropError, Terminated, WorkersFailed

EPILOG = """\
typical session:
  autocrop layers conf/car.yaml              # which layers can a microclassifier read?
  autocrop extract conf/car.yaml             # cache the backbone's features once (resumable)
  autocrop search conf/car.yaml --trials 40  # Optuna search, tracked in MLflow (mlruns/)
  autocrop report conf/car.yaml              # Pareto front of cost vs FP/FN, beside the baselines
  autocrop label-next conf/car.yaml --n 50   # which frames to label next (also with no labels yet)
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
    c = command("extract", "run the backbone once per frame and cache the search space's layers (float16); "
                           "re-extracts damaged layers; safe to run in several processes at once")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    c.add_argument("--verify", action="store_true", help="also compare every cached layer's checksum and re-extract any that changed")
    c = command("search", "run an Optuna search over layer x crop x head; resumes a study of the same name")
    c.add_argument("--trials", type=int, help="trials to add (default: search.trials)")
    c.add_argument("--study", help="study name (default: the config's name)")
    c.add_argument("--sampler", help="search strategy (default: the space's `sampler`): " + _sampler_help())
    c.add_argument("--storage", help="where the study lives: a database URL shared by workers on several machines "
                        "(postgresql://user@host/db) or a journal file (default: <tracking.dir>/optuna.journal)")
    c.add_argument("--worker", type=int, help="this process's number when several search one study (seeds its sampler)")
    c.add_argument("--workers", type=int, default=1, metavar="N",
                   help="train trials in N processes on this machine, sharing one study (default 1); "
                        "the embedded journal storage takes concurrent writers, --storage a database for many machines")
    c.add_argument("--retry-failed", action="store_true",
                   help="first run again, with the same parameters, the trials that failed (a killed or crashed worker's); they count towards --trials")
    c.add_argument("--parent-run", help=argparse.SUPPRESS)  # set by --workers: the coordinator's MLflow run
    c.add_argument("--no-mlflow", action="store_true", help="do not track runs in MLflow")
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    c = command("report", "print the Pareto front and the pooled-feature baselines of a study")
    c.add_argument("--study", help="study name (default: the config's name)")
    c.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    c.add_argument("--all", action="store_true", help="every complete trial, not only the Pareto front")
    c = command("select", "retrain the cheapest Pareto trial meeting an FN/FP rule, register it in MLflow, set an alias")
    c.add_argument("--max-fn", type=float, required=True, help="highest acceptable val FN rate, e.g. 0.1")
    c.add_argument("--max-fp", type=float, required=True, help="highest acceptable val FP rate, e.g. 0.05")
    c.add_argument("--study", help="study name (default: the config's name)")
    c.add_argument("--alias", default="champion", help="Model Registry alias to set (default: champion)")
    c.add_argument("--model-name", help="registered model name (default: the study name)")
    c = command("export", "write an edge bundle (manifest.json, head.safetensors, head.onnx) for a trial or an alias")
    which = c.add_mutually_exclusive_group(required=True)
    which.add_argument("--trial", type=int, help="trial number (negative: a pooled baseline, see report)")
    which.add_argument("--alias", help="Model Registry alias set by `autocrop select`")
    c.add_argument("--out", required=True, help="bundle folder to create (must not exist or be empty)")
    c.add_argument("--study", help="study name (default: the config's name)")
    c.add_argument("--model-name", help="registered model name for --alias (default: the study name)")
    c.add_argument("--sign", metavar="KEY", help="sign the bundle with this Ed25519 private key (PEM); edge nodes check it with --trust")
    add_label_command(sub)
    add_edge_commands(sub)
    return p


def _sampler_help() -> str:
    from autocrop.samplers import SAMPLERS

    return "; ".join(f"{d.name}: {d.help}" if d.help else d.name for d in SAMPLERS.values())


def _on_sigterm(_signum, _frame):
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    import signal
    import threading

    args = _parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _COMMANDS[args.command](args)
    except AutocropError as exc:
        print(f"autocrop: error: {exc}", file=sys.stderr)
        return 2
    except WorkersFailed as exc:
        print(f"autocrop: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        how = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"autocrop: {how}; finished trials and complete cache files are kept", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130


def _config(args: argparse.Namespace):
    from autocrop.config import load_config

    return load_config(args.config, args.overrides)


def _space_and_data(args: argparse.Namespace, need_trainable: bool = True):
    from autocrop.dataset import prepare
    from autocrop.evaluation import baseline_layer
    from autocrop.space import load_space

    cfg = _config(args)
    space = load_space(cfg.search.space)
    data = prepare(cfg, need_trainable=need_trainable)
    data.backbone.check_layers(space.layers, str(space.source_path))
    return cfg, space, data, [*space.layers, baseline_layer(data)]


def cmd_layers(args: argparse.Namespace) -> int:
    from autocrop.backbone import build_backbone

    from autocrop.receptive import receptive_fields

    cfg = _config(args)
    bb = build_backbone(cfg.backbone)
    h, w = cfg.backbone.input_size
    fields = receptive_fields(bb)
    print(f"{cfg.backbone.model} at {h}x{w} (weights {bb.weights_digest}); receptive field in input pixels: "
          "cell (i, j) sees rows start+i*stride .. +size-1")
    prefix = bb.prefix_madds()
    print(f"{'layer':<12} {'channels':>8} {'stride':>6} {'size HxW':>9} {'RF size':>9} {'RF start':>9} {'backbone MACs':>14}")
    for info in bb.layers().values():
        rf = fields[info.name]
        print(f"{info.name:<12} {info.channels:>8} {info.stride:>6} {info.height:>4}x{info.width:<4} "
              f"{rf.size[0]:>4}x{rf.size[1]:<4} {rf.start[0]:>4},{rf.start[1]:<4} {prefix[info.name]:>14,}")
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    cfg, _space, data, layers = _space_and_data(args, need_trainable=False)
    written = data.store.extract(layers, progress=not args.quiet, verify=args.verify)
    state = f"wrote {', '.join(written)}" if written else "all layers already cached" + (", checksums verified" if args.verify else "")
    print(f"{data.store.dir}: {state} ({len(data.ids)} frames)")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    overrides = list(args.overrides)  # as the user gave them: what `--workers` starts its workers with
    args.overrides += [f"search.storage={args.storage}"] * bool(args.storage) + [f"search.worker={args.worker}"] * (args.worker is not None)
    from autocrop.report import best_row, format_table, report_rows, verdict
    from autocrop.samplers import check_sampler
    from autocrop.search import run_search
    from autocrop.fingerprint import guard
    from autocrop.study import counts, peek
    from autocrop.tracking import NullTracker, Tracker, tracking_uri

    from autocrop.errors import ConfigError

    if args.trials is not None and args.trials < 1:
        raise ConfigError(f"--trials {args.trials}: give a number of trials to add, at least 1")
    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: give a number of processes, at least 1")
    cfg, space, data, layers = _space_and_data(args)
    sampler = args.sampler or cfg.search.sampler or space.sampler
    check_sampler(sampler, "--sampler")  # the one-line error before any work
    from autocrop.crossfit import folds

    cross = folds(data, cfg)  # crossfit=on that the labels cannot serve: the one-line error before any work too
    print(f"{cfg.name}: {data.describe()}" + ("" if cross is None else f"; cross-fitted over {len(cross)} time cycles (few labels)"))
    study_name = args.study or cfg.study_name
    existing = peek(cfg, study_name, create=True)  # a bad `search.storage` fails here, before any work
    if existing is not None:  # refuse a resume with other inputs before extracting anything
        guard(existing, data, space)
    data.store.extract(layers, progress=not args.quiet)
    tracker = NullTracker() if args.no_mlflow else Tracker(cfg.tracking.dir, cfg.tracking.experiment)
    trials = args.trials if args.trials is not None else cfg.search.trials
    parent_run = None if args.parent_run is None else ("" if args.parent_run == "-" else args.parent_run)
    spread = None
    if args.workers > 1:
        from autocrop.workers import spreader

        spread = spreader(cfg, args.config, overrides, study_name, sampler, tracker.active, args.workers, not args.quiet)
    study = run_search(cfg, data, space, trials, sampler, study_name, tracker, not args.quiet, parent_run, spread,
                       args.retry_failed and parent_run is None)  # with --workers the coordinator requeues
    if parent_run is not None:
        return 0  # a worker of `--workers`: its coordinator reports
    op = cfg.search.operating_point
    rows = report_rows(study)
    best = best_row(rows, op.target, op.rule)
    print(format_table(rows, best.number if best else None))
    print(f"{counts(study)} in study `{study_name}` ({op.rule} {op.target}); * = best at the operating point")
    if tracker.active:
        print(f"browse: mlflow ui --backend-store-uri {tracking_uri(cfg.tracking.dir)}, then open {tracker.view_url()}")
    print(verdict(rows, op.target, op.rule))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from autocrop.report import best_row, format_table, json_rows, report_rows, verdict

    from autocrop.study import counts

    cfg = _config(args)
    study = _study(cfg, args)
    rows = report_rows(study, everything=args.all)
    if args.json:
        print(json.dumps(json_rows(rows), indent=1))
    else:
        op = cfg.search.operating_point
        best = best_row(rows, op.target, op.rule)
        print(format_table(rows, best.number if best else None))
        print(f"{counts(study)} in study `{study.study_name}`; * = best at the operating point ({op.rule} {op.target})")
        print(verdict(rows, op.target, op.rule))
    return 0


def _study(cfg, args):
    from autocrop.study import load_existing

    return load_existing(cfg, args.study or cfg.study_name, args.config)


def cmd_select(args: argparse.Namespace) -> int:
    from autocrop.errors import ConfigError
    from autocrop.release import select_and_register

    for flag, rate in (("--max-fn", args.max_fn), ("--max-fp", args.max_fp)):
        if not 0 <= rate <= 1:
            raise ConfigError(f"{flag} {rate}: give a rate between 0 and 1 (0.1 = 10 % of the validation frames)")
    cfg = _config(args)
    sel = select_and_register(cfg, _study(cfg, args), args.max_fn, args.max_fp, args.alias, args.model_name)
    rec, fresh = sel.record, sel.fresh
    print(f"selected trial {rec.number}: {rec.layer} crop {list(rec.crop)} {rec.head}, {rec.cost_madds:,} MACs, "
          f"val FN {fresh.val_fn:.3f} FP {fresh.val_fp:.3f}, test FN {fresh.test_fn:.3f} FP {fresh.test_fp:.3f}")
    print(f"registered model `{sel.model_name}` version {sel.version} with alias `{args.alias}`")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from autocrop.release import export_alias, export_trial

    cfg = _config(args)
    out = Path(args.out)
    if args.trial is not None:
        bundle = export_trial(cfg, _study(cfg, args), args.trial, out, args.sign and Path(args.sign))
    else:
        bundle = export_alias(cfg, args.model_name or args.study or cfg.study_name, args.alias, out, args.sign and Path(args.sign))
    m, inp = bundle.manifest, bundle.input
    print(f"{out}: trial {m['trial']} of `{m['study']}`: {inp.layer} cells {list(inp.cells)} ({inp.kind}) {m['head']['kind']}, "
          f"threshold {m['threshold']:.4f}, {m['cost_madds']:,} MACs; checksums verified" + ("; signed" if args.sign else ""))
    return 0


_COMMANDS = {"layers": cmd_layers, "extract": cmd_extract, "search": cmd_search, "report": cmd_report,
             "select": cmd_select, "export": cmd_export, "run": cmd_run, "serve": cmd_serve,
             "label-next": cmd_label_next}

if __name__ == "__main__":
    sys.exit(main())

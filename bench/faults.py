"""Fault injection: kill `extract`, `search` and `export` at random moments, rerun, check nothing is lost.

    .venv/bin/python bench/faults.py [--rounds 20] [--seed 0] [--write BENCHMARKS.md]

A small real query (every 5th labelled highway frame at 120x160, two layers) in a temporary
folder. Each round takes the next scenario in turn and kills the command with SIGKILL or SIGTERM
(chosen at random) at a random moment within the time a clean run of it takes, then reruns it and
checks:

- **extract** (a cold cache each round): the rerun completes and every layer file is bit-for-bit
  the reference extraction, with no partial file left in the cache folder.
- **search** (one study across rounds, tracked in MLflow): no complete trial is lost by the kill;
  after a rerun that adds 4 trials there is no RUNNING trial and no RUNNING MLflow run, and the
  complete count is exactly what it was plus 4.
- **export**: the `--out` folder is either absent or a bundle that verifies; the rerun writes a
  bundle that verifies and scores as the first one did.

Prints each round and "rounds survived with nothing lost: N/M".
"""

from __future__ import annotations

import argparse
import hashlib
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import HIGHWAY, ROOT, write_section  # noqa: E402

import optuna  # noqa: E402

from autocrop.export import load_bundle  # noqa: E402
from autocrop.study import JOURNAL_FILE  # noqa: E402

WEIGHTS = ROOT.parent / "shared" / "weights" / "mobilenetv2_100_coral" / "model.safetensors"


def write_config(tmp: Path) -> Path:
    (tmp / "space.yaml").write_text(yaml.safe_dump({
        "sampler": "paper", "layers": ["blocks.3.3", "blocks.5.2"],
        "heads": {"logistic": {"l2": {"low": 1e-4, "high": 1e-2, "log": True}}, "mlp": {"l2": 1e-4, "hidden": 16}}}))
    cfg = {
        "name": "faults",
        "footage": {"frames": str(HIGHWAY / "input"), "start": 470, "step": 5},
        "labels": {"masks": str(HIGHWAY / "groundtruth"), "temporal_roi": str(HIGHWAY / "temporalROI.txt"),
                   "region": [[0, 150], [130, 150], [130, 240], [0, 240]], "min_fraction": 0.01},
        "backbone": {"model": "mobilenetv2_100", "kwargs": {"pad_type": "same", "num_classes": 1001}, "weights": str(WEIGHTS),
                     "input_size": [120, 160], "mean": [0.50196] * 3, "std": [0.50196] * 3},
        "cache_dir": str(tmp / "cache"),
        "search": {"space": str(tmp / "space.yaml"), "batch": 4, "max_steps": 100, "patience": 20},
        "tracking": {"dir": str(tmp / "mlruns")},
    }
    path = tmp / "query.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def autocrop(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run([sys.executable, "-m", "autocrop.cli", *args], capture_output=True, text=True, cwd=ROOT)
    if check and res.returncode != 0:
        raise RuntimeError(f"autocrop {' '.join(args)} exited {res.returncode}: {res.stderr[-600:]}")
    return res


def killed(args: list[str], after: float, sig: int) -> int:
    """Start `autocrop args`, send `sig` after `after` seconds (if still running), return its exit code."""
    proc = subprocess.Popen([sys.executable, "-m", "autocrop.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        proc.wait(timeout=after)
    except subprocess.TimeoutExpired:
        proc.send_signal(sig)
    return proc.wait()


def timed(*args: str) -> float:
    t0 = time.perf_counter()
    autocrop(*args)
    return time.perf_counter() - t0


def layer_hashes(cache: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(cache.rglob("*.npy"))}


def study_trials(home: Path) -> list[optuna.trial.FrozenTrial]:
    storage = optuna.storages.journal.JournalStorage(optuna.storages.journal.JournalFileBackend(str(home / JOURNAL_FILE)))
    return optuna.load_study(study_name="faults", storage=storage).trials


def running_mlflow_runs(home: Path) -> int:
    from mlflow.tracking import MlflowClient

    from autocrop.tracking import tracking_uri

    client = MlflowClient(tracking_uri(home))
    exp = client.get_experiment_by_name("autocrop")
    return sum(r.info.status == "RUNNING" for r in client.search_runs([exp.experiment_id])) if exp else 0


class Rounds:
    def __init__(self, tmp: Path, rng: random.Random):
        self.tmp, self.rng = tmp, rng
        self.cfg = str(write_config(tmp))
        self.home = tmp / "mlruns"
        self.t_extract = timed("extract", self.cfg, "--quiet", "--set", f"cache_dir={tmp / 'ref'}")
        self.reference = layer_hashes(tmp / "ref")
        self.t_search = timed("search", self.cfg, "--quiet", "--trials", "8", "--set", f"cache_dir={tmp / 'ref'}")
        best = min((t for t in study_trials(self.home) if t.state.name == "COMPLETE"), key=lambda t: t.values[2])
        self.trial = best.number
        self.t_export = timed("export", self.cfg, "--trial", str(self.trial), "--out", str(tmp / "b-ref"), "--set", f"cache_dir={tmp / 'ref'}")
        self.ref_bundle = load_bundle(tmp / "b-ref").manifest["threshold"]

    def moment(self, span: float) -> tuple[float, int, str]:
        sig = self.rng.choice([signal.SIGKILL, signal.SIGTERM])
        return self.rng.uniform(0.3, span), sig, signal.Signals(sig).name

    def extract(self, r: int) -> str:
        cache = self.tmp / f"cache-{r}"
        at, sig, name = self.moment(self.t_extract)
        code = killed(["extract", self.cfg, "--quiet", "--set", f"cache_dir={cache}"], at, sig)
        autocrop("extract", self.cfg, "--quiet", "--set", f"cache_dir={cache}")
        leftovers = [p.name for p in cache.rglob("*") if "partial" in p.name]
        ok = layer_hashes(cache) == self.reference and not leftovers
        return f"{name} at {at:.1f} s (exit {code}); rerun: {'cache bit-equal' if ok else f'DIFFERS, leftovers {leftovers}'}", ok

    def search(self, r: int) -> tuple[str, bool]:
        before = {t.number for t in study_trials(self.home) if t.state.name == "COMPLETE"}
        at, sig, name = self.moment(self.t_search)
        code = killed(["search", self.cfg, "--quiet", "--trials", "8", "--set", f"cache_dir={self.tmp / 'ref'}"], at, sig)
        kept = {t.number for t in study_trials(self.home) if t.state.name == "COMPLETE"}
        autocrop("search", self.cfg, "--quiet", "--trials", "4", "--set", f"cache_dir={self.tmp / 'ref'}")
        after = study_trials(self.home)
        complete = {t.number for t in after if t.state.name == "COMPLETE"}
        running = sum(t.state.name == "RUNNING" for t in after)
        runs = running_mlflow_runs(self.home)
        ok = before <= kept <= complete and len(complete) == len(kept) + 4 and running == 0 and runs == 0
        return (f"{name} at {at:.1f} s (exit {code}): {len(kept) - len(before)} trials finished before the kill, none lost; "
                f"rerun +4 -> {len(complete)} complete, {running} running trials, {runs} running MLflow runs"), ok

    def export(self, r: int) -> tuple[str, bool]:
        out = self.tmp / f"b-{r}"
        at, sig, name = self.moment(self.t_export)
        code = killed(["export", self.cfg, "--trial", str(self.trial), "--out", str(out), "--set", f"cache_dir={self.tmp / 'ref'}"], at, sig)
        state = "absent" if not out.exists() else "complete"
        if out.exists():
            load_bundle(out)  # raises if half a bundle was left
        else:
            autocrop("export", self.cfg, "--trial", str(self.trial), "--out", str(out), "--set", f"cache_dir={self.tmp / 'ref'}")
        ok = load_bundle(out).manifest["threshold"] == self.ref_bundle
        return f"{name} at {at:.1f} s (exit {code}): out {state}; bundle verifies and matches: {ok}", ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write", type=Path, help="write the result into this markdown file")
    args = ap.parse_args()
    survived = {"extract": [0, 0], "search": [0, 0], "export": [0, 0]}
    with tempfile.TemporaryDirectory() as tmp:
        rounds = Rounds(Path(tmp), random.Random(args.seed))
        print(f"clean runs: extract {rounds.t_extract:.1f} s, search (8 trials) {rounds.t_search:.1f} s, "
              f"export {rounds.t_export:.1f} s", flush=True)
        for r in range(args.rounds):
            kind = ("extract", "search", "export")[r % 3]
            try:
                line, ok = getattr(rounds, kind)(r)
            except Exception as exc:  # a failed check is a lost round, not the end of the bench
                line, ok = f"FAILED: {exc}", False
            survived[kind][0] += ok
            survived[kind][1] += 1
            print(f"round {r + 1:2d} {kind:<7} {'ok  ' if ok else 'LOST'} {line}", flush=True)
    total = sum(s for s, _ in survived.values())
    lines = ["| scenario | rounds survived with nothing lost |", "|---|---|"]
    lines += [f"| {k} | {s}/{n} |" for k, (s, n) in survived.items()]
    lines.append(f"| **all** | **{total}/{args.rounds}** |")
    print("\n".join(lines))
    print(f"rounds survived with nothing lost: {total}/{args.rounds}")
    if args.write:
        write_section(args.write, "## Fault injection: killed extract, search and export",
                      f".venv/bin/python bench/faults.py --rounds {args.rounds} --seed {args.seed}", lines,
                      "\nEach round kills one command (SIGKILL or SIGTERM, at a random moment within its clean run time), "
                      "reruns it and checks the cache bit for bit, the study's complete trials and states, the MLflow "
                      "runs, and the bundle (see the script's docstring).\n")
    sys.exit(0 if total == args.rounds else 1)


if __name__ == "__main__":
    main()

"""label-next's votes as plain uncertainty sampling, under cross-fitting (2026-12-04, eleventh run).

    AUTOCROP_SHARED=../shared EXPLORE=0 SPLIT=0 .venv/bin/python bench/logs/label_efficiency/2026-12-04-margin-votes.py BENCH-ARGS...

The cross-fitted ceiling (`2026-12-04-crossfit.py ... margin,mix,oracle`) found that, once every
label both trains and thresholds, training frames nearest the cross-fitted head's threshold reach
the every-label test FN with 19-48 labels, against random frames' 48-96 (fixed input). label-next's
votes mix that nearness with the Pareto heads' split (`LABEL_VOTE_SPLIT`, 0.5) and leave half the
training picks to typical frames (`LABEL_EXPLORE`, 0.5). This runs `bench/label_efficiency.py` with
both set from the environment (`SPLIT`, `EXPLORE`), so the search's own pick, not the fixed input,
supplies the margins. `COLD=even` makes the first batch (the bench's `--start own`, a cold start of
half typical, half random frames) the first frames of the seed's nested time order instead
(label-next's `--even`), as the ceiling's uncertainty orders start.
"""

import os
import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # the bench imports its siblings (common, query_suite)

import autocrop.label_next as label_next  # noqa: E402
import autocrop.votes as votes  # noqa: E402

# The first runs (car, right-near-strict, right-near with SPLIT=0 EXPLORE=0; car with COLD=even) were at
# commit 646b0c0, where one weight and one share held for every search. The product then made them its
# cross-fitted defaults (LABEL_CROSSFIT_*, 0 and 0; b69245a reproduces those runs line for line), so
# SPLIT and EXPLORE now set the cross-fitted regime's.
votes.LABEL_CROSSFIT_VOTE_SPLIT = float(os.environ.get("SPLIT", votes.LABEL_CROSSFIT_VOTE_SPLIT))
votes.LABEL_CROSSFIT_EXPLORE = float(os.environ.get("EXPLORE", votes.LABEL_CROSSFIT_EXPLORE))
if os.environ.get("COLD") == "even":
    _next_batch = label_next.next_batch

    def next_batch(*args, cold: bool = False, **kw):
        return _next_batch(*args, even=cold, **kw)

    label_next.next_batch = next_batch
print(f"cold start: {os.environ.get('COLD', 'typical and random')}; label-next votes (cross-fitted): split weight {votes.LABEL_CROSSFIT_VOTE_SPLIT}, explore share {votes.LABEL_CROSSFIT_EXPLORE}", flush=True)
sys.argv = [str(ROOT / "bench" / "label_efficiency.py"), *sys.argv[1:]]
runpy.run_path(sys.argv[0], run_name="__main__")

"""Named constants of the search, in one place: what each number is and why it has that value."""

from __future__ import annotations

# seeds: a trial's training seed and a worker's sampler seed derive from `search.seed`
TRIAL_SEED_STRIDE = 100_003  # trial seed = seed * stride + trial number (a prime: no two (seed, trial) collide below it)
WORKER_SEED_STRIDE = 7_919  # sampler seed = seed + stride * worker: workers sharing a study draw different crops

# study storage
SCHEMA_RETRIES = 5  # workers racing to create a fresh database's schema: the loser retries this often
HEARTBEAT_S = 20  # a worker records a heartbeat for its running trials this often
GRACE_S = 120  # a running trial without a heartbeat for this long belongs to a dead worker: it is failed

# training (full-batch Adam on standardized inputs)
LEARNING_RATE = 1e-2
EVAL_EVERY = 5  # steps between validation-loss checks for early stopping
STACK_BYTES = 128 << 20  # float32 inputs (train, val and test) per Lightning run, to bound memory
GATHER_ROWS = 512  # frames read from the cache at a time when gathering inputs (bounds what is resident)

# the pooled-final-layer baseline gets a small L2 grid, so it is not a straw man
BASELINE_L2 = (1e-4, 1e-3, 1e-2)

# receptive-field-guided sampler
RF_EXPLORE = 0.2  # share of trials that take the paper's random crop instead of the ROI's cells
RF_SPREAD = 0.25  # crop parameters ~ N(target, spread x target size)

# group-lasso (block-sparse) proposals
LASSO_LAMBDAS = 6  # points on the regularisation path, from 0.9 to 0.05 of lambda_max
LASSO_ITERS = 80  # proximal-gradient iterations per lambda (warm-started)
LASSO_PER_LAYER = 4  # distinct supports proposed per layer
LASSO_MAX_ROWS = 1500  # training frames the path is fitted on (evenly spaced runs): proposals need no more

# comparisons of rates read from records (val FP <= target and the like)
RATE_TOL = 1e-9

CROSSFIT_BELOW = 256  # `crossfit: auto` cross-fits while train and val hold fewer labels than this together (measured to 128: BENCHMARKS.md)

# label-next: proposing the next frames to label
LABEL_MIN_DISTANCE = 0.2  # no two proposed frames closer than this, in units of the footage's median distance between two of its frames
LABEL_MIN_GAP = 3  # ... nor fewer than this many frames apart in time
LABEL_GRID = (3, 4)  # the embedding pools the last layer to this grid of cells (where things are matters)
LABEL_DIMS = 64  # principal components of that embedding used for distances
LABEL_FIT_ROWS = 4000  # frames (spread over the footage) the embedding's principal components are fitted on
LABEL_VOTE_SPLIT = 0.5  # weight of the heads' split in a frame's vote after a held-out search; the best head's nearness to its threshold has the rest
LABEL_EXPLORE = 0.5  # share of a batch's training frames picked for typicality after a held-out search (uncertainty alone samples a biased set there)
LABEL_CROSSFIT_VOTE_SPLIT = 0.0  # ... after a cross-fitted search (few labels): nearness alone, the best trial's cross-fitted head
LABEL_CROSSFIT_EXPLORE = 0.0  # ... and no typical share: every training pick by nearness (BENCHMARKS.md, eleventh run)
LABEL_COLD_RANDOM = 0.5  # share of a cold start's training frames drawn at random; typical frames the rest (typical alone trained heads no better than random frames)
LABEL_TYPICAL_NEIGHBOURS = 20  # a frame's typicality: 1 / its mean distance to this many nearest frames of its cluster
LABEL_SEEK = 6  # frames sought per split lacking a class, beside the labelled frames of it, before a search can train (autocrop.seek)
LABEL_SEEK_GAP = 25  # ... no two of them fewer frames of footage apart (a passage's frames are alike: they hit or miss together)
LABEL_MAX_HEADS = 12  # Pareto trials (best val FN first) whose retrained heads vote on each frame

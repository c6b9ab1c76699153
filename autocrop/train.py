"""Train K same-kind heads together in one Lightning run, each with its own early stopping."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call
from torch.utils.data import DataLoader

from autocrop.defaults import EVAL_EVERY, LEARNING_RATE
from autocrop.heads import BatchedHead, get_head, l2_of

__all__ = ["Candidate", "fit_heads", "stack"]

for _name in ("lightning.pytorch", "lightning.fabric", "lightning"):
    logging.getLogger(_name).setLevel(logging.ERROR)
warnings.filterwarnings("ignore", ".*does not have many workers.*")
warnings.filterwarnings("ignore", ".*GPU available but not used.*")
warnings.filterwarnings("ignore", ".*isinstance.treespec, LeafSpec.*")


@dataclass
class Candidate:
    """One head to fit: its kind, hyper-parameters, seed, and flattened inputs per split."""

    kind: str
    hparams: dict[str, Any]
    seed: int
    x: dict[str, np.ndarray]  # split -> float32 [N, D], D = prod(shape)
    shape: tuple[int, ...] | None = None  # (C, h, w) or (window, C, h, w); None = (D,)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.shape or (self.x["train"].shape[1],)


def stack(xs: Sequence[np.ndarray]) -> torch.Tensor:
    """[K, N, max D] from K arrays [N, D_k], zero-padded."""
    width = max(x.shape[1] for x in xs)
    out = torch.zeros(len(xs), xs[0].shape[0], width)
    for k, x in enumerate(xs):
        out[k, :, : x.shape[1]] = torch.from_numpy(x)
    return out


def _loss(kind_loss: str, logits: torch.Tensor, y: torch.Tensor, pos_weight: float) -> torch.Tensor:
    """[K] class-balanced mean loss of each head."""
    w = torch.where(y > 0, pos_weight, 1.0)
    if kind_loss == "hinge":
        per = torch.relu(1 - (2 * y - 1) * logits)
    else:
        per = F.binary_cross_entropy_with_logits(logits, y.expand_as(logits), reduction="none")
    return (per * w).sum(dim=1) / w.sum()


class _HeadsModule(pl.LightningModule):
    """Full-batch Adam on K stacked heads; each keeps its best-on-validation weights and stops on
    its own: once a head is stale it is dropped from the step, so a run costs what its active
    heads cost, not what its slowest head costs."""

    def __init__(self, head: BatchedHead, data: dict[str, torch.Tensor], lr: float, patience: int, eval_every: int):
        super().__init__()
        self.head = head
        self.data = data
        self.lr, self.patience, self.eval_every = lr, patience, eval_every
        ytr = data["y_train"]
        self.pos_weight = float((ytr == 0).sum() / max(int((ytr == 1).sum()), 1))
        self.l2 = torch.tensor([float(hp["l2"]) for hp in head.hparams])
        self.best_loss = torch.full((head.k,), float("inf"))
        self.best_state = {n: p.detach().clone() for n, p in head.named_parameters()}
        self.stale = torch.zeros(head.k, dtype=torch.long)
        self.steps_run = 0
        self._gather(torch.arange(head.k))

    def _gather(self, active: torch.Tensor) -> None:
        self.active = active
        self.head.active_dims = [self.head.dims[i] for i in active.tolist()]
        full = len(active) == self.head.k
        self.z = {s: self.data[f"z_{s}"] if full else self.data[f"z_{s}"][active] for s in ("train", "val")}

    def _logits(self, split: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        full = len(self.active) == self.head.k
        params = {n: p if full else p[self.active] for n, p in self.head.named_parameters()}
        return functional_call(self.head, params, (self.z[split],), {"standardized": True}), params

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.head.parameters(), lr=self.lr)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        logits, params = self._logits("train")
        loss = _loss(self.head.loss, logits, self.data["y_train"], self.pos_weight) + self.l2[self.active] * l2_of(params)
        return loss.sum()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.steps_run = batch_idx + 1
        if batch_idx % self.eval_every:
            return
        with torch.no_grad():
            val = _loss(self.head.loss, self._logits("val")[0], self.data["y_val"], self.pos_weight)
        act = self.active
        better = val < self.best_loss[act] - 1e-5
        self.best_loss[act] = torch.where(better, val, self.best_loss[act])
        self.stale[act] = torch.where(better, 0, self.stale[act] + self.eval_every)
        for n, p in self.head.named_parameters():
            self.best_state[n][act[better]] = p.detach()[act[better]]
        still = act[self.stale[act] <= self.patience]
        if len(still) == 0:
            self.trainer.should_stop = True
        elif len(still) < len(act):
            self._gather(still)

    def on_train_end(self) -> None:
        self.head.active_dims = self.head.dims
        with torch.no_grad():
            for n, p in self.head.named_parameters():
                p.copy_(self.best_state[n])


def fit_heads(
    cands: Sequence[Candidate],
    y: dict[str, np.ndarray],
    max_steps: int = 300,
    patience: int = 30,
    lr: float = LEARNING_RATE,
    eval_every: int = EVAL_EVERY,
    release_inputs: bool = False,
) -> tuple[BatchedHead, dict[str, np.ndarray], int]:
    """Fit candidates of one kind in one Lightning run; returns the head, scores [K, N] per split, steps run.

    With `release_inputs` the candidates' own input arrays are dropped as each split is stacked
    (the caller holds no other reference): one copy of the inputs in memory, not two."""
    kinds = {c.kind for c in cands}
    if len(kinds) != 1:
        raise ValueError(f"heads trained together must be of one kind, got {sorted(kinds)}")
    cls = get_head(kinds.pop())
    x = {}
    for s in list(cands[0].x):  # split by split, each dropped once stacked: at most one split held twice
        x[s] = stack([c.x[s] for c in cands])
        if release_inputs:
            for c in cands:
                c.x[s] = c.x[s][:0]
    head = cls([c.input_shape for c in cands], [c.hparams for c in cands], [c.seed for c in cands])
    head.standardize_from(x["train"])
    if not cls.trainable:
        head.fit_closed_form(x["train"], torch.from_numpy(y["train"]))
        return head, _scores(head, x), 0
    # standardize once: the steps are memory-bound, a fresh [K, N, D] tensor per step would dominate
    z = {s: t.sub_(head.mean[:, None]).div_(head.scale[:, None]) for s, t in x.items()}  # in place: no second copy
    del x
    data = {"z_train": z["train"], "z_val": z["val"]}
    data |= {f"y_{s}": torch.from_numpy(y[s].astype(np.float32)) for s in ("train", "val")}
    module = _HeadsModule(head, data, lr, patience, eval_every)
    trainer = pl.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=1,
        limit_train_batches=max_steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[interrupt := _Interrupt()],
    )
    steps = DataLoader(range(max_steps), batch_size=None)
    with interrupt.propagated():
        trainer.fit(module, train_dataloaders=steps)
    head.eval()
    with torch.no_grad():
        return head, {s: head.logits(t).numpy() for s, t in z.items()}, module.steps_run


class _Interrupt(pl.Callback):
    """Let Ctrl-C and SIGTERM (a KeyboardInterrupt) leave `Trainer.fit` as they came in.

    Lightning turns a KeyboardInterrupt inside `fit` into `sys.exit(1)` and leaves SIGINT ignored;
    the search then could neither fail its batch as interrupted nor exit 130/143. This callback
    keeps the exception Lightning saw, and `propagated()` raises it again in place of the exit and
    restores the SIGINT handler.
    """

    def __init__(self) -> None:
        self.exception: BaseException | None = None

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self.exception = exception

    @contextlib.contextmanager
    def propagated(self) -> Iterator[None]:
        main = threading.current_thread() is threading.main_thread()
        sigint = signal.getsignal(signal.SIGINT) if main else None
        try:
            yield
        except SystemExit:
            if isinstance(self.exception, KeyboardInterrupt):
                raise self.exception from None
            raise
        finally:
            if main:
                signal.signal(signal.SIGINT, sigint)


def _scores(head: BatchedHead, x: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    head.eval()
    with torch.no_grad():
        return {s: head(t).numpy() for s, t in x.items()}

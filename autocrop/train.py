"""Train K same-kind heads together in one Lightning run, each with its own early stopping."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from autocrop.heads import BatchedHead, get_head

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
    x: dict[str, np.ndarray]  # split -> float32 [N, D]


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
    """Full-batch Adam on K stacked heads; keeps each head's best-on-validation weights."""

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

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.head.parameters(), lr=self.lr)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        logits = self.head(self.data["x_train"])
        loss = _loss(self.head.loss, logits, self.data["y_train"], self.pos_weight) + self.l2 * self.head.l2()
        return loss.sum()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.steps_run = batch_idx + 1
        if batch_idx % self.eval_every:
            return
        with torch.no_grad():
            val = _loss(self.head.loss, self.head(self.data["x_val"]), self.data["y_val"], self.pos_weight)
        better = val < self.best_loss - 1e-5
        self.best_loss = torch.where(better, val, self.best_loss)
        self.stale = torch.where(better, 0, self.stale + self.eval_every)
        for n, p in self.head.named_parameters():
            mask = better.view(-1, *([1] * (p.dim() - 1)))
            self.best_state[n] = torch.where(mask, p.detach(), self.best_state[n])
        if bool((self.stale > self.patience).all()):
            self.trainer.should_stop = True

    def on_train_end(self) -> None:
        with torch.no_grad():
            for n, p in self.head.named_parameters():
                p.copy_(self.best_state[n])


def fit_heads(
    cands: Sequence[Candidate],
    y: dict[str, np.ndarray],
    max_steps: int = 300,
    patience: int = 30,
    lr: float = 1e-2,
    eval_every: int = 5,
) -> tuple[BatchedHead, dict[str, np.ndarray], int]:
    """Fit candidates of one kind in one Lightning run; returns the head, scores [K, N] per split, steps run."""
    kinds = {c.kind for c in cands}
    if len(kinds) != 1:
        raise ValueError(f"heads trained together must be of one kind, got {sorted(kinds)}")
    cls = get_head(kinds.pop())
    x = {s: stack([c.x[s] for c in cands]) for s in cands[0].x}
    head = cls([c.x["train"].shape[1] for c in cands], [c.hparams for c in cands], [c.seed for c in cands])
    head.standardize_from(x["train"])
    data = {"x_train": x["train"], "x_val": x["val"]}
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
    )
    steps = DataLoader(range(max_steps), batch_size=None)
    trainer.fit(module, train_dataloaders=steps)
    head.eval()
    with torch.no_grad():
        scores = {s: head(t).numpy() for s, t in x.items()}
    return head, scores, module.steps_run

"""KNN over stored training crops: the one head fitted in closed form, with no ONNX form."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from autocrop.heads.base import BatchedHead, Shape, register_head

__all__ = ["KNN"]


@register_head("knn")
class KNN(BatchedHead):
    """k nearest training crops (scikit-learn); score = number of positive neighbours, so the
    val threshold is the minimum number of positive neighbours. Stores its training set."""

    trainable = False
    defaults = {"k": 5}

    @classmethod
    def madds(cls, shape: Shape, hparams: dict[str, Any], n_train: int) -> int:
        """One multiply-add per stored training value (squared distances)."""
        return int(np.prod(shape)) * n_train

    def build(self, gens: list[torch.Generator]) -> None:
        self.register_buffer("train_x", torch.zeros(self.k, 0, self.width))
        self.register_buffer("train_y", torch.zeros(self.k, 0))

    def fit_closed_form(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.train_x = ((x - self.mean[:, None]) / self.scale[:, None]).clone()
        self.train_y = y.float().expand(self.k, -1).clone()

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        from sklearn.neighbors import KNeighborsClassifier

        out = torch.empty(z.shape[:2])
        for k in range(self.k):
            d = self.dims[k]
            knn = KNeighborsClassifier(n_neighbors=int(self.hparams[k]["k"]), algorithm="brute")
            knn.fit(self.train_x[k, :, :d].numpy(), self.train_y[k].numpy().astype(int))
            out[k] = torch.from_numpy(knn.predict_proba(z[k, :, :d].numpy())[:, -1] * int(self.hparams[k]["k"]))
        return out

    def single(self, k: int) -> BatchedHead:
        one = type(self)([self.shapes[k]], [self.hparams[k]], [0])
        d = self.dims[k]
        one.mean, one.scale = self.mean[k : k + 1, :d].clone(), self.scale[k : k + 1, :d].clone()
        one.train_x, one.train_y = self.train_x[k : k + 1, :, :d].clone(), self.train_y[k : k + 1].clone()
        return one.eval()

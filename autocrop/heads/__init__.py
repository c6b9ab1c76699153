"""Head registry: microclassifiers stacked K at a time, each knowing its exact multiply-adds.

Register a new kind with `@register_head("name")` on a `BatchedHead` subclass.
"""

from autocrop.heads.base import HEADS, BatchedHead, head_madds, l2_of, load_head, register_head, save_head, get_head
from autocrop.heads.kinds import MLP, AttentionPool, LinearSVM, Logistic, SpatialConv, Temporal
from autocrop.heads.knn import KNN

__all__ = ["HEADS", "BatchedHead", "register_head", "get_head", "head_madds", "save_head", "load_head", "l2_of",
           "LinearSVM", "Logistic", "MLP", "SpatialConv", "AttentionPool", "Temporal", "KNN"]

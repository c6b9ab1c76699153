"""autocrop: find the crop of a CNN feature map that a microclassifier should read."""

from __future__ import annotations

__all__ = ["__version__"]
__version__ = "0.1.0"

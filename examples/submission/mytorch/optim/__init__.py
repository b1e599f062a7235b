"""Optimizers that update the W and b of Linear layers from their stored gradients."""

from .sgd import SGD

__all__ = ["SGD"]

"""MyTorch: a small PyTorch-like library written in pure NumPy."""

from . import nn, optim

__all__ = ["nn", "optim"]

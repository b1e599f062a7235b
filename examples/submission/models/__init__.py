"""Multilayer perceptrons built from mytorch layers."""

from .mlp import MLP0, MLP1, MLP4

__all__ = ["MLP0", "MLP1", "MLP4"]

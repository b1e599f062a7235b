"""Losses: forward(O, Y) returns L as a float, backward() returns dLdO."""

import numpy as np  # noqa: F401


class MSELoss:
    """Mean squared error over all N q entries of O."""

    def forward(self, O, Y):
        """Return L = sum((O - Y)^2) / (N q) for predictions O and targets Y, both (N, q).

        Stores O, Y, N and q for backward.
        """
        raise NotImplementedError

    def backward(self):
        """Return dLdO = 2 (O - Y) / (N q), shape (N, q)."""
        raise NotImplementedError


class CrossEntropyLoss:
    """Softmax cross-entropy with probability targets, averaged over the N rows."""

    def forward(self, O, Y):
        """Return L = -sum(Y log softmax(O)) / N for logits O and targets Y, both (N, C).

        The rows of Y are probabilities (one-hot in the handout). Stores Y, N and
        softmax(O) for backward. Each row is shifted by its maximum before exp
        (log-sum-exp), so logits of size 1e3 still give a finite, exact L.
        """
        raise NotImplementedError

    def backward(self):
        """Return dLdO = (softmax(O) - Y) / N, shape (N, C)."""
        raise NotImplementedError

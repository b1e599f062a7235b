"""Losses: forward(O, Y) returns L as a float, backward() returns dLdO."""

import numpy as np


class MSELoss:
    """Mean squared error over all N q entries of O."""

    def forward(self, O, Y):
        """Return L = sum((O - Y)^2) / (N q) for predictions O and targets Y, both (N, q).

        Stores O, Y, N and q for backward.
        """
        self.O, self.Y = O, Y
        self.N, self.q = O.shape
        return float(((O - Y) ** 2).sum() / (self.N * self.q))

    def backward(self):
        """Return dLdO = 2 (O - Y) / (N q), shape (N, q)."""
        return 2 * (self.O - self.Y) / (self.N * self.q)


class CrossEntropyLoss:
    """Softmax cross-entropy with probability targets, averaged over the N rows."""

    def forward(self, O, Y):
        """Return L = -sum(Y log softmax(O)) / N for logits O and targets Y, both (N, C).

        The rows of Y are probabilities (one-hot in the handout). Stores Y, N and
        softmax(O) for backward. Each row is shifted by its maximum before exp
        (log-sum-exp), so logits of size 1e3 still give a finite, exact L.
        """
        self.Y = Y
        self.N = O.shape[0]
        shift = O.max(axis=1, keepdims=True)
        E = np.exp(O - shift)
        self.softmax = E / E.sum(axis=1, keepdims=True)
        logsumexp = shift + np.log(E.sum(axis=1, keepdims=True))
        return float((Y * (logsumexp - O)).sum() / self.N)

    def backward(self):
        """Return dLdO = (softmax(O) - Y) / N, shape (N, C)."""
        return (self.softmax - self.Y) / self.N

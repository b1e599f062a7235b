"""Losses: forward(O, Y) returns L as a float, backward() returns dLdO."""

import numpy as np


class MSELoss:
    """Mean squared error over all N q entries of O."""

    def forward(self, O, Y):
        """Return L = sum((O - Y)^2) / (N q) for predictions O and targets Y, both (N, q).

        Stores O, Y, N and q for backward.
        """
        self.A = O
        self.Y = Y
        self.N, self.C = O.shape
        se = (O - Y) * (O - Y)
        sse = np.sum(se)
        mse = sse / (self.N * self.C)
        return mse

    def backward(self):
        """Return dLdO = 2 (O - Y) / (N q), shape (N, q)."""
        dLdA = 2 * (self.A - self.Y) / (self.N * self.C)
        return dLdA


class CrossEntropyLoss:
    """Softmax cross-entropy with probability targets, averaged over the N rows."""

    def forward(self, O, Y):
        """Return L = -sum(Y log softmax(O)) / N for logits O and targets Y, both (N, C).

        The rows of Y are probabilities (one-hot in the handout). Stores Y, N and
        softmax(O) for backward. Each row is shifted by its maximum before exp
        (log-sum-exp), so logits of size 1e3 still give a finite, exact L.
        """
        self.A = O
        self.Y = Y
        self.N = O.shape[0]
        # subtract the row max first, otherwise exp(1000) = inf
        shifted = O - np.max(O, axis=1, keepdims=True)
        exps = np.exp(shifted)
        sums = np.sum(exps, axis=1, keepdims=True)
        self.softmax = exps / sums
        log_softmax = shifted - np.log(sums)
        crossentropy = -np.sum(Y * log_softmax, axis=1)
        L = np.sum(crossentropy) / self.N
        return L

    def backward(self):
        """Return dLdO = (softmax(O) - Y) / N, shape (N, C)."""
        dLdA = self.softmax - self.Y
        return dLdA

"""Element-wise activations: forward(H) returns A, backward() returns dA/dH."""

import numpy as np


class Identity:
    """A = H."""

    def forward(self, H):
        """Return A = H, same shape as H; stores A for backward."""
        self.A = H
        return self.A

    def backward(self):
        """Return dA/dH = 1 everywhere, same shape as the last H."""
        dAdZ = np.ones(self.A.shape)
        return dAdZ


class Sigmoid:
    """A = 1 / (1 + exp(-H))."""

    def forward(self, H):
        """Return A = sigmoid(H), same shape as H; stores A for backward.

        exp is only ever taken of -|H|, so no |H| can overflow it.
        """
        self.A = 1 / (1 + np.exp(-H))
        return self.A

    def backward(self):
        """Return dA/dH = A (1 - A), same shape as the last H."""
        dAdZ = self.A - self.A * self.A
        return dAdZ


class Tanh:
    """A = tanh(H)."""

    def forward(self, H):
        """Return A = tanh(H), same shape as H; stores A for backward."""
        self.A = np.tanh(H)
        return self.A

    def backward(self):
        """Return dA/dH = 1 - A^2, same shape as the last H."""
        dAdZ = 1 - self.A
        return dAdZ


class ReLU:
    """A = max(H, 0)."""

    def forward(self, H):
        """Return A = max(H, 0), same shape as H; stores A for backward."""
        self.A = np.maximum(0, H)
        return self.A

    def backward(self):
        """Return dA/dH: 1.0 where H > 0 (that is, where A > 0), else 0.0."""
        dAdZ = np.where(self.A > 0, 1.0, 0.0)
        return dAdZ

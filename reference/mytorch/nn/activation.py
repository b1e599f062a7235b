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
        return np.ones_like(self.A)


class Sigmoid:
    """A = 1 / (1 + exp(-H))."""

    def forward(self, H):
        """Return A = sigmoid(H), same shape as H; stores A for backward.

        exp is only ever taken of -|H|, so no |H| can overflow it.
        """
        E = np.exp(-np.abs(H))
        self.A = np.where(H >= 0, 1 / (1 + E), E / (1 + E))
        return self.A

    def backward(self):
        """Return dA/dH = A (1 - A), same shape as the last H."""
        return self.A * (1 - self.A)


class Tanh:
    """A = tanh(H)."""

    def forward(self, H):
        """Return A = tanh(H), same shape as H; stores A for backward."""
        self.A = np.tanh(H)
        return self.A

    def backward(self):
        """Return dA/dH = 1 - A^2, same shape as the last H."""
        return 1 - self.A**2


class ReLU:
    """A = max(H, 0)."""

    def forward(self, H):
        """Return A = max(H, 0), same shape as H; stores A for backward."""
        self.A = np.maximum(H, 0)
        return self.A

    def backward(self):
        """Return dA/dH: 1.0 where H > 0 (that is, where A > 0), else 0.0."""
        return np.where(self.A > 0, 1.0, 0.0)

"""Fully connected layer: O = A W + b."""

import numpy as np


class Linear:
    """Affine map from C_in to C_out features.

    NB: W is (C_in, C_out), the transpose of torch's weight, so forward is A @ W.
    """

    def __init__(self, num_inputs, num_outputs):
        """Create W, (C_in, C_out), drawn from N(0, 0.01) (std 0.1), and b, (C_out,), zeros.

        num_inputs is C_in and num_outputs is C_out.
        """
        # variance 0.01 means std 0.1
        self.W = np.random.normal(loc=0.0, scale=0.1, size=(num_inputs, num_outputs))
        self.b = np.zeros((1, num_outputs))  # row vector, broadcasts over the batch

    def forward(self, A):
        """Return O = A W + b, shape (N, C_out), for the input A, shape (N, C_in).

        Stores A and its number of rows N for backward.
        """
        self.A = A
        self.N = A.shape[0]
        self.Ones = np.ones((self.N, 1))
        Z = A @ self.W + self.Ones @ self.b
        return Z

    def backward(self, dLdO):
        """Return dLdA = dLdO W^T, shape (N, C_in), for dLdO, shape (N, C_out).

        Stores the parameter gradients for the optimizer: dLdW = A^T dLdO, shape
        (C_in, C_out) like W, and dLdb = the column sums of dLdO, shape (C_out,) like b.
        """
        dZdA = self.W.T
        dZdW = self.A
        self.dLdW = dZdW.T @ dLdO
        self.dLdb = self.Ones.T @ dLdO  # (1, C_out), same as b
        dLdA = dLdO @ dZdA
        return dLdA

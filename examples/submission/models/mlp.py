"""Multilayer perceptrons: Linear layers, each followed by its activation."""

from mytorch.nn import Identity, Linear, ReLU


class _MLP:
    """Forward and backward shared by MLP0, MLP1 and MLP4.

    A subclass sets self.layers (Linear) and self.f (activations), one activation per layer:
    ReLU after every hidden layer, Identity at the output.
    """

    def forward(self, X):
        """Return A, shape (N, C_out), the output of the network for X, shape (N, C_in).

        Applies layers[0], f[0], layers[1], f[1], ...; each of them stores what its own
        backward needs, so the network itself stores nothing.
        """
        A = X
        L = len(self.layers)
        for i in range(L):
            Z = self.layers[i].forward(A)
            A = self.f[i].forward(Z)
        return A

    def backward(self, dLdA):
        """Back-propagate dLdA, shape (N, C_out), and return dLdX, shape (N, C_in).

        Goes through the activations and layers in reverse order; every Linear is left
        holding its dLdW and dLdb for the optimizer.
        """
        L = len(self.layers)
        for i in reversed(range(L)):
            dAdZ = self.f[i].backward()
            dLdZ = dLdA * dAdZ
            dLdA = self.layers[i].backward(dLdZ)
        return dLdA


class MLP0(_MLP):
    """No hidden layer: X -> Linear -> Identity."""

    def __init__(self, num_inputs, num_outputs):
        """Set layers = [Linear(C_in, C_out)] and f = [Identity()]."""
        self.layers = [Linear(num_inputs, num_outputs)]
        self.f = [Identity()]


class MLP1(_MLP):
    """One hidden layer of width num_hiddens: Linear -> ReLU -> Linear -> Identity."""

    def __init__(self, num_inputs, num_outputs, num_hiddens):
        """Set layers = [Linear(C_in, h), Linear(h, C_out)] and f = [ReLU(), Identity()]."""
        self.layers = [
            Linear(num_inputs, num_hiddens),
            Linear(num_hiddens, num_outputs),
        ]
        self.f = [ReLU(), Identity()]


class MLP4(_MLP):
    """Four hidden layers, each num_hiddens wide and followed by a ReLU; Identity at the end."""

    def __init__(self, num_inputs, num_outputs, num_hiddens):
        """Set five layers, C_in -> h -> h -> h -> h -> C_out, and f = four ReLUs + Identity.

        Every activation is its own instance: each stores the A of its own layer.
        """
        self.layers = [Linear(num_inputs, num_hiddens)]
        for _ in range(3):
            self.layers.append(Linear(num_hiddens, num_hiddens))
        self.layers.append(Linear(num_hiddens, num_outputs))

        # one ReLU object per hidden layer (each one remembers its own A)
        self.f = [ReLU() for _ in range(4)] + [Identity()]

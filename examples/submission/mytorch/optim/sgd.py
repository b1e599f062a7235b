"""Stochastic gradient descent."""


class SGD:
    """Plain SGD on the W and b of every Linear layer of a model."""

    def __init__(self, model, lr=0.1):
        """Keep the layers to update and the learning rate lr.

        The layers are model.layers if the model has them, else [model] (a single Linear).
        """
        if hasattr(model, "layers"):
            self.l = model.layers
        else:
            self.l = [model]
        self.L = len(self.l)
        self.lr = lr

    def step(self):
        """Update W -= lr dLdW and b -= lr dLdb in place, for every layer.

        dLdb is reshaped to the shape of b, so each may be (h,), (h, 1) or (1, h).
        """
        for i in range(self.L):
            self.l[i].W = self.l[i].W - self.lr * self.l[i].dLdW
            self.l[i].b = self.l[i].b - self.lr * self.l[i].dLdb

    def zero_grad(self):
        """Do nothing: every backward overwrites dLdW and dLdb, so there is nothing to reset."""
        pass

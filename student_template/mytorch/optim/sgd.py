"""Stochastic gradient descent."""


class SGD:
    """Plain SGD on the W and b of every Linear layer of a model."""

    def __init__(self, model, lr=0.1):
        """Keep the layers to update and the learning rate lr.

        The layers are model.layers if the model has them, else [model] (a single Linear).
        """
        raise NotImplementedError

    def step(self):
        """Update W -= lr dLdW and b -= lr dLdb in place, for every layer.

        dLdb is reshaped to the shape of b, so each may be (h,), (h, 1) or (1, h).
        """
        raise NotImplementedError

    def zero_grad(self):
        """Do nothing: every backward overwrites dLdW and dLdb, so there is nothing to reset."""
        raise NotImplementedError

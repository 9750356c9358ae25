"""Stochastic gradient descent with Keras's update rules.

Keras 3 `SGD` (learning rate lr, momentum m, velocity v starting at zero):
    plain:     w = w - lr * g
    momentum:  v = m * v - lr * g;  w = w + v
    Nesterov:  v = m * v - lr * g;  w = w + m * v - lr * g
"""
import math

import numpy as np


class SGD:
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        learning_rate, momentum = float(learning_rate), float(momentum)
        if not (math.isfinite(learning_rate) and learning_rate > 0):
            raise ValueError(f"learning_rate must be a positive number, got {learning_rate}")
        if not (0.0 <= momentum < 1.0):
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterov = bool(nesterov)
        self.velocities = None

    def apply(self, grads, variables):
        """Update each variable in place from its gradient (Keras: optimizer.apply)."""
        if self.momentum == 0.0:
            for g, w in zip(grads, variables):
                w -= self.learning_rate * g
            return
        if self.velocities is None:
            self.velocities = [np.zeros_like(w) for w in variables]
        lr, m = self.learning_rate, self.momentum
        for g, w, v in zip(grads, variables, self.velocities):
            v *= m
            v -= lr * g                     # v = m * v - lr * g
            if self.nesterov:
                w += m * v - lr * g         # look ahead along the new velocity
            else:
                w += v

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
        self._scratch = None

    def apply(self, grads, variables):
        """Update each variable in place from its gradient (Keras: optimizer.apply)."""
        if self._scratch is None:
            # One work array per variable, kept from step to step, holds lr * g:
            # no new (in, out) array allocated for every weight at every step.
            self._scratch = [np.empty_like(w) for w in variables]
            self.velocities = [np.zeros_like(w) for w in variables] if self.momentum else None
        lr, m = self.learning_rate, self.momentum
        for index, (g, w, step) in enumerate(zip(grads, variables, self._scratch)):
            np.multiply(g, lr, out=step)              # step = lr * g
            if not m:
                w -= step                             # w = w - lr * g
                continue
            v = self.velocities[index]
            v *= m
            v -= step                                 # v = m * v - lr * g
            if self.nesterov:
                w -= step
                w += np.multiply(v, m, out=step)      # w = w + m * v - lr * g
            else:
                w += v                                # w = w + v

"""Optimizers with Keras 3's update rules, each a short class with one method, `apply`.

Every optimizer keeps `learning_rate` as a plain attribute (a schedule may set
it between epochs) and its state per weight, made at the first step with the
weight's shape and dtype, starting at zero, as Keras's slot variables do.
"""
import math

import numpy as np

from . import utils


def _check_learning_rate(learning_rate):
    learning_rate = float(learning_rate)
    if not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate}")
    return learning_rate


def _check_fraction(name, value):
    value = float(value)
    if not (0.0 <= value < 1.0):
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return value


class SGD:
    """Keras 3 `SGD` (learning rate lr, momentum m, velocity v starting at zero):

        plain:     w = w - lr * g
        momentum:  v = m * v - lr * g;  w = w + v
        Nesterov:  v = m * v - lr * g;  w = w + m * v - lr * g
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False):
        self.learning_rate = _check_learning_rate(learning_rate)
        self.momentum = _check_fraction("momentum", momentum)
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


class Adam:
    """Keras 3 `Adam` (keras/src/optimizers/adam.py), step t = 1, 2, ...; m, v (and v_hat) start at 0:

        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)     the bias correction, folded into the step size
        m = m + (g - m) * (1 - beta_1)                         = beta_1 * m + (1 - beta_1) * g
        v = v + (g * g - v) * (1 - beta_2)                     = beta_2 * v + (1 - beta_2) * g * g
        amsgrad: v_hat = max(v_hat, v), used in place of v below
        w = w - m * alpha / (sqrt(v) + epsilon)                epsilon outside the square root

    Keras's defaults: lr 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7 (the papers' 1e-8 is not Keras's).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False):
        self.learning_rate = _check_learning_rate(learning_rate)
        self.beta_1 = _check_fraction("beta_1", beta_1)
        self.beta_2 = _check_fraction("beta_2", beta_2)
        self.epsilon = float(epsilon)
        self.amsgrad = bool(amsgrad)
        self.iterations = 0
        self.momentums = self.velocities = self.velocity_hats = None

    def apply(self, grads, variables):
        if self.momentums is None:
            self.momentums = [np.zeros_like(w) for w in variables]
            self.velocities = [np.zeros_like(w) for w in variables]
            self.velocity_hats = [np.zeros_like(w) for w in variables] if self.amsgrad else None
        t = self.iterations + 1
        alpha = self.learning_rate * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        for index, (g, w) in enumerate(zip(grads, variables)):
            m, v = self.momentums[index], self.velocities[index]
            m += (g - m) * (1 - self.beta_1)
            v += (g * g - v) * (1 - self.beta_2)
            if self.amsgrad:
                v = np.maximum(self.velocity_hats[index], v, out=self.velocity_hats[index])
            w -= (m * alpha) / (np.sqrt(v) + self.epsilon)
        self.iterations = t


class RMSprop:
    """Keras 3 `RMSprop` (keras/src/optimizers/rmsprop.py); v, a and the momentum buffer start at 0:

        v = rho * v + (1 - rho) * g * g                     running mean of g squared
        centered: a = rho * a + (1 - rho) * g;  d = v - a * a + epsilon   (a variance, not a raw second moment)
        else:     d = v + epsilon                           epsilon inside the square root
        increment = lr * g / sqrt(d)
        momentum > 0: buffer = momentum * buffer + increment;  w = w - buffer
        else:         w = w - increment

    Keras's defaults: lr 0.001, rho 0.9, momentum 0, epsilon 1e-7, centered False.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
        self.learning_rate = _check_learning_rate(learning_rate)
        self.rho = _check_fraction("rho", rho)
        self.momentum = _check_fraction("momentum", momentum)
        self.epsilon = float(epsilon)
        self.centered = bool(centered)
        self.velocities = self.average_gradients = self.momentums = None

    def apply(self, grads, variables):
        if self.velocities is None:
            self.velocities = [np.zeros_like(w) for w in variables]
            self.average_gradients = [np.zeros_like(w) for w in variables] if self.centered else None
            self.momentums = [np.zeros_like(w) for w in variables] if self.momentum > 0 else None
        rho, lr = self.rho, self.learning_rate
        for index, (g, w) in enumerate(zip(grads, variables)):
            v = self.velocities[index]
            v[...] = rho * v + (1 - rho) * np.square(g)
            if self.centered:
                a = self.average_gradients[index]
                a[...] = rho * a + (1 - rho) * g
                denominator = v - np.square(a) + self.epsilon
            else:
                denominator = v + self.epsilon
            increment = (lr * g) / np.sqrt(denominator)
            if self.momentum > 0:
                buffer = self.momentums[index]
                buffer[...] = self.momentum * buffer + increment
                w -= buffer
            else:
                w -= increment


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


def get(name, learning_rate=None, momentum=0.0, nesterov=False, **options):
    """An optimizer from its Keras name; `momentum` and `nesterov` go to the ones that take them.

    learning_rate None: the optimizer's own default (SGD 0.01, Adam and RMSprop 0.001), as in Keras.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")
    if learning_rate is None:
        learning_rate = 0.01 if name == "sgd" else 0.001
    if name == "sgd":
        return SGD(learning_rate, momentum, nesterov, **options)
    if nesterov:
        raise ValueError(f"nesterov=True is an SGD option; {name} does not take it")
    if name == "rmsprop":
        return RMSprop(learning_rate, momentum=momentum, **options)
    if momentum:
        raise ValueError("momentum is not an Adam option: Adam's beta_1 plays that part")
    return Adam(learning_rate, **options)


def __getattr__(name):
    """`optimizers.Adagrad` and the other Keras optimizers numpy_impl leaves out: one line saying so."""
    if name.startswith("_"):
        raise AttributeError(name)
    raise utils.missing("optimizers", name, ("SGD", "Adam", "RMSprop"))

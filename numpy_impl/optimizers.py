"""Optimizers with Keras 3's update rules, each a short class with one method, `update`.

`Optimizer.apply` does what Keras's base optimizer does around every update,
in Keras's order: clip the gradients (clipnorm, global_clipnorm or clipvalue),
decay the weights (weight_decay), then the optimizer's own `update`.

Every optimizer keeps `learning_rate` as a plain attribute (a schedule may set
it between epochs) and its state per weight, made at the first step with the
weight's shape and dtype, starting at zero, as Keras's slot variables do.
"""
import math

import numpy as np

from . import schedules, utils  # noqa: F401 (schedules: reachable as optimizers.schedules, as in Keras)


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


def _check_positive_or_none(name, value):
    if value is None:
        return None
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number or None, got {value}")
    return value


BLOCK = 1 << 18          # elements an update handles at a time: 1 MB of float32, which the cache holds


def _blocks(work, *arrays):
    """Matching flat slices of `arrays` (all of one shape), at most BLOCK elements each, each with
    a slice of every work array in `work` (from _work_arrays) to match; an array that fits in one
    block comes whole, with its work arrays.

    An update makes several passes (g * lr, then v * m, ...). Over a (1024, 1024) weight each pass
    would read from memory what the last one wrote back; a block at a time it stays in the cache,
    and an Adam step takes about 30% less time (docs/speed.md). The slices are views: writing them
    writes the arrays.
    """
    size = arrays[0].size
    if size <= BLOCK:                                              # one block: the arrays as they are
        return [(*arrays, *work)]
    if not all(x.flags.c_contiguous for x in arrays):              # a flat view would be a copy:
        return [(*arrays, *(np.empty_like(arrays[0]) for _ in work))]   # take them whole instead
    flat = [x.reshape(-1) for x in arrays]
    pieces = [[x[start:start + BLOCK] for x in flat] for start in range(0, size, BLOCK)]
    return [(*piece, *(w[:piece[0].size] for w in work)) for piece in pieces]


def _work_arrays(variables, count):
    """For each variable, `count` work arrays kept from step to step: of its shape if it fits in
    one block, else of BLOCK elements."""
    return [[np.empty_like(w) if w.size <= BLOCK else np.empty(BLOCK, w.dtype) for _ in range(count)]
            for w in variables]


class Optimizer:
    """What every Keras 3 optimizer does around its own update (keras/src/optimizers/base_optimizer.py).

    apply(grads, variables), in Keras's order:
      1. clip the gradients, with one of:
           clipnorm c:         g = g * c / max(||g||, c)            each tensor on its own
           global_clipnorm c:  g = g * c * min(1 / G, 1 / c)        G = sqrt(sum of ||g||^2 over all tensors)
           clipvalue v:        g = clip(g, -v, v)                   entry by entry
      2. weight_decay wd (decoupled, every weight, biases too):  w = w - w * wd * lr
      3. the optimizer's update(grads, variables), with the gradients taken before the decay
    """

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None):
        self.iterations = 0                    # updates made so far
        self.learning_rate = learning_rate     # a number, or a schedule (see the property below)
        self.weight_decay = None if weight_decay is None else float(weight_decay)
        if self.weight_decay is not None and not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be a non-negative number or None, got {weight_decay}")
        self.clipnorm = _check_positive_or_none("clipnorm", clipnorm)
        self.clipvalue = _check_positive_or_none("clipvalue", clipvalue)
        self.global_clipnorm = _check_positive_or_none("global_clipnorm", global_clipnorm)
        self._decay_work = None
        if sum(c is not None for c in (self.clipnorm, self.clipvalue, self.global_clipnorm)) > 1:
            raise ValueError("give at most one of clipnorm, clipvalue and global_clipnorm (Keras takes one)")

    @property
    def learning_rate(self):
        """The rate of the next update: a schedule's value at `iterations` (the updates made so
        far, 0 before the first), as Keras calls it before its increment; or the number given."""
        return float(self.schedule(self.iterations)) if self.schedule else self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self.schedule = value if callable(value) else None        # numpy_impl.optimizers.schedules
        self._learning_rate = None if self.schedule else _check_learning_rate(value)

    def apply(self, grads, variables=None):
        """Update each variable in place from its gradient, as Keras 3's `optimizer.apply(grads, variables)`
        (variables None: the ones of the last call). The state (velocities, moments) is kept per position in
        the list, so hand the variables in the same order every time, as model.trainable_weights gives them."""
        if variables is None:
            variables = getattr(self, "_variables", None)
            if variables is None:
                raise ValueError("optimizer.apply needs the variables the first time: apply(grads, "
                                 "model.trainable_weights)")
        grads, variables = list(grads), list(variables)
        if len(grads) != len(variables):
            raise ValueError(f"optimizer.apply got {len(grads)} gradients for {len(variables)} variables: one each")
        for g, w in zip(grads, variables):
            if np.shape(g) != np.shape(w):
                raise ValueError(f"a gradient of shape {np.shape(g)} for a variable of shape {np.shape(w)}: "
                                 "hand the gradients in the variables' order (loss_and_gradients gives "
                                 "model.trainable_weights' order)")
        self._variables = variables
        step = self.iterations
        if self.clipnorm or self.global_clipnorm or self.clipvalue:
            grads = self.clip(grads)
        if self.weight_decay:
            self.decay_weights(variables)
        self.update(grads, variables)
        self.iterations = step + 1

    def apply_gradients(self, grads_and_vars):
        """Keras's `optimizer.apply_gradients(zip(grads, model.trainable_weights))`: apply them; returns the
        number of updates made so far, as Keras returns its iterations."""
        grads, variables = zip(*grads_and_vars)
        self.apply(grads, variables)
        return self.iterations

    def decay_weights(self, variables):
        """Decoupled weight decay, every weight in place: w = w - w * weight_decay * lr, at the
        current learning rate (a schedule's too), before the update."""
        lr = self.learning_rate
        if self._decay_work is None:
            self._decay_work = _work_arrays(variables, 1)             # a work array per weight
        for variable, work in zip(variables, self._decay_work):
            for w, step in _blocks(work, variable):
                np.multiply(w, self.weight_decay, out=step)
                step *= lr
                w -= step                                           # Keras: w - w * wd * lr

    def clip(self, grads):
        """The gradients clipped as Keras clips them (clipnorm, global_clipnorm or clipvalue)."""
        if self.clipnorm:
            return [g * self.clipnorm / max(math.sqrt(float(np.sum(np.square(g)))), self.clipnorm) for g in grads]
        if self.global_clipnorm:
            norm = math.sqrt(sum(float(np.sum(np.square(g))) for g in grads))      # G, over every tensor
            scale = self.global_clipnorm * min(1.0 / norm, 1.0 / self.global_clipnorm)
            return [g * scale for g in grads]
        if self.clipvalue:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads


class SGD(Optimizer):
    """Keras 3 `SGD` (learning rate lr, momentum m, velocity v starting at zero):

        plain:     w = w - lr * g
        momentum:  v = m * v - lr * g;  w = w + v
        Nesterov:  v = m * v - lr * g;  w = w + m * v - lr * g
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **options):
        super().__init__(learning_rate, **options)
        self.momentum = _check_fraction("momentum", momentum)
        self.nesterov = bool(nesterov)
        self.velocities = None
        self._scratch = None

    def update(self, grads, variables):
        if self._scratch is None:
            # Work arrays per variable, kept from step to step: one holds lr * g (Nesterov's
            # step needs a second): no new (in, out) array allocated for every weight at every step.
            self._scratch = _work_arrays(variables, 2 if self.nesterov else 1)
            self.velocities = [np.zeros_like(w) for w in variables] if self.momentum else None
        lr, m = self.learning_rate, self.momentum
        for index, (g, w) in enumerate(zip(grads, variables)):
            if not m:
                for g, w, step in _blocks(self._scratch[index], g, w):
                    np.multiply(g, lr, out=step)          # step = lr * g
                    w -= step                             # w = w - lr * g
                continue
            for g, w, v, step, *nesterov_work in _blocks(self._scratch[index], g, w, self.velocities[index]):
                np.multiply(g, lr, out=step)              # step = lr * g
                v *= m
                v -= step                                 # v = m * v - lr * g
                if self.nesterov:                         # Keras's order: w + (m * v - lr * g)
                    ahead = np.multiply(v, m, out=nesterov_work[0])
                    ahead -= step
                    w += ahead                            # w = w + m * v - lr * g
                else:
                    w += v                                # w = w + v


class Adam(Optimizer):
    """Keras 3 `Adam` (keras/src/optimizers/adam.py), step t = 1, 2, ...; m, v (and v_hat) start at 0:

        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)     the bias correction, folded into the step size
        m = m + (g - m) * (1 - beta_1)                         = beta_1 * m + (1 - beta_1) * g
        v = v + (g * g - v) * (1 - beta_2)                     = beta_2 * v + (1 - beta_2) * g * g
        amsgrad: v_hat = max(v_hat, v), used in place of v below
        w = w - m * alpha / (sqrt(v) + epsilon)                epsilon outside the square root

    Keras's defaults: lr 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7 (the papers' 1e-8 is not Keras's).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **options):
        super().__init__(learning_rate, **options)
        self.beta_1 = _check_fraction("beta_1", beta_1)
        self.beta_2 = _check_fraction("beta_2", beta_2)
        self.epsilon = float(epsilon)
        self.amsgrad = bool(amsgrad)
        self.momentums = self.velocities = self.velocity_hats = None

    def update(self, grads, variables):
        if self.momentums is None:
            self.momentums = [np.zeros_like(w) for w in variables]
            self.velocities = [np.zeros_like(w) for w in variables]
            self.velocity_hats = [np.zeros_like(w) for w in variables] if self.amsgrad else None
            # Two work arrays per variable, kept from step to step: the formulas below, written with
            # out= and in-place operators, compute the same numbers as written above and allocate nothing.
            self._scratch = _work_arrays(variables, 2)
        t = self.iterations + 1
        lr, alphas = self.learning_rate, {}
        for index, (g, w) in enumerate(zip(grads, variables)):
            # alpha in the weight's own dtype, every step of its formula, as Keras computes it: a float32
            # alpha rounded from a float64 one can differ in its last bit. (Once per dtype and step.)
            d = w.dtype.type
            if d not in alphas:
                alphas[d] = d(lr) * np.sqrt(1 - d(self.beta_2) ** d(t)) / (1 - d(self.beta_1) ** d(t))
            alpha = alphas[d]
            m, v = self.momentums[index], self.velocities[index]
            v_hat = self.velocity_hats[index] if self.amsgrad else v    # (without amsgrad: unused)
            for g, w, m, v, v_hat, a, b in _blocks(self._scratch[index], g, w, m, v, v_hat):
                np.subtract(g, m, out=a)
                a *= 1 - self.beta_1
                m += a                                        # m = m + (g - m) * (1 - beta_1)
                np.multiply(g, g, out=a)
                a -= v
                a *= 1 - self.beta_2
                v += a                                        # v = v + (g * g - v) * (1 - beta_2)
                if self.amsgrad:
                    v = np.maximum(v_hat, v, out=v_hat)       # v_hat = max(v_hat, v), used for v below
                np.sqrt(v, out=b)
                b += self.epsilon
                np.multiply(m, alpha, out=a)
                a /= b
                w -= a                                        # w = w - m * alpha / (sqrt(v) + epsilon)


class RMSprop(Optimizer):
    """Keras 3 `RMSprop` (keras/src/optimizers/rmsprop.py); v, a and the momentum buffer start at 0:

        v = rho * v + (1 - rho) * g * g                     running mean of g squared
        centered: a = rho * a + (1 - rho) * g;  d = v - a * a + epsilon   (a variance, not a raw second moment)
        else:     d = v + epsilon                           epsilon inside the square root
        increment = lr * g / sqrt(d)
        momentum > 0: buffer = momentum * buffer + increment;  w = w - buffer
        else:         w = w - increment

    Keras's defaults: lr 0.001, rho 0.9, momentum 0, epsilon 1e-7, centered False.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **options):
        super().__init__(learning_rate, **options)
        self.rho = _check_fraction("rho", rho)
        self.momentum = _check_fraction("momentum", momentum)
        self.epsilon = float(epsilon)
        self.centered = bool(centered)
        self.velocities = self.average_gradients = self.momentums = None

    def update(self, grads, variables):
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


class AdamW(Adam):
    """Keras 3 `AdamW`: Adam with weight decay on by default (0.004), decoupled from the gradient:

        w = w - w * weight_decay * lr      first, every weight (Optimizer.apply)
        then Adam's update, from the gradients taken before the decay
    """

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, **options):
        if weight_decay is None:
            raise ValueError("AdamW needs a weight_decay (Keras's default is 0.004)")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **options)


class Adagrad(Optimizer):
    """Keras 3 `Adagrad` (keras/src/optimizers/adagrad.py); each weight's accumulator starts at 0.1:

        accumulator = accumulator + g * g                  the sum of every squared gradient so far
        w = w - lr * g / sqrt(accumulator + epsilon)       epsilon inside the square root

    Keras's defaults: lr 0.001, initial_accumulator_value 0.1, epsilon 1e-7.
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **options):
        super().__init__(learning_rate, **options)
        self.initial_accumulator_value = float(initial_accumulator_value)
        if not self.initial_accumulator_value >= 0:
            raise ValueError(f"initial_accumulator_value must be >= 0, got {initial_accumulator_value}")
        self.epsilon = float(epsilon)
        self.accumulators = None

    def update(self, grads, variables):
        if self.accumulators is None:
            self.accumulators = [np.full_like(w, self.initial_accumulator_value) for w in variables]
        lr = self.learning_rate
        for g, w, accumulator in zip(grads, variables, self.accumulators):
            accumulator += g * g
            w -= (lr * g) / np.sqrt(accumulator + self.epsilon)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


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
        raise ValueError(f"momentum is not an option of {name}" +
                         (": Adam's beta_1 plays that part" if name.startswith("adam") else ""))
    return OPTIMIZERS[name](learning_rate, **options)


def __getattr__(name):
    """`optimizers.Nadam` and the other Keras optimizers numpy_impl leaves out: one line saying so."""
    if name.startswith("_"):
        raise AttributeError(name)
    raise utils.missing("optimizers", name, ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad"))

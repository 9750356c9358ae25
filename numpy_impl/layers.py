"""Layers, each with its forward and backward pass side by side: Dense, BatchNormalization,
LayerNormalization, Activation (and the activation layers LeakyReLU, ELU, ReLU), Dropout, Flatten, Softmax.

Every layer answers build(input_shape, rng, dtype) -> its output shape,
forward(x, training) and backward(grad_outputs, need_grad_inputs), and has a
(possibly empty) list of weights (Keras's get_weights() order), of trainable
weights (what the optimizer updates) and of their gradients.
"""
import math

import numpy as np

from . import activations, config, initializers, utils


def _shape(shape, what):
    """A shape as Keras takes one: a tuple (or list) of positive whole numbers, returned as a tuple of ints."""
    if not isinstance(shape, (tuple, list)):                  # Keras refuses a bare 784 too
        raise ValueError(f"{what} must be a tuple, e.g. (784,) or (28, 28), got {shape!r}")
    shape = tuple(shape)
    if not shape or any(isinstance(n, bool) or int(n) != n or n <= 0 for n in shape):
        raise ValueError(f"{what} must be positive whole numbers, e.g. (784,) or (28, 28), got {shape}")
    return tuple(int(n) for n in shape)


class Input:
    """Marks the input shape, as `keras.Input(shape=(784,))` does. Holds no weights. In a Sequential it gives
    the input shape; called on by a layer, it starts a graph (numpy_impl/functional.py)."""

    node = None                                              # nothing computes an Input: a graph starts here

    def __init__(self, shape, name=None):
        self.shape = _shape(shape, "Input shape")
        self.name = name or utils.unique_name("KerasTensor")   # what keras.Input returns, and its name
        self.layer_name = name or utils.unique_name("InputLayer")   # Keras's InputLayer behind it: the name given,
                                                                    # or input_layer, input_layer_1, ...

    def __repr__(self):
        return f"<KerasTensor shape=(None, {', '.join(map(str, self.shape))}), name={self.name}>"


class Layer:
    """What every layer shares with Keras's: a name, an optional `input_shape=`, and being built once.

    name: Keras's default is the class name in snake case, numbered (dense, dense_1, ...).
    input_shape: on a model's first layer, the older form of Input(shape=...); Keras 3 takes it too.
    """

    def __init__(self, name=None, input_shape=None):
        self.name = name or utils.unique_name(type(self).__name__)
        self.input_shape_argument = None if input_shape is None else _shape(input_shape, "input_shape")
        self.built = False

    def build_once(self, input_shape, rng, dtype):
        """build() the first time; after that (a layer shared by two models) check the shape fits."""
        input_shape = tuple(input_shape)
        if not self.built:
            self.build(input_shape, rng, dtype)
            self.built, self.built_input_shape = True, input_shape
        elif input_shape != self.built_input_shape:
            raise ValueError(f"layer {self.name!r} was built for inputs of shape {self.built_input_shape}, "
                             f"not {input_shape}")
        return self.output_shape

    def count_params(self):
        """Keras's `layer.count_params()`: how many numbers its weights hold, sum of w.size (0 for Dropout)."""
        if not self.built:
            raise ValueError(f"layer {self.name!r} is not built yet, so it has no weights to count: call it on "
                             "data, or build the model it is in, first")
        return sum(w.size for w in self.weights)

    def compute_output_shape(self, input_shape):
        """The shape of one sample's output, from one sample's input shape: the same, unless the layer
        changes it (Dense, Flatten, the merge layers)."""
        return tuple(input_shape)

    def __call__(self, inputs, training=False):
        """The layer alone on an array (built on first use), as Keras's `layer(x)`; returns a new array.
        On an Input (or another layer's symbolic output) it records a node of a graph instead."""
        from . import functional
        if functional.is_symbolic(inputs):
            return functional.call_symbolic(self, inputs)
        x = np.asarray(inputs)
        self.build_once(x.shape[1:], utils.generator(), config.floatx())   # Keras's floatx, whatever x's dtype
        return np.array(self.forward(x.astype(self.dtype, copy=False), training))

    def _buffer(self, name, shape):
        """A work array of this layer's dtype, kept from step to step and overwritten at each use:
        a fresh (B, units) array every step costs an allocation and page faults."""
        buffers = self.__dict__.setdefault("_buffers", {})
        buffer = buffers.get(name)
        if buffer is None or buffer.shape != shape:
            buffer = buffers[name] = np.empty(shape, self.dtype)
        return buffer


class Dense(Layer):
    """A fully connected layer, Keras's `Dense(units, activation)`.

    Forward:  z = x @ kernel + bias      (B, in) @ (in, out) + (out,) -> (B, out)
              outputs = activation(z)
    Backward: given dL/dz (B, out),
              dL/dkernel = x.T @ dL/dz   (in, B) @ (B, out) -> (in, out)
              dL/dbias   = sum_B dL/dz   (out,)
              dL/dx      = dL/dz @ kernel.T   (B, out) @ (out, in) -> (B, in)
    """

    def __init__(self, units, activation=None, kernel_regularizer=None, name=None, input_shape=None,
                 input_dim=None, kernel_initializer="glorot_uniform", use_bias=True, bias_initializer="zeros"):
        if isinstance(units, bool) or int(units) != units or units <= 0:
            raise ValueError(f"Dense units must be a positive whole number, got {units!r}")
        super().__init__(name, (input_dim,) if input_dim is not None else input_shape)
        self.units = int(units)
        self.activation = activations.get(activation)
        self.kernel_regularizer = kernel_regularizer     # e.g. L2(0.01): its penalty joins the loss
        self.kernel_initializer = initializers.get(kernel_initializer)   # e.g. "he_normal"
        self.bias_initializer = initializers.get(bias_initializer)       # Keras's default: zeros
        self.use_bias = bool(use_bias)       # False before a BatchNormalization, whose beta does its work
        self.kernel = self.bias = None

    def compute_output_shape(self, input_shape):
        return (self.units,)

    def build(self, input_shape, rng, dtype):
        """Create the weights: the kernel from its initializer (Keras's default: Glorot uniform), the bias
        from its own (Keras's default: zeros; none if use_bias=False). Returns (units,)."""
        if len(input_shape) != 1:
            raise ValueError(f"Dense takes (batch, features) inputs, got features of shape {input_shape}: "
                             "put a Flatten() before it")
        self.input_dim = int(input_shape[0])
        self.dtype = np.dtype(dtype)
        self.kernel = self.kernel_initializer(self.input_dim, self.units, rng, self.dtype)
        self.bias = self.bias_initializer(self.units, self.units, rng, self.dtype, shape=(self.units,)) \
            if self.use_bias else None
        self.grad_kernel = np.zeros_like(self.kernel)
        self.grad_bias = np.zeros_like(self.bias) if self.use_bias else None
        self.output_shape = (self.units,)
        return self.output_shape

    @property
    def weights(self):
        """[kernel (in, out), bias (out,)] ([kernel] without a bias); [] until built, as in Keras."""
        if self.kernel is None:
            return []
        return [self.kernel, self.bias] if self.use_bias else [self.kernel]

    trainable_weights = weights

    @property
    def gradients(self):
        if self.kernel is None:
            return []
        return [self.grad_kernel, self.grad_bias] if self.use_bias else [self.grad_kernel]

    # ---- forward ------------------------------------------------------------

    def affine(self, x):
        """z = x @ kernel + bias; remembers x for the backward pass."""
        self.inputs = x                                                  # (B, in)
        z = np.matmul(x, self.kernel, out=self._buffer("z", (x.shape[0], self.units)))
        if self.use_bias:
            z += self.bias                                               # (B, out)
        return z

    def forward(self, x, training=False):
        return self.activation.forward(self.affine(x))

    def penalty(self):
        """The regulariser's share of the loss (0 without one)."""
        return self.kernel_regularizer(self.kernel) if self.kernel_regularizer else 0.0

    # ---- backward -----------------------------------------------------------

    def backward_affine(self, grad_z, need_grad_inputs=True):
        """From dL/dz to dL/dkernel, dL/dbias (stored) and dL/dx (returned).

        The first layer's dL/dx is of no use (x is data, not a weight), so the
        model skips it: that saves a third of that layer's backward work.
        """
        np.matmul(self.inputs.T, grad_z, out=self.grad_kernel)   # (in, B) @ (B, out)
        if self.use_bias:
            np.add.reduce(grad_z, axis=0, out=self.grad_bias)    # (out,), a sum over the batch (np.sum minus its wrapper)
        if self.kernel_regularizer:
            self.grad_kernel += self.kernel_regularizer.gradient(self.kernel)   # + d penalty / dkernel
        if not need_grad_inputs:
            return None
        grad_inputs = self._buffer("grad_inputs", (grad_z.shape[0], self.input_dim))
        return np.matmul(grad_z, self.kernel.T, out=grad_inputs)  # (B, out) @ (out, in)

    def backward(self, grad_outputs, need_grad_inputs=True):
        """Back through the activation, then through the affine map."""
        return self.backward_affine(self.activation.backward(grad_outputs), need_grad_inputs)


class Normalization(Layer):
    """What BatchNormalization and LayerNormalization share; they differ only in the axis.

    Forward, with mean and var the biased moments of x over `axis` (divide by the count, not count - 1):
        x_hat   = (x - mean) / sqrt(var + epsilon)
        outputs = gamma * x_hat + beta              gamma, beta: (features,), learned
    computed as Keras computes it: inv = gamma / sqrt(var + epsilon); outputs = x * inv + (beta - mean * inv).

    Backward (docs/backprop.md derives it), with N entries along `axis` and g = dL/doutputs:
        dL/dgamma = sum_B g * x_hat                 dL/dbeta = sum_B g
        dL/dx_hat = g * gamma
        dL/dx     = (mean(dL/dx_hat) over axis, subtracted; then x_hat * mean(dL/dx_hat * x_hat), subtracted)
                    / sqrt(var + epsilon)
    The two means are the gradient's paths through `mean` and `var`: every x moves both.
    """

    axis = None                         # 0: over the batch (BatchNormalization); 1: over features (Layer...)

    def __init__(self, epsilon=1e-3, name=None, input_shape=None):
        super().__init__(name, input_shape)
        epsilon = float(epsilon)
        if not (math.isfinite(epsilon) and epsilon > 0):
            raise ValueError(f"{type(self).__name__} epsilon must be a positive number, got {epsilon}")
        self.epsilon = epsilon

    def build(self, input_shape, rng, dtype):
        """gamma = 1 and beta = 0, one per feature: at first the layer only normalises."""
        if len(input_shape) != 1:
            raise ValueError(f"{type(self).__name__} takes (batch, features) inputs here, got features of "
                             f"shape {input_shape}: put a Flatten() before it")
        self.dtype = np.dtype(dtype)
        self.gamma = np.ones(input_shape, self.dtype)
        self.beta = np.zeros(input_shape, self.dtype)
        self.grad_gamma, self.grad_beta = np.zeros_like(self.gamma), np.zeros_like(self.beta)
        self.output_shape = tuple(input_shape)
        return self.output_shape

    @property
    def trainable_weights(self):
        return [self.gamma, self.beta] if self.built else []

    weights = trainable_weights

    @property
    def gradients(self):
        return [self.grad_gamma, self.grad_beta] if self.built else []

    def normalize(self, x, mean, variance):
        """gamma * (x - mean) / sqrt(variance + epsilon) + beta, in Keras's arrangement; keeps x_hat."""
        inv_std = 1.0 / np.sqrt(variance + self.epsilon)
        inv = inv_std * self.gamma
        self.inv_std, self.x_hat = inv_std, (x - mean) * inv_std     # for the backward pass
        return x * inv + (self.beta - mean * inv)

    def backward(self, grad_outputs, need_grad_inputs=True):
        g, x_hat = grad_outputs, self.x_hat                             # (B, features) each
        np.sum(g * x_hat, axis=0, out=self.grad_gamma)                  # (features,)
        np.sum(g, axis=0, out=self.grad_beta)                           # (features,)
        if not need_grad_inputs:
            return None
        grad_x_hat = g * self.gamma
        return (grad_x_hat - grad_x_hat.mean(axis=self.axis, keepdims=True)
                - x_hat * (grad_x_hat * x_hat).mean(axis=self.axis, keepdims=True)) * self.inv_std


class BatchNormalization(Normalization):
    """Keras's `BatchNormalization(momentum=0.99, epsilon=0.001)`: each feature normalised over the batch.

    Training: mean, var = the batch's moments per feature, (features,) each; outputs as in
              Normalization; then the running estimates, updated from this batch:
                  moving_mean     = moving_mean * momentum + mean * (1 - momentum)
                  moving_variance = moving_variance * momentum + var * (1 - momentum)
    evaluate / predict: the same formula with moving_mean and moving_variance in place of the
              batch's moments, so a sample's output does not depend on the rest of its batch.
    Weights, Keras's order: gamma, beta (trained), moving_mean, moving_variance (not trained; start 0 and 1).
    """

    axis = 0

    def __init__(self, momentum=0.99, epsilon=1e-3, name=None, input_shape=None):
        super().__init__(epsilon, name, input_shape)
        momentum = float(momentum)
        if not (0.0 <= momentum <= 1.0):
            raise ValueError(f"BatchNormalization momentum must be in [0, 1], got {momentum}")
        self.momentum = momentum

    def build(self, input_shape, rng, dtype):
        shape = super().build(input_shape, rng, dtype)
        self.moving_mean = np.zeros(shape, self.dtype)
        self.moving_variance = np.ones(shape, self.dtype)
        return shape

    @property
    def weights(self):
        return [self.gamma, self.beta, self.moving_mean, self.moving_variance] if self.built else []

    def forward(self, x, training=False):
        if not training:
            return self.normalize(x, self.moving_mean, self.moving_variance)
        mean = x.mean(axis=0)                                     # (features,)
        variance = np.square(x - mean).mean(axis=0)               # biased: divided by B, as Keras does
        self.moving_mean[...] = self.moving_mean * self.momentum + mean * (1.0 - self.momentum)
        self.moving_variance[...] = self.moving_variance * self.momentum + variance * (1.0 - self.momentum)
        return self.normalize(x, mean, variance)


class LayerNormalization(Normalization):
    """Keras's `LayerNormalization(epsilon=0.001)`: each sample normalised over its own features.

    mean, var = each sample's moments, (B, 1) each; outputs as in Normalization. The same in
    training and evaluation (no running estimates). Weights: gamma, beta.
    """

    axis = 1

    def forward(self, x, training=False):
        mean = x.mean(axis=1, keepdims=True)                      # (B, 1)
        variance = np.square(x - mean).mean(axis=1, keepdims=True)
        return self.normalize(x, mean, variance)


class Weightless(Layer):
    """A layer with nothing to learn: no weights, so no gradients to hand the optimizer."""

    weights = trainable_weights = gradients = ()

    def build(self, input_shape, rng, dtype):
        self.dtype = np.dtype(dtype)
        self.output_shape = tuple(input_shape)
        return self.output_shape


class InputLayer(Weightless):
    """Keras's InputLayer(shape): what stands behind `Input(shape)`; a functional model's model.layers[0]. It
    computes nothing: its output is the model's input, (B, *shape). In a Sequential it is an Input, as in Keras."""

    def __init__(self, shape, name=None):
        super().__init__(name=name or utils.unique_name("InputLayer"))
        self.shape = self.output_shape = self.built_input_shape = _shape(shape, "InputLayer shape")
        self.built, self.dtype = True, None

    def forward(self, x, training=False):
        return x

    def backward(self, grad_outputs, need_grad_inputs=True):
        return grad_outputs


class Activation(Weightless):
    """Keras's `Activation("relu")`: an activation as a layer of its own, e.g. after BatchNormalization.

    Forward: outputs = activation(x); backward: the activation's own backward pass.
    """

    def __init__(self, activation, name=None, input_shape=None):
        super().__init__(name, input_shape)
        self.activation = activations.get(activation)

    def forward(self, x, training=False):
        return self.activation.forward(x)

    def backward(self, grad_outputs, need_grad_inputs=True):
        return self.activation.backward(grad_outputs)


class LeakyReLU(Activation):
    """Keras's `layers.LeakyReLU(negative_slope=0.3)`: z where z > 0, else 0.3 z. (The function
    keras.activations.leaky_relu, and Dense(activation="leaky_relu"), take 0.2: Keras's two defaults.)"""

    def __init__(self, negative_slope=0.3, name=None, input_shape=None):
        self.negative_slope = float(negative_slope)
        if not (math.isfinite(self.negative_slope) and self.negative_slope >= 0):
            raise ValueError(f"LeakyReLU negative_slope must be a number >= 0, got {negative_slope!r}")
        super().__init__(activations.LeakyReLU(self.negative_slope), name, input_shape)


class ELU(Activation):
    """Keras's `layers.ELU(alpha=1.0)`: z where z > 0, else alpha (exp(z) - 1)."""

    def __init__(self, alpha=1.0, name=None, input_shape=None):
        self.alpha = float(alpha)
        super().__init__(activations.ELU(self.alpha), name, input_shape)


class ReLU(Activation):
    """Keras's `layers.ReLU()`: max(z, 0) as a layer (negative_slope > 0 makes it a leaky ReLU)."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, name=None, input_shape=None):
        if max_value is not None or threshold:
            raise utils.NotSupported("ReLU in numpy_impl takes negative_slope only (no max_value or threshold)")
        self.max_value, self.threshold, self.negative_slope = None, 0.0, float(negative_slope)
        super().__init__(activations.LeakyReLU(self.negative_slope) if self.negative_slope else "relu",
                         name, input_shape)


class Dropout(Weightless):
    """Inverted dropout, Keras's `Dropout(rate)`: active only in training.

    Training:  keep = [u >= rate] for u ~ U[0, 1), one draw per entry (B, ...)
               outputs = x * keep * (1 / (1 - rate))   the kept entries scaled up, so the
                                                       expected output equals x
    Backward:  dL/dx = dL/doutputs * keep * (1 / (1 - rate))   the same mask, the same scale
    evaluate / predict: the identity.
    """

    def __init__(self, rate, seed=None, name=None, input_shape=None):
        super().__init__(name, input_shape)
        rate = float(rate)
        if not (0.0 <= rate < 1.0) or math.isnan(rate):
            raise ValueError(f"Dropout rate must be in [0, 1), got {rate}")
        self.rate = rate
        self.seed = seed
        self.mask = None

    def build(self, input_shape, rng, dtype):
        # Its own generator: from its seed, or drawn from the model's so the run's seed fixes it.
        self.rng = np.random.default_rng(self.seed if self.seed is not None else rng.integers(2 ** 63))
        self.scale = 1.0 / (1.0 - self.rate)                   # Keras multiplies by the reciprocal
        return super().build(input_shape, rng, dtype)

    def draw_mask(self, shape):
        """The kept entries: u >= rate for u ~ U[0, 1). (A test hands in Keras's mask here.)"""
        u = self.rng.random(shape, dtype=self.dtype, out=self._buffer("u", shape))  # float32 draws: half the work
        return u >= self.rate

    def forward(self, x, training=False):
        if not training or self.rate == 0:
            self.mask = None
            return x
        self.mask = self.draw_mask(x.shape)                                    # (B, ...), True where kept
        # keep * (1 / (1 - rate)) once per step, for forward and backward alike. For finite x,
        # x * factor is Keras's where(keep, x * scale, 0) bit for bit, and one pass instead of three.
        self.factor = np.multiply(self.mask, self.scale, out=self._buffer("factor", x.shape))
        return np.multiply(x, self.factor, out=self._buffer("outputs", x.shape))

    def backward(self, grad_outputs, need_grad_inputs=True):
        if self.mask is None:
            return grad_outputs
        return np.multiply(grad_outputs, self.factor, out=self._buffer("grad_inputs", grad_outputs.shape))


class Flatten(Weightless):
    """Keras's `Flatten()`: (B, d1, d2, ...) -> (B, d1 * d2 * ...), e.g. (B, 28, 28) -> (B, 784)."""

    def compute_output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def build(self, input_shape, rng, dtype):
        self.dtype = np.dtype(dtype)
        self.input_shape = tuple(input_shape)
        self.output_shape = (math.prod(self.input_shape),)
        return self.output_shape

    def forward(self, x, training=False):
        return x.reshape(len(x), -1)

    def backward(self, grad_outputs, need_grad_inputs=True):
        return grad_outputs.reshape((len(grad_outputs),) + self.input_shape)


class Softmax(Weightless):
    """Keras's `Softmax()` layer: softmax over the last axis, e.g. on a model that ends in logits.

    Forward:  p = softmax(z)                       (B, K)
    Backward: dL/dz = p * (dL/dp - sum_k dL/dp_k p_k)   the softmax's Jacobian-vector product
    """

    def forward(self, x, training=False):
        self.activation = activations.Softmax()
        return self.activation.forward(x)

    def backward(self, grad_outputs, need_grad_inputs=True):
        return self.activation.backward(grad_outputs)


class Merge(Weightless):
    """What Add and Concatenate share: a layer that reads a list of tensors, inside a graph
    (`Add()([x, y])`). Its backward pass returns one gradient per input, in order."""

    def build(self, input_shapes, rng, dtype):
        self.dtype = np.dtype(dtype)
        self.input_shapes = [tuple(shape) for shape in input_shapes]
        self.output_shape = self.compute_output_shape(self.input_shapes)
        return self.output_shape

    def __call__(self, inputs, training=False):
        from . import functional
        if functional.is_symbolic(inputs):
            return functional.call_symbolic(self, inputs)
        arrays = [np.asarray(x) for x in inputs]
        self.build_once([a.shape[1:] for a in arrays], utils.generator(), "float32")
        return np.array(self.forward([a.astype(self.dtype, copy=False) for a in arrays], training))


class Add(Merge):
    """Keras's `layers.Add()`: the sum of its inputs, all of one shape. out = x_1 + x_2 + ...
    Backward: each input's gradient is dL/dout itself (d out / d x_i = 1): the gradient passes to every
    input unchanged, as a copy each, so no layer below can change another's in place."""

    def compute_output_shape(self, input_shapes):
        if len(input_shapes) < 2 or any(tuple(s) != tuple(input_shapes[0]) for s in input_shapes):
            raise ValueError(f"Add takes two or more inputs of one shape, got shapes {list(input_shapes)}")
        return tuple(input_shapes[0])

    def forward(self, inputs, training=False):
        total = inputs[0].copy()
        for x in inputs[1:]:
            total += x
        return total

    def backward(self, grad_outputs, need_grad_inputs=True):
        return [grad_outputs] + [grad_outputs.copy() for _ in self.input_shapes[1:]]


class Concatenate(Merge):
    """Keras's `layers.Concatenate()`: its inputs side by side along the last axis, (B, a) and (B, b) ->
    (B, a + b). Backward: dL/dout cut back into the same pieces, each input its own columns."""

    def __init__(self, axis=-1, name=None, input_shape=None):
        if axis != -1:
            raise utils.NotSupported("Concatenate in numpy_impl joins along the last axis only (axis=-1)")
        super().__init__(name, input_shape)
        self.axis = axis

    def compute_output_shape(self, input_shapes):
        if len(input_shapes) < 2 or any(len(s) != 1 for s in input_shapes):
            raise ValueError(f"Concatenate takes two or more inputs of shape (features,), got {list(input_shapes)}")
        return (sum(s[0] for s in input_shapes),)

    def forward(self, inputs, training=False):
        return np.concatenate(inputs, axis=-1)

    def backward(self, grad_outputs, need_grad_inputs=True):
        edges = np.cumsum([shape[0] for shape in self.input_shapes])[:-1]
        return [piece.copy() for piece in np.split(grad_outputs, edges, axis=-1)]


KNOWN = ("Activation", "Add", "BatchNormalization", "Concatenate", "Dense", "Dropout", "ELU", "Flatten", "Input",
         "InputLayer", "LayerNormalization", "LeakyReLU", "ReLU", "Softmax")


def __getattr__(name):
    """`layers.Conv2D` and the other Keras layers numpy_impl leaves out: one line saying so."""
    if name.startswith("_"):
        raise AttributeError(name)
    raise utils.missing("layers", name, KNOWN)

"""The Dense layer: z = x @ kernel + bias, then an activation; and its way back."""
import numpy as np

from . import activations, initializers


class Input:
    """Marks the input shape, as `keras.Input(shape=(784,))` does. Holds no weights."""

    def __init__(self, shape):
        if len(shape) != 1 or int(shape[0]) <= 0:
            raise ValueError(f"Input shape must be (features,) with features > 0, got {shape}")
        self.shape = (int(shape[0]),)


class Dense:
    """A fully connected layer, Keras's `Dense(units, activation)`.

    Forward:  z = x @ kernel + bias      (B, in) @ (in, out) + (out,) -> (B, out)
              outputs = activation(z)
    Backward: given dL/dz (B, out),
              dL/dkernel = x.T @ dL/dz   (in, B) @ (B, out) -> (in, out)
              dL/dbias   = sum_B dL/dz   (out,)
              dL/dx      = dL/dz @ kernel.T   (B, out) @ (out, in) -> (B, in)
    """

    def __init__(self, units, activation=None):
        if int(units) != units or units <= 0:
            raise ValueError(f"Dense units must be a positive whole number, got {units!r}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.kernel = self.bias = None

    def build(self, input_dim, rng, dtype):
        """Create the weights: Glorot-uniform kernel, zero bias (Keras's defaults)."""
        self.input_dim = int(input_dim)
        self.dtype = np.dtype(dtype)
        self.kernel = initializers.glorot_uniform(self.input_dim, self.units, rng, self.dtype)
        self.bias = initializers.zeros((self.units,), self.dtype)
        self.grad_kernel = np.zeros_like(self.kernel)
        self.grad_bias = np.zeros_like(self.bias)
        # Work arrays reused from step to step: a fresh (B, units) array per
        # step costs an allocation and page faults at large batch sizes.
        self._buffers = {}

    @property
    def weights(self):
        return [self.kernel, self.bias]

    @property
    def gradients(self):
        return [self.grad_kernel, self.grad_bias]

    # ---- forward ------------------------------------------------------------

    def affine(self, x):
        """z = x @ kernel + bias; remembers x for the backward pass."""
        self.inputs = x                                                  # (B, in)
        z = np.matmul(x, self.kernel, out=self._buffer("z", (x.shape[0], self.units)))
        z += self.bias                                                   # (B, out)
        return z

    def forward(self, x):
        return self.activation.forward(self.affine(x))

    # ---- backward -----------------------------------------------------------

    def backward_affine(self, grad_z, need_grad_inputs=True):
        """From dL/dz to dL/dkernel, dL/dbias (stored) and dL/dx (returned).

        The first layer's dL/dx is of no use (x is data, not a weight), so the
        model skips it: that saves a third of that layer's backward work.
        """
        np.matmul(self.inputs.T, grad_z, out=self.grad_kernel)   # (in, B) @ (B, out)
        np.sum(grad_z, axis=0, out=self.grad_bias)               # (out,)
        if not need_grad_inputs:
            return None
        grad_inputs = self._buffer("grad_inputs", (grad_z.shape[0], self.input_dim))
        return np.matmul(grad_z, self.kernel.T, out=grad_inputs)  # (B, out) @ (out, in)

    def backward(self, grad_outputs, need_grad_inputs=True):
        """Back through the activation, then through the affine map."""
        return self.backward_affine(self.activation.backward(grad_outputs), need_grad_inputs)

    # -------------------------------------------------------------------------

    def _buffer(self, name, shape):
        buffer = self._buffers.get(name)
        if buffer is None or buffer.shape != shape:
            buffer = self._buffers[name] = np.empty(shape, self.dtype)
        return buffer

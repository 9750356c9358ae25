"""d loss / d weight by each Keras backend's own autodiff, side by side.

numpy_impl writes the backward pass by hand (Dense.backward, ReLU.backward,
the softmax-cross-entropy gradient (p - y) / B). Here the engine under Keras
derives it from the forward pass. Keras 3 runs on three engines and each has
its own way to ask for a gradient:

  TensorFlow  records the forward pass on a GradientTape, then tape.gradient(loss, weights)
  JAX         differentiates a pure function of the weights: jax.value_and_grad(loss_of)(weights)
  PyTorch     builds the graph while computing, then loss.backward() fills each weight's .grad

All three return the same thing: the loss `fit` minimises (the batch mean of
the cross-entropy plus any L2 penalty) and one gradient per array of
get_weights(), in that order (kernel_0 (784, 128), bias_0 (128,), ...).
"""
import keras
import numpy as np


def loss_and_gradients(model, x, y):
    """(loss, [dL/dW for each array of get_weights()]) on the backend Keras runs on."""
    return BY_BACKEND[keras.backend.backend()](model, x, y)


def tensorflow_loss_and_gradients(model, x, y):
    """TensorFlow: the tape watches every trainable variable the forward pass reads."""
    import tensorflow as tf

    x = tf.convert_to_tensor(x, dtype=model.twin_dtype)
    y = tf.convert_to_tensor(y)
    with tf.GradientTape() as tape:
        outputs = model(x, training=True)
        # The compiled loss plus the layers' L2 penalties: what fit minimises.
        loss = model.compute_loss(x=x, y=y, y_pred=outputs, training=False)
    gradients = tape.gradient(loss, model.trainable_variables)
    return float(loss), [g.numpy() for g in gradients]


def jax_loss_and_gradients(model, x, y):
    """JAX: gradients of a *pure* function. Keras's stateless call takes the weights as
    arguments (nothing is read from the model's variables), so jax.value_and_grad can
    differentiate the loss with respect to them. Keras's own JAX trainer does exactly this
    (compute_loss_and_updates: the forward pass, the L2 penalties it collected, the loss)."""
    import jax

    x = keras.ops.convert_to_tensor(x, dtype=model.twin_dtype)
    y = keras.ops.convert_to_tensor(y)
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]    # e.g. Dropout's seed state
    metrics = [v.value for v in model.metrics_variables]
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    optimizer = [v.value for v in model.optimizer.variables]            # read only for loss scaling

    def loss_of(weights):
        loss, (_, _, non_trainable_after, _) = model.compute_loss_and_updates(
            weights, non_trainable, metrics, x, y, None, training=True, optimizer_variables=optimizer)
        return loss, non_trainable_after

    (loss, non_trainable_after), gradients = jax.value_and_grad(loss_of, has_aux=True)(trainable)
    for variable, value in zip(model.non_trainable_variables, non_trainable_after):
        variable.assign(value)            # a training call advances Dropout's seed, as on the other engines
    return float(loss), [np.asarray(g) for g in gradients]


def torch_loss_and_gradients(model, x, y):
    """PyTorch: every tensor computed from a weight remembers how; loss.backward() walks
    that graph back and leaves dL/dW in each weight's .grad (added to what is there,
    so the old gradients are cleared first, as Keras's torch trainer does)."""
    x = keras.ops.convert_to_tensor(x, dtype=model.twin_dtype)
    y = keras.ops.convert_to_tensor(y)
    model.zero_grad()
    outputs = model(x, training=True)
    loss = model.compute_loss(x=x, y=y, y_pred=outputs, training=False)
    loss.backward()
    gradients = [v.value.grad for v in model.trainable_variables]
    return float(loss.detach()), [g.detach().cpu().numpy() for g in gradients]


BY_BACKEND = {"tensorflow": tensorflow_loss_and_gradients,
              "jax": jax_loss_and_gradients,
              "torch": torch_loss_and_gradients}

"""Gradient checks: backprop against finite differences, and NumPy against TensorFlow."""
import numpy as np

import numpy_impl
from numpy_impl import loss_and_gradients


def relative_error(a, b, floor=1e-8):
    """|a - b| / max(|a|, |b|), elementwise; `floor` keeps 0/0 away where both vanish."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), floor)


def numerical_gradient(loss_fn, array, index, eps=1e-4):
    """Central difference (L(w + eps) - L(w - eps)) / (2 eps) for one entry, in place.

    In float64 the truncation error grows like eps**2 and the rounding error
    like 1e-16 / eps; eps = 1e-4 keeps both below 1e-7 of the gradient here.
    """
    original = array[index]
    array[index] = original + eps
    plus = loss_fn()
    array[index] = original - eps
    minus = loss_fn()
    array[index] = original
    return (plus - minus) / (2 * eps)


def finite_difference_check(model, x, y, entries_per_tensor=20, eps=1e-4, seed=0):
    """Largest relative error of backprop against central differences, per weight tensor.

    `model` is a float64 NumPy-twin model (its `weights` are perturbed in place
    and restored); up to `entries_per_tensor` entries of each tensor are sampled.
    """
    rng = np.random.default_rng(seed)
    _, analytic = loss_and_gradients(model, x, y)

    def loss_fn():
        return loss_and_gradients(model, x, y)[0]

    errors = []
    for weights, gradient in zip(model.weights, analytic):
        flat = rng.choice(weights.size, size=min(entries_per_tensor, weights.size), replace=False)
        worst = 0.0
        for index in (np.unravel_index(i, weights.shape) for i in flat):
            numeric = numerical_gradient(loss_fn, weights, index, eps)
            worst = max(worst, float(relative_error(gradient[index], numeric)))
        errors.append(worst)
    return errors


def gradient_agreement(grads_a, grads_b):
    """Per tensor: largest |a - b|, relative to the largest entry of b."""
    return [float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)) for a, b in zip(grads_a, grads_b)]


def tensor_names(num_layers):
    return [f"{kind}_{index}" for index in range(num_layers) for kind in ("kernel", "bias")]


def run_gradient_checks(config, x, y, entries_per_tensor=20, with_keras=True):
    """Finite differences on the NumPy twin (float64), and the twins' gradients side by side.

    x, y : a small batch, float64. Returns a dict ready for metrics.json.
    """
    kwargs = dict(input_dim=x.shape[1], hidden=tuple(config.hidden), num_classes=y.shape[1],
                  seed=config.seed)
    reference = numpy_impl.build_model(dtype="float64", **kwargs)
    per_tensor = finite_difference_check(reference, x, y, entries_per_tensor, seed=config.seed)
    result = {
        "batch_size": len(x),
        "entries_per_tensor": entries_per_tensor,
        "tensor_names": tensor_names(len(reference.layers)),
        "finite_difference_per_tensor": per_tensor,
        "finite_difference_max_rel_error": max(per_tensor),
    }
    if not with_keras:
        return result
    import keras_impl
    for dtype in ("float32", "float64"):
        numpy_model = numpy_impl.build_model(dtype=dtype, **kwargs)
        keras_model = keras_impl.build_model(dtype=dtype, **kwargs)
        numpy_model.set_weights(reference.get_weights())
        keras_model.set_weights(reference.get_weights())
        _, grads_np = loss_and_gradients(numpy_model, x.astype(dtype), y.astype(dtype))
        _, grads_tf = keras_impl.loss_and_gradients(keras_model, x.astype(dtype), y.astype(dtype))
        errors = gradient_agreement(grads_np, grads_tf)
        suffix = "" if dtype == "float32" else "_float64"
        result[f"numpy_vs_tensorflow_per_tensor{suffix}"] = errors
        result[f"numpy_vs_tensorflow_max_rel_error{suffix}"] = max(errors)
    return result

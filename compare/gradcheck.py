"""Gradient checks: backprop against finite differences, and NumPy against Keras's backend autodiff."""
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


def entry_error(analytic, loss_fn, array, index, eps=1e-4, bound=1e-6):
    """Relative error of one backprop entry against a central difference.

    A central difference is wrong where w +- eps moves some sample's ReLU input
    across 0 (a kink): measured here on a bias whose unit sat within 1e-4 of 0,
    eps 1e-4 gave 4e-2 while eps 1e-6 gave 1e-8. So an entry off by more than
    `bound` is measured again with eps / 100, which steps off the kink; a wrong
    gradient is wrong at both.
    """
    error = float(relative_error(analytic, numerical_gradient(loss_fn, array, index, eps)))
    if error > bound:
        error = min(error, float(relative_error(analytic, numerical_gradient(loss_fn, array, index, eps / 100))))
    return error


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
    for weights, gradient in zip(model.trainable_weights, analytic):
        flat = rng.choice(weights.size, size=min(entries_per_tensor, weights.size), replace=False)
        worst = 0.0
        for index in (np.unravel_index(i, weights.shape) for i in flat):
            worst = max(worst, entry_error(gradient[index], loss_fn, weights, index, eps))
        errors.append(worst)
    return errors


def gradient_agreement(grads_a, grads_b):
    """Per tensor: largest |a - b|, relative to the largest entry of b."""
    return [float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30)) for a, b in zip(grads_a, grads_b)]


def tensor_names(model):
    """kernel_0, bias_0, kernel_1, ... (gamma_0, beta_0 for a normalization layer): one per trainable
    weight of a numpy_impl model, numbered per layer type."""
    names, seen = [], {}
    for layer in model.layers:
        kinds = (("kernel", "bias")[:len(layer.trainable_weights)] if isinstance(layer, numpy_impl.Dense)
                 else ("gamma", "beta")[:len(layer.trainable_weights)])
        if kinds:
            index = seen[type(layer)] = seen.get(type(layer), -1) + 1
            names += [f"{kind}_{index}" for kind in kinds]
    return names


def fix_dropout_masks(model, batch_size, seed=0):
    """Hold every Dropout layer's mask fixed (one draw per layer), so that the loss is a
    deterministic function of the weights and finite differences mean something."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, numpy_impl.Dropout) and layer.rate:
            mask = rng.random((batch_size,) + layer.output_shape) >= layer.rate
            layer.draw_mask = lambda shape, mask=mask: mask


def run_gradient_checks(config, x, y, entries_per_tensor=20, with_keras=True):
    """Finite differences on the NumPy twin (float64), and the twins' gradients side by side.

    x, y : a small batch, float64, shaped as the run's twins take it. Returns a dict for metrics.json.
    With dropout, finite differences hold the masks fixed; the twins cannot share masks, so
    their gradients are compared with dropout off (Dropout alone is proven equal in the tests).
    """
    from .experiment import model_options
    options = model_options(config, int(np.prod(x.shape[1:])), y.shape[1] if y.ndim == 2 else 10)
    options["dtype"] = "float64"
    reference = numpy_impl.build_model(**options)
    fix_dropout_masks(reference, len(x), config.seed)
    per_tensor = finite_difference_check(reference, x, y, entries_per_tensor, seed=config.seed)
    result = {
        "batch_size": len(x),
        "entries_per_tensor": entries_per_tensor,
        "tensor_names": tensor_names(reference),
        "finite_difference_per_tensor": per_tensor,
        "finite_difference_max_rel_error": max(per_tensor),
        "dropout_masks_fixed": config.has_dropout,
    }
    if not with_keras:
        return result
    import keras
    import keras_impl
    options["dropout"] = 0.0
    for dtype in ("float32", "float64"):
        options["dtype"] = dtype
        numpy_model = numpy_impl.build_model(**options)
        keras_model = keras_impl.build_model(**options)
        numpy_model.set_weights(reference.get_weights())
        keras_model.set_weights(reference.get_weights())
        labels = y if y.ndim == 1 else y.astype(dtype)
        _, grads_np = loss_and_gradients(numpy_model, x.astype(dtype), labels)
        _, grads_keras = keras_impl.loss_and_gradients(keras_model, x.astype(dtype), labels)
        errors = gradient_agreement(grads_np, grads_keras)
        suffix = "" if dtype == "float32" else "_float64"
        result[f"numpy_vs_keras_per_tensor{suffix}"] = errors
        result[f"numpy_vs_keras_max_rel_error{suffix}"] = max(errors)
    result["numpy_vs_keras_without_dropout"] = config.has_dropout
    result["keras_backend"] = keras.backend.backend()
    return result

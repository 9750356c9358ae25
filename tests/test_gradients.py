"""Every backward pass against central finite differences, in float64."""
import numpy as np
import pytest

import numpy_impl
from compare.gradcheck import finite_difference_check, numerical_gradient, relative_error
from numpy_impl.activations import ReLU, Softmax
from numpy_impl.layers import Dense
from numpy_impl.losses import categorical_crossentropy_from_logits

from .conftest import random_batch

TOLERANCE = 1e-6


def check_all_entries(loss_fn, array, analytic):
    """Largest relative error over every entry of `array`."""
    worst = 0.0
    for index in np.ndindex(array.shape):
        numeric = numerical_gradient(loss_fn, array, index)
        worst = max(worst, float(relative_error(analytic[index], numeric)))
    return worst


def test_softmax_cross_entropy_gradient(rng):
    logits = rng.normal(size=(5, 4)) * 3
    y = numpy_impl.one_hot(rng.integers(0, 4, 5), 4, "float64")
    _, _, grad = categorical_crossentropy_from_logits(logits, y)
    error = check_all_entries(lambda: categorical_crossentropy_from_logits(logits, y)[0], logits, grad)
    assert error < TOLERANCE


def test_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0, -1000.0]])
    loss, probabilities, grad = categorical_crossentropy_from_logits(logits, np.array([[0.0, 1.0, 0.0]]))
    assert loss == pytest.approx(1000.0)          # logsumexp = 1000, z_true = 0
    assert np.isfinite(grad).all() and np.isfinite(probabilities).all()


def test_softmax_is_right_for_every_row_at_every_scale():
    """Rows whose largest logit runs from 1 to 1000 in one batch: each row must be shifted by its
    own max (the batch's max underflows the small rows to 0 / 0; no shift overflows the large ones).
    The reference is each row worked out alone in Python's floats, shifted by that row's max."""
    import math
    rng = np.random.default_rng(9)
    logits = rng.normal(size=(6, 5)) * np.geomspace(1, 1000, 6)[:, None]
    with np.errstate(over="raise", invalid="raise", divide="raise"):    # an overflow or 0 / 0 fails here
        probabilities = numpy_impl.activations.softmax(logits.copy())
    for row, got in zip(logits, probabilities):
        exps = [math.exp(z - max(row)) for z in row]
        expected = [e / math.fsum(exps) for e in exps]
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("sparse", [False, True], ids=["one-hot", "integer labels"])
def test_the_fused_losses_are_right_for_every_row_at_every_scale(sparse):
    """The fused softmax + cross-entropy, with rows centred from -800 to 800 in one batch: each row
    shifted by its own max, or the batch's max underflows the low rows (log 0) and a shift the
    wrong way overflows the high ones. Reference: each row alone in Python's floats."""
    import math
    rng = np.random.default_rng(11)
    logits = rng.normal(size=(6, 5)) * 3 + np.array([0, 800, -800, 400, -400, 20])[:, None]
    labels = rng.integers(0, 5, 6)
    fused = numpy_impl.losses.sparse_categorical_crossentropy_from_logits if sparse \
        else categorical_crossentropy_from_logits
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss, probabilities, grad = fused(logits.copy(), labels if sparse else np.eye(5)[labels])
    row_losses = []
    for row, label, got in zip(logits, labels, probabilities):
        top = max(row)
        exps = [math.exp(z - top) for z in row]
        row_losses.append(math.log(math.fsum(exps)) + top - row[label])
        np.testing.assert_allclose(got, [e / math.fsum(exps) for e in exps], rtol=1e-13, atol=1e-300)
    assert loss == pytest.approx(math.fsum(row_losses) / 6, rel=1e-13)
    np.testing.assert_allclose(grad, (probabilities - np.eye(5)[labels]) / 6, rtol=1e-13, atol=1e-300)


@pytest.mark.parametrize("activation", [ReLU, Softmax])
def test_activation_backward(rng, activation):
    z = rng.normal(size=(4, 5))
    weights = rng.normal(size=(4, 5))                # L = sum(weights * act(z))

    def loss_fn():
        return float(np.sum(weights * activation().forward(z.copy())))

    act = activation()
    act.forward(z.copy())
    analytic = act.backward(weights.copy())
    assert check_all_entries(loss_fn, z, analytic) < TOLERANCE


def test_dense_backward(rng):
    layer = Dense(3, activation="relu")
    layer.build((4,), rng, "float64")
    x = rng.normal(size=(6, 4))
    upstream = rng.normal(size=(6, 3))               # L = sum(upstream * layer(x))

    def loss_fn():
        return float(np.sum(upstream * layer.forward(x)))

    layer.forward(x)
    grad_x = layer.backward(upstream.copy()).copy()
    assert check_all_entries(loss_fn, layer.kernel, layer.grad_kernel.copy()) < TOLERANCE
    assert check_all_entries(loss_fn, layer.bias, layer.grad_bias.copy()) < TOLERANCE
    assert check_all_entries(loss_fn, x, grad_x) < TOLERANCE


@pytest.mark.parametrize("hidden", [(), (7,), (8, 5)])
def test_whole_model_every_entry(rng, hidden):
    model = numpy_impl.build_model(input_dim=6, hidden=hidden, num_classes=3, dtype="float64", seed=3)
    x, y = random_batch(rng)
    _, grads = numpy_impl.loss_and_gradients(model, x, y)
    for weights, grad in zip(model.weights, grads):
        error = check_all_entries(lambda: numpy_impl.loss_and_gradients(model, x, y)[0], weights, grad)
        assert error < TOLERANCE


def test_sampled_check_on_mnist_sized_model(rng):
    model = numpy_impl.build_model(dtype="float64", seed=0)
    x, y = random_batch(rng, n=8, features=784, classes=10)
    errors = finite_difference_check(model, x, y, entries_per_tensor=10)
    assert len(errors) == 6
    assert max(errors) < TOLERANCE


def test_check_catches_a_wrong_gradient(rng, monkeypatch):
    """The check itself can fail: break the bias gradient and it must notice."""
    model = numpy_impl.build_model(input_dim=6, hidden=(5,), num_classes=3, dtype="float64")
    x, y = random_batch(rng)
    original = Dense.backward_affine

    def broken(self, grad_z, need_grad_inputs=True):
        result = original(self, grad_z, need_grad_inputs)
        self.grad_bias *= 1.01
        return result

    monkeypatch.setattr(Dense, "backward_affine", broken)
    errors = finite_difference_check(model, x, y)
    # both layers' bias gradients are 1% off; the kernels' gradients (from dL/dz, untouched) are not
    assert errors[1] > 1e-3 and errors[3] > 1e-3
    assert errors[0] < TOLERANCE and errors[2] < TOLERANCE


def test_a_central_difference_across_a_relu_kink_is_measured_again_with_a_smaller_eps():
    """A bias whose unit's input sits 5e-5 above 0 for one sample: w - 1e-4 switches that unit off,
    so the 1e-4 central difference is wrong there; 1e-6 steps off the kink. A wrong gradient stays wrong."""
    from compare.gradcheck import entry_error, numerical_gradient, relative_error

    model = numpy_impl.build_model(input_dim=3, hidden=(2,), num_classes=2, dtype="float64")
    kernel_0, bias_0, kernel_1, bias_1 = model.get_weights()
    kernel_0[:] = [[1.0, -0.5], [0.5, 0.25], [-0.25, 1.0]]
    kernel_1[:] = [[2.0, -1.0], [-1.5, 0.5]]
    x = np.array([[0.2, 0.1, 0.3], [0.4, 0.2, 0.1]])
    bias_0[:] = [5e-5 - (x[0] @ kernel_0[:, 0]), 0.1]          # unit 0's input for sample 0 is 5e-5
    model.set_weights([kernel_0, bias_0, kernel_1, bias_1])
    y = numpy_impl.one_hot(np.array([0, 1]), 2, "float64")
    _, grads = numpy_impl.loss_and_gradients(model, x, y)

    def loss_fn():
        return numpy_impl.loss_and_gradients(model, x, y)[0]

    bias = model.weights[1]
    naive = float(relative_error(grads[1][0], numerical_gradient(loss_fn, bias, (0,), 1e-4)))
    assert naive > 1e-3                                            # the kink fools eps = 1e-4
    assert entry_error(grads[1][0], loss_fn, bias, (0,)) < 1e-6      # eps / 100 does not
    assert entry_error(grads[1][0] * 1.5, loss_fn, bias, (0,)) > 0.1  # a wrong gradient stays wrong


def test_dropout_at_rate_zero_is_the_identity_both_ways(rng):
    """Dropout(0.0) in training keeps every unit: outputs are the inputs, gradients pass unchanged."""
    layer = numpy_impl.Dropout(0.0)
    x, upstream = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    layer.build_once((6,), np.random.default_rng(0), x.dtype)
    np.testing.assert_array_equal(layer.forward(x, training=True), x)
    np.testing.assert_array_equal(layer.backward(upstream), upstream)


def test_a_dropout_seed_fixes_its_masks_and_unseeded_layers_each_get_their_own():
    """Keras's Dropout(rate, seed): the seed alone fixes the masks, whatever the model's generator.
    Without one, each layer's generator is drawn from the model's, so no two layers share masks."""
    def mask(layer, rng):
        layer.build_once((64,), rng, np.float64)
        return layer.draw_mask((1, 64)).copy()
    seeded = [mask(numpy_impl.Dropout(0.5, seed=7), np.random.default_rng(model_seed)) for model_seed in (1, 2)]
    np.testing.assert_array_equal(seeded[0], seeded[1])
    shared = np.random.default_rng(3)
    masks = {mask(numpy_impl.Dropout(0.5), shared).tobytes() for _ in range(300)}
    assert len(masks) == 300


LAYER_KINDS = {"Dense": lambda **kw: numpy_impl.Dense(3, **kw), "Dropout": lambda **kw: numpy_impl.Dropout(0.5, **kw),
               "Activation": lambda **kw: numpy_impl.layers.Activation("relu", **kw),
               "BatchNormalization": lambda **kw: numpy_impl.BatchNormalization(**kw),
               "LayerNormalization": lambda **kw: numpy_impl.LayerNormalization(**kw),
               "Flatten": lambda **kw: numpy_impl.Flatten(**kw), "Softmax": lambda **kw: numpy_impl.layers.Softmax(**kw)}


@pytest.mark.parametrize("kind", LAYER_KINDS)
def test_every_layer_keeps_its_name_and_input_shape_and_computes_in_its_dtype(kind, rng):
    """Keras's layer(name=..., input_shape=...) as a model's first layer; a float32 model stays float32,
    in training (dropout on, batch statistics) as in evaluation."""
    model = numpy_impl.Sequential([LAYER_KINDS[kind](name="first", input_shape=(4,)), numpy_impl.Dense(2)])
    assert model.built and model.layers[0].name == "first" and model.layers[0].built_input_shape == (4,)
    layer = model.layers[0]
    x = rng.normal(size=(5, 4)).astype(np.float32)
    for training in (True, False):
        assert layer.forward(x.copy(), training=training).dtype == np.float32, (kind, training)


@pytest.mark.parametrize("l1, l2, kind", [(0.0, 0.0, None), (0.01, 0.0, "L1"), (0.0, 0.01, "L2"), (0.01, 0.02, "L1L2")])
def test_build_model_picks_the_regularizer_keras_would_be_given(l1, l2, kind):
    """build_model(l1=, l2=): each Dense's kernel_regularizer is L1, L2 or L1L2, as the Keras twin is built."""
    model = numpy_impl.build_model(input_dim=4, hidden=(3,), num_classes=2, l1=l1, l2=l2)
    regularizer = model.layers[0].kernel_regularizer
    assert (regularizer is None) if kind is None else (type(regularizer).__name__ == kind)
    assert numpy_impl.regularizers.get() is None


def test_a_draw_equal_to_the_rate_is_kept_as_tensorflow_keeps_it():
    """keep = u >= rate (TensorFlow's dropout): a draw of exactly `rate` keeps its unit."""
    class Exactly:                                   # a generator whose every draw is the given value
        def __init__(self, value):
            self.value = value

        def random(self, shape, dtype, out):
            out[...] = self.value
            return out
    layer = numpy_impl.Dropout(0.25)
    layer.build_once((4,), np.random.default_rng(0), np.float32)
    layer.rng = Exactly(0.25)
    assert layer.draw_mask((2, 4)).all()
    layer.rng = Exactly(np.nextafter(np.float32(0.25), np.float32(0)))
    assert not layer.draw_mask((2, 4)).any()


def test_the_softmax_and_flatten_layers_pass_the_gradient_back(rng):
    """Softmax(): dL/dz = p * (g - sum_k g_k p_k), checked against central differences of
    L(z) = sum(g * softmax(z)); Flatten(): dL/dx is dL/doutputs put back in x's shape. Neither runs
    in fit: compile wants a Dense last layer (Softmax() serves predictions, as in the tutorials'
    probability model), and no layer before a first-layer Flatten needs its dL/dx. So only here."""
    z, g = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    softmax = numpy_impl.layers.Softmax()
    softmax.build((5,), rng, "float64")

    def loss_fn():
        return float(np.sum(g * softmax.forward(z.copy(), training=True)))

    softmax.forward(z.copy(), training=True)
    assert check_all_entries(loss_fn, z, softmax.backward(g.copy())) < TOLERANCE

    flatten = numpy_impl.Flatten()
    flatten.build((2, 3), rng, "float64")
    x = rng.normal(size=(4, 2, 3))
    assert flatten.forward(x).shape == (4, 6)
    grad = rng.normal(size=(4, 6))
    np.testing.assert_array_equal(flatten.backward(grad), grad.reshape(4, 2, 3))


def test_gradient_agreement_is_the_largest_difference_over_the_largest_entry():
    """gradient_agreement, the "NumPy vs Keras" figure of every run, computed on numbers known by hand."""
    from compare.gradcheck import gradient_agreement

    a = [np.array([[0.5, -0.25], [0.125, 0.0]]), np.array([3.0, 4.0])]
    b = [np.array([[0.5, -0.25], [0.0, 0.0]]), np.array([3.0, 2.0])]
    # max |a - b| = 0.125 over max |b| = 0.5 (below 1: a floor of 1 would give 0.125); then 2 / 3
    assert gradient_agreement(a, b) == pytest.approx([0.25, 2.0 / 3.0], rel=1e-15)
    assert gradient_agreement([np.zeros(3)], [np.zeros(3)]) == [0.0]        # 0 / 0 kept at 0 by the floor


def test_tensor_names_number_each_kind_of_layer_on_its_own():
    """The names metrics.json and the gradient-check figure give each trainable tensor, in the model's
    weight order: Dense layers kernel_0, bias_0, kernel_1, ...; normalization layers gamma_0, beta_0, ...,
    numbered apart."""
    from compare.gradcheck import tensor_names

    model = numpy_impl.build_model(input_dim=6, hidden=(5, 4), num_classes=3, batchnorm=True)
    # (before a BatchNormalization a Dense has no bias, as in Keras's twin: beta does its work)
    assert tensor_names(model) == ["kernel_0", "gamma_0", "beta_0", "kernel_1", "gamma_1", "beta_1",
                                   "kernel_2", "bias_2"]
    assert len(tensor_names(model)) == len(model.trainable_weights)
    assert tensor_names(numpy_impl.build_model(input_dim=6, hidden=(5,), num_classes=3)) == \
        ["kernel_0", "bias_0", "kernel_1", "bias_1"]


def test_the_finite_difference_step_is_the_one_asked_for(rng):
    """A central difference is off by about eps**2 (the loss's third derivative): a step 3,000 times
    the default's shows it, at both of its tries (eps, then eps / 100), where the default's does not."""
    model = numpy_impl.build_model(input_dim=6, hidden=(5,), num_classes=3, dtype="float64")
    x, y = random_batch(rng)
    fine = max(finite_difference_check(model, x, y))
    coarse = max(finite_difference_check(model, x, y, eps=0.3))
    assert fine < 1e-7 and coarse > 1e3 * fine


def test_a_runs_gradient_check_samples_its_entries_from_the_runs_seed(rng):
    """The same run gives the same figures, and they are finite_difference_check's on the run's
    float64 model with the run's seed choosing the entries."""
    from compare.experiment import Config, model_options
    from compare.gradcheck import run_gradient_checks

    x, y = random_batch(rng, n=8, features=784, classes=10)
    config = Config(hidden=(16,), seed=3)
    first = run_gradient_checks(config, x, y, entries_per_tensor=5, with_keras=False)
    assert run_gradient_checks(config, x, y, entries_per_tensor=5, with_keras=False) == first
    options = dict(model_options(config, 784, 10), dtype="float64")
    expected = finite_difference_check(numpy_impl.build_model(**options), x, y, 5, seed=3)
    assert first["finite_difference_per_tensor"] == expected
    assert first["finite_difference_max_rel_error"] == max(expected) < 1e-6

"""fit(sample_weight=..., class_weight=...) and evaluate(sample_weight=...) with Keras's arithmetic: a batch's loss
is sum_i w_i loss_i / B ("sum_over_batch_size": the batch size, not the weights' sum), a class's weight becomes
each of its samples' (1.0 for a class the dict leaves out), the metrics are not weighted, and
validation_split cuts the weights with the samples. Held to Keras's own fit in float64.
(The lockstep on TensorFlow, JAX and PyTorch is tests/test_backends.py's.)"""
import numpy as np
import pytest

import numpy_impl

from .test_callbacks import twins

keras = pytest.importorskip("keras")


@pytest.fixture
def data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 5))
    y = numpy_impl.one_hot((x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int), 3, "float64")
    return x, y, rng.uniform(0, 3, 40)


def both(models, x, y, **options):
    results = []
    for model in models:
        keras.config.set_floatx("float64")
        try:
            history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, **options).history
            evaluated = model.evaluate(x, y, verbose=0, sample_weight=options.get("sample_weight"))
        finally:
            keras.config.set_floatx("float32")
        results.append((history, evaluated, model.get_weights()))
    return results


@pytest.mark.parametrize("kind", ["sample_weight", "class_weight",
                                  *[pytest.param(kind, marks=pytest.mark.slow) for kind in (
                                      "sample_weight, validation_split", "sample_weight, mse",
                                      "class_weight, binary_crossentropy")]])
def test_weighted_fit_and_evaluate_are_keras_s_in_float64(kind, data):
    x, y, w = data
    options = {"class_weight": {0: 0.5, 2: 4.0}} if kind.startswith("class") else {"sample_weight": w}
    if "validation_split" in kind:
        options["validation_split"] = 0.25
    model_options = {"mse": dict(loss="mean_squared_error"),
                     "binary_crossentropy": dict(loss="binary_crossentropy", activation="sigmoid")}
    (mine, mine_eval, mine_w), (theirs, theirs_eval, theirs_w) = both(
        twins(**model_options.get(kind.split(", ")[-1], {})), x, y, **options)
    assert sorted(mine) == sorted(theirs)
    for key in theirs:
        assert np.abs(np.array(mine[key]) - np.array(theirs[key])).max() < 1e-13, key
    assert abs(mine_eval[0] - theirs_eval[0]) < 1e-13 and mine_eval[1] == theirs_eval[1]
    assert max(np.abs(a - b).max() for a, b in zip(mine_w, theirs_w)) < 1e-13


def test_a_weight_multiplies_its_samples_share_of_the_loss_and_of_the_gradient(data):
    """Weights of 2 on every sample: twice the loss and twice every gradient, not the same (a mean over the
    weights' sum would cancel them); weight 0 on a sample: as if it were not in the batch but for B."""
    x, y, _ = data
    model = twins()[0]
    logits = model.forward(x)
    loss, _, grad = model.loss.head(model.layers[-1].activation, logits.copy(), y)
    loss2, _, grad2 = model.loss.head(model.layers[-1].activation, logits.copy(), y, sample_weight=np.full(40, 2.0))
    assert loss2 == pytest.approx(2 * loss) and np.allclose(grad2, 2 * grad)
    zero = np.ones(40)
    zero[0] = 0.0
    _, _, grad0 = model.loss.head(model.layers[-1].activation, logits.copy(), y, sample_weight=zero)
    assert not grad0[0].any() and np.allclose(grad0[1:], grad[1:])


def test_weights_that_do_not_fit_are_one_line(data):
    x, y, w = data
    model = twins()[0]
    with pytest.raises(ValueError, match="You cannot `class_weight` and `sample_weight` at the same time"):
        model.fit(x, y, verbose=0, sample_weight=w, class_weight={0: 2.0})
    with pytest.raises(ValueError, match=r"^sample_weight must be one number per sample, shape \(40,\), got shape \(39,\)$"):
        model.fit(x, y, verbose=0, sample_weight=w[:39])
    with pytest.raises(ValueError, match="sample_weight contains NaN"):
        model.evaluate(x, y, verbose=0, sample_weight=np.full(40, np.nan))
    with pytest.raises(ValueError, match="class_weight must be a dict"):
        model.fit(x, y, verbose=0, class_weight=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"validation_data must be \(x_val, y_val\) or"):
        model.fit(x, y, verbose=0, validation_data=(x,))

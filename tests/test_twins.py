"""The two twins, given the same weights and the same batches, are the same network."""
import numpy as np
import pytest

import keras_impl
import numpy_impl
from compare.gradcheck import gradient_agreement

from .conftest import random_batch
from .sampling import every

# dtype -> (probabilities, loss, gradients relative to the largest entry, weights after training)
BOUNDS = {"float64": (1e-8, 1e-10, 1e-9, 1e-6), "float32": (1e-5, 1e-5, 1e-4, 1e-4)}


def twins(dtype, **kwargs):
    numpy_model = numpy_impl.build_model(dtype=dtype, **kwargs)
    keras_model = keras_impl.build_model(dtype=dtype, **kwargs)
    keras_model.set_weights(numpy_model.get_weights())
    return numpy_model, keras_model


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_same_weights_same_outputs_and_gradients(rng, dtype):
    p_bound, loss_bound, grad_bound, _ = BOUNDS[dtype]
    numpy_model, keras_model = twins(dtype)
    x, y = random_batch(rng, n=64, features=784, classes=10, dtype=dtype)

    np.testing.assert_allclose(numpy_model.predict(x), keras_model.predict(x, verbose=0), rtol=0, atol=p_bound)
    loss_np, grads_np = numpy_impl.loss_and_gradients(numpy_model, x, y)
    loss_tf, grads_tf = keras_impl.loss_and_gradients(keras_model, x, y)
    assert abs(loss_np - loss_tf) < loss_bound
    assert [g.shape for g in grads_np] == [g.shape for g in grads_tf]
    assert max(gradient_agreement(grads_np, grads_tf)) < grad_bound


def test_float64_keras_twin_really_computes_in_float64(rng):
    _, keras_model = twins("float64")
    x, _ = random_batch(rng, n=8, features=784, classes=10)
    assert all(w.dtype == np.float64 for w in keras_model.get_weights())
    assert keras_model.predict(x, verbose=0).dtype == np.float64
    # a float32 round of the input would move the output by ~1e-8, not ~1e-16
    direct = keras_model(x).numpy()
    np.testing.assert_allclose(keras_model.predict(x, verbose=0), direct, rtol=0, atol=1e-14)


@pytest.mark.parametrize("dtype", every(2, ["float64", "float32"]))
@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_one_epoch_in_lockstep(rng, dtype, momentum, nesterov):
    weight_bound = BOUNDS[dtype][3]
    config = dict(input_dim=20, hidden=(16, 12), num_classes=4, learning_rate=0.05,
                  momentum=momentum, nesterov=nesterov, seed=7)
    numpy_model, keras_model = twins(dtype, **config)
    x, y = random_batch(rng, n=203, features=20, classes=4, dtype=dtype)     # 203 = 6 * 32 + 11
    history_np = numpy_model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    history_tf = keras_model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)

    for w_np, w_tf in zip(numpy_model.get_weights(), keras_model.get_weights()):
        assert np.abs(w_np - w_tf).max() < weight_bound
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(history_np.history[key], history_tf.history[key], rtol=0, atol=weight_bound)


def test_validation_history_matches_keras(rng):
    numpy_model, keras_model = twins("float64", input_dim=20, hidden=(8,), num_classes=4)
    x, y = random_batch(rng, n=100, features=20, classes=4)
    x_val, y_val = random_batch(rng, n=30, features=20, classes=4)
    h_np = numpy_model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, validation_data=(x_val, y_val))
    h_tf = keras_model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, validation_data=(x_val, y_val))
    assert set(h_np.history) == set(h_tf.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for key in h_np.history:
        np.testing.assert_allclose(h_np.history[key], h_tf.history[key], rtol=0, atol=1e-6)


def test_float64_twins_agree_to_rounding_even_with_momentum(rng):
    """No hidden float32 in the float64 Keras twin: learning rate and momentum included.

    (Keras keeps the learning rate and its loss tracker in floatx variables and casts
    a Python-float momentum through float32; each would put float32 rounding between them.)
    """
    config = dict(input_dim=20, hidden=(32,), num_classes=4, learning_rate=0.05, momentum=0.9,
                  nesterov=True, seed=2)
    numpy_model, keras_model = twins("float64", **config)
    x, y = random_batch(rng, n=256, features=20, classes=4)
    history_np = numpy_model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    history_tf = keras_model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    largest = max(np.abs(a - b).max() for a, b in zip(numpy_model.get_weights(), keras_model.get_weights()))
    assert largest < 1e-13
    # Keras's running-mean loss tracker is float64 too (made under the twin's floatx)
    np.testing.assert_allclose(history_np.history["loss"], history_tf.history["loss"], rtol=1e-13)


def test_each_way_a_twin_diverges_becomes_one_diverged_error(rng):
    """Keras's twin: a digit of infinities in the third batch is caught there, by the twin's callback,
    even beside callbacks of the run's own (inside's probes); a learner's fit that only reports a NaN
    loss afterwards gives the epoch alone. (numpy_impl's TrainingDiverged: tests/test_cli.py.)"""
    import types

    import keras

    from compare.twins import Diverged, Twin, keras_twin

    x, y = random_batch(rng, n=96, features=784, classes=10)
    twin = keras_twin()
    model = twin.build_model(hidden=(8,), dtype="float64")
    seen = []

    class Probe(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)
    x_bad = x.copy()
    x_bad[70] = np.inf                                                 # batch 3 of 32-digit batches
    with pytest.raises(Diverged) as raised:
        twin.fit_epoch(model, x_bad, y, 32, epoch=0, learning_rate=0.01, callbacks=[Probe()])
    assert (raised.value.twin, raised.value.epoch, raised.value.batch) == ("keras", 1, 3)
    assert seen == [0, 1]                             # the probe ran beside it; the third batch's end stopped both
    assert "at epoch 1, batch 3;" in str(raised.value) and "--learning-rate 0.001" in str(raised.value)

    class ReportsNaN:
        def fit(self, x, y, **options):
            return types.SimpleNamespace(history={"loss": [float("nan")], "accuracy": [0.1]})
    with pytest.raises(Diverged) as raised:
        Twin("mine", module=None).fit_epoch(ReportsNaN(), x, y, 32, epoch=4, learning_rate=0.5)
    assert (raised.value.twin, raised.value.epoch, raised.value.batch) == ("mine", 5, None)
    assert "the mine twin's loss became NaN or infinite in epoch 5;" in str(raised.value)


def test_an_error_is_placed_at_the_deepest_line_of_the_twins_own_files(tmp_path):
    """What check and `python -m compare --twin` print about a learner's error: its deepest line in the
    twin's own files, though it was raised deeper, in a library (here json's decoder)."""
    from compare.twins import TwinError, describe_error, error_location, load_twin

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "__init__.py").write_text("from .core import build_model, loss_and_gradients\n")
    (folder / "core.py").write_text("import json\n\n\ndef build_model(**kwargs):\n    return json.loads('{')\n\n\n"
                                    "def loss_and_gradients(model, x, y):\n    return 0.0, []\n")
    twin = load_twin(str(folder))
    with pytest.raises(ValueError) as raised:
        twin.build_model()
    error = raised.value
    assert error_location(error).startswith("decoder.py:")                       # the deepest line of all
    assert error_location(error, home=folder) == "core.py:5, in build_model"      # the twin's own
    assert error_location(error, home=folder, own_only=True) == "core.py:5, in build_model"
    assert error_location(error, home=tmp_path / "elsewhere", own_only=True) is None
    assert describe_error(error, home=folder).endswith(": line 1 column 2 (char 1) (core.py:5, in build_model)")
    assert describe_error(ValueError("never raised")) == "ValueError: never raised"   # no traceback, no place

    (tmp_path / "empty.py").write_text("x = 1\n")
    with pytest.raises(TwinError) as raised:
        load_twin(str(tmp_path / "empty.py"))
    assert str(raised.value) == (f"{tmp_path / 'empty.py'} does not export build_model and loss_and_gradients: a "
                                 "twin exports build_model(...) and loss_and_gradients(model, x, y) at its top level")
    with pytest.raises(TwinError) as raised:
        load_twin("no_such_twin.py")                                  # a file name, though it has no folder
    assert str(raised.value) == ("no such file or folder: no_such_twin.py: give a .py file, a package folder or "
                                 "a module name")

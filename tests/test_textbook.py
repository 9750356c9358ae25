"""Issue 45's pieces through numpy_impl's Keras-shaped API, held to Keras's own answers in float64:
the activations (functions, Dense(activation=...), the activation layers), the losses called alone and
in fit, the metrics, a regression, bias initializers, and the command line's refusals.

(The float64 lockstep on TensorFlow, JAX and PyTorch is tests/test_backends.py's; check's rows for these
pieces are tests/test_check_textbook.py's.)
"""
import math
import re

import numpy as np
import pytest

import numpy_impl
from compare.__main__ import UsageError, build_parser, main, make_config

keras = pytest.importorskip("keras")

ACTIVATIONS = ["relu", "sigmoid", "tanh", "leaky_relu", "elu", "selu", "softplus", "softsign", "silu", "swish",
               "gelu", "linear"]


@pytest.fixture
def z():
    """Logits across the ranges that matter: around 0, and far out where exp overflows or saturates."""
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(0, 3, (16, 8)), np.array([[-800, -40, -1e-3, 0.0, 1e-3, 40, 800, 5]])])


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_each_activation_and_its_slope_are_keras_s_in_float64(name, z):
    import tensorflow as tf
    mine = numpy_impl.activations.get(name)
    outputs = mine.forward(z.copy())
    slope = mine.backward(np.ones_like(z))
    x = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(x)
        theirs = keras.activations.get(name)(x)
    their_slope = tape.gradient(theirs, x).numpy()
    # TensorFlow's own leaky_relu slope and gelu constant are float32 (keras_impl dodges them): 1e-8 there
    bound = 1e-8 if name in ("leaky_relu", "gelu") else 1e-14
    assert np.abs(outputs - theirs.numpy()).max() <= bound * max(1.0, np.abs(outputs).max())
    # at z = 0 exactly the engines differ on selu's slope (TensorFlow takes scale, JAX and PyTorch
    # scale * alpha); numpy_impl takes JAX's and PyTorch's. Everywhere else they agree.
    compared = z != 0 if name == "selu" else np.ones_like(z, bool)
    assert np.abs(slope - their_slope)[compared].max() <= bound
    assert np.isfinite(outputs).all() and np.isfinite(slope).all()


def test_the_two_leaky_relu_defaults_are_keras_s():
    z = np.array([[-2.0, 3.0]])
    assert numpy_impl.activations.get("leaky_relu").forward(z)[0, 0] == pytest.approx(-0.4)     # the function: 0.2
    assert numpy_impl.layers.LeakyReLU()(z)[0, 0] == pytest.approx(-0.6)                       # the layer: 0.3
    assert float(keras.layers.LeakyReLU()(z)[0, 0]) == pytest.approx(-0.6)
    assert float(keras.activations.leaky_relu(z)[0, 0]) == pytest.approx(-0.4)
    assert numpy_impl.layers.ELU(alpha=0.5)(z)[0, 0] == pytest.approx(0.5 * math.expm1(-2.0))
    assert numpy_impl.layers.ReLU()(z).tolist() == [[0.0, 3.0]]


def test_gelu_is_the_exact_erf_form_unless_asked():
    z = np.linspace(-4, 4, 41)[None, :]
    exact = numpy_impl.activations.GELU().forward(z.copy())
    assert np.abs(exact - np.array([[0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in z[0]]])).max() < 1e-15
    approximate = numpy_impl.activations.GELU(approximate=True).forward(z.copy())
    theirs = keras.activations.gelu(z, approximate=True).numpy()
    assert np.abs(approximate - theirs).max() < 1e-7 and np.abs(approximate - exact).max() > 1e-4


LOSS_CASES = {
    "mse": (numpy_impl.losses.MeanSquaredError, keras.losses.MeanSquaredError, {}),
    "mae": (numpy_impl.losses.MeanAbsoluteError, keras.losses.MeanAbsoluteError, {}),
    "bce, probabilities": (numpy_impl.losses.BinaryCrossentropy, keras.losses.BinaryCrossentropy, {}),
    "bce, logits": (numpy_impl.losses.BinaryCrossentropy, keras.losses.BinaryCrossentropy, {"from_logits": True}),
}


@pytest.mark.parametrize("case", sorted(LOSS_CASES))
def test_each_loss_object_called_alone_is_keras_s(case):
    mine, theirs, options = LOSS_CASES[case]
    rng = np.random.default_rng(1)
    y_true = (rng.random((12, 5)) < 0.4).astype(np.float64)
    y_pred = rng.normal(0, 3, (12, 5)) if options else rng.random((12, 5))
    y_pred[0, :2] = (1.0, 0.0) if not options else (60.0, -60.0)                 # the clip, or far-out logits
    weights = rng.random(12)
    for args in ((y_true, y_pred), (y_true, y_pred, weights)):
        ours = mine(dtype="float64", **options)(*args)
        keras_value = float(theirs(dtype="float64", **options)(*args))
        assert ours == pytest.approx(keras_value, rel=1e-13), (case, ours, keras_value)
    assert numpy_impl.losses.get(case.split(",")[0] if case in ("mse", "mae") else "binary_crossentropy").name


def test_the_loss_functions_give_each_sample_s_loss():
    y, p = np.array([[0.0, 1.0], [1.0, 1.0]]), np.array([[0.5, 0.5], [0.9, 0.2]])
    assert numpy_impl.losses.mean_squared_error(y, p) == pytest.approx([0.25, (0.01 + 0.64) / 2])
    assert numpy_impl.losses.mae(y, p) == pytest.approx([0.5, (0.1 + 0.8) / 2])
    assert numpy_impl.losses.binary_crossentropy(y, p) == pytest.approx(
        keras.losses.binary_crossentropy(y, p).numpy(), rel=1e-6)


@pytest.mark.parametrize("loss, output, metrics", [
    ("mean_squared_error", "linear", ["mae", "mse"]),          # a regression
    ("mean_absolute_error", "linear", ["mse"]),
    ("binary_crossentropy", "sigmoid", ["accuracy", "binary_accuracy"]),     # one yes/no output
    ("mean_squared_error", "sigmoid", ["accuracy"]),           # Nielsen's quadratic cost on a sigmoid output
])
def test_fit_evaluate_and_the_metrics_are_keras_s_in_float64(loss, output, metrics):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(64, 6))
    units = 3 if loss == "mean_squared_error" and output == "sigmoid" else 1
    y = (x[:, :units] > 0).astype(np.float64) if output == "sigmoid" else x[:, 0] * 2 - x[:, 1]   # (64,) for one
    histories, weights = [], None
    for package in (numpy_impl, keras):
        package.config.set_floatx("float64") if package is keras else None
        try:
            # Keras's layers are given their dtype: its default dtype policy is fixed at the first layer a
            # process makes, and set_floatx does not move it afterwards
            exact = {"dtype": "float64"} if package is keras else {}
            layers = [package.Input((6,)), package.layers.Dense(5, activation="tanh", **exact),
                      package.layers.Dense(units, activation=output, **exact)]
            if package is numpy_impl:
                model = numpy_impl.Sequential(layers, dtype="float64")
                weights = model.get_weights()
            else:
                model = keras.Sequential(layers)
                model.set_weights(weights)
            model.compile(optimizer=package.optimizers.SGD(0.1), loss=loss, metrics=metrics)
            history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
            evaluated = model.evaluate(x, y, verbose=0, return_dict=True)
            histories.append((history, evaluated, model.get_weights()))
        finally:
            keras.config.set_floatx("float32")
    (ours, our_eval, our_weights), (theirs, their_eval, their_weights) = histories
    assert sorted(ours) == sorted(theirs)
    for key in theirs:
        assert ours[key] == pytest.approx(theirs[key], rel=1e-12, abs=1e-14), key
    for key in their_eval:
        assert our_eval[key] == pytest.approx(their_eval[key], rel=1e-12, abs=1e-14), key
    assert max(np.abs(a - b).max() for a, b in zip(our_weights, their_weights)) < 1e-13


def test_accuracy_follows_keras_3_shapes_rule():
    one = numpy_impl.Sequential([numpy_impl.Input((4,)), numpy_impl.Dense(1, activation="sigmoid")])
    one.compile(loss="binary_crossentropy", metrics=["accuracy"])
    many = numpy_impl.Sequential([numpy_impl.Input((4,)), numpy_impl.Dense(3, activation="sigmoid")])
    many.compile(loss="binary_crossentropy", metrics=["accuracy"])
    assert type(one.metrics[0]).__name__ == "BinaryAccuracy" and type(many.metrics[0]).__name__ == "CategoricalAccuracy"


def test_bias_initializers_draw_a_bias_of_the_layer_s_width():
    model = numpy_impl.build_model(input_dim=20, hidden=(300,), num_classes=10, seed=3,
                                   bias_initializer={"name": "random_normal", "stddev": 1.0})
    bias = model.get_weights()[1]
    assert bias.shape == (300,) and 0.85 < bias.std() < 1.15
    assert numpy_impl.build_model(input_dim=20, hidden=(5,), bias_initializer="ones").get_weights()[1].tolist() == [1] * 5
    with pytest.raises(ValueError, match="initializer 'zeros' does not take"):
        numpy_impl.initializers.get({"name": "zeros", "stddev": 1.0})


# ---- what does not fit: one line each ------------------------------------------------------------

@pytest.mark.parametrize("options, message", [
    (dict(loss="binary_crossentropy", output_activation="softmax"), "binary_crossentropy scores each output alone"),
    (dict(loss="categorical_crossentropy", output_activation="sigmoid"), "needs the last layer to be Dense(..., "
                                                                         "activation='softmax')"),
    (dict(loss="mse", from_logits=True), "mse takes no from_logits"),
    (dict(activation="sigmoidal"), "unknown activation 'sigmoidal'"),
])
def test_build_model_refuses_a_pair_that_does_not_fit(options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        numpy_impl.build_model(input_dim=4, hidden=(3,), num_classes=2, **options)


def test_targets_that_do_not_fit_the_loss_are_one_line():
    model = numpy_impl.Sequential([numpy_impl.Input((4,)), numpy_impl.Dense(2, activation="sigmoid")])
    model.compile(loss="binary_crossentropy")
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"^binary_crossentropy takes targets between 0 and 1 .* from -1 to 2$"):
        model.fit(x, np.array([[0, 2], [1, 0], [-1, 1]]), verbose=0)
    with pytest.raises(ValueError, match=r"^binary_crossentropy takes targets of shape \(samples, 2\)"):
        model.fit(x, np.array([0, 1, 1]), verbose=0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.fit(x, np.array([[0, np.nan], [1, 0], [0, 1]]), verbose=0)


@pytest.mark.parametrize("argv, message", [
    (["--loss", "binary_crossentropy", "--output-activation", "softmax"], "needs sigmoid outputs, not softmax"),
    (["--loss", "categorical_crossentropy", "--output-activation", "sigmoid"], "needs a softmax output"),
    (["--labels", "sparse", "--loss", "mean_squared_error"], "which --loss mean_squared_error does not take"),
    (["--loss", "mean_absolute_error", "--from-logits"], "--from-logits is for the cross-entropies"),
    (["--from-logits", "--output-activation", "sigmoid"], "--from-logits ends in a linear layer"),
    (["--twin", "numpy_impl", "--impl", "keras"], "--twin trains your twin in numpy_impl's place"),
])
def test_the_command_line_refuses_a_pair_that_does_not_fit(argv, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        make_config(build_parser().parse_args(argv))


def test_the_nielsen_preset_is_his_network_in_keras_s_units():
    config = make_config(build_parser().parse_args(["--preset", "nielsen"]))
    assert (config.hidden, config.activation, config.loss, config.output_activation) == \
        ((30,), "sigmoid", "mean_squared_error", "sigmoid")
    assert (config.batch_size, config.epochs, config.limit, config.optimizer, config.momentum) == (10, 30, 50000, "sgd", 0)
    # his eta = 3.0 on (1/2) sum_k (y - a)^2: Keras's MSE gradient is 2/K of his, so lr = eta * K / 2
    assert config.learning_rate == 3.0 * 10 / 2
    # a --loss of its own drops the preset's output activation: the output follows the new loss
    assert make_config(build_parser().parse_args(["--preset", "nielsen", "--loss", "binary_crossentropy"])
                       ).output_activation is None
    assert make_config(build_parser().parse_args(["--preset", "nielsen", "--limit", "100"])).limit == 100


def test_a_twin_that_cannot_load_is_one_line(tmp_path, capsys):
    code = main(["--twin", str(tmp_path / "missing"), "--data", "sample", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "--twin: no such file or folder" in err
    assert not (tmp_path / "out").exists()




@pytest.mark.slow
def test_your_own_twin_runs_the_whole_comparison_and_the_report_names_it(tmp_path, capsys):
    """python -m compare --twin DIR: a learner's twin (here the activations exercise, written) in numpy_impl's
    place, beside Keras: every figure, and the report and the console name it."""
    import shutil
    from pathlib import Path
    from compare import exercise
    folder = tmp_path / "my_twin"
    exercise.write_exercise(folder, "activations")
    shutil.copy(Path(numpy_impl.__file__).parent / "activations.py", folder / "activations.py")   # written
    code = main(["--twin", str(folder), "--data", "sample", "--limit", "400", "--epochs", "1", "--activation", "tanh",
                 "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0 and "your twin (my_twin): test accuracy" in out
    run = next((tmp_path / "out").iterdir())
    page = (run / "report.html").read_text()
    assert "In numpy_impl's place: your twin (my_twin)" in page and "<th>your twin (my_twin)</th>" in page
    assert (run / "training.png").exists() and (run / "inside.png").exists()


@pytest.mark.slow
def test_a_twin_that_fails_mid_run_is_one_line_naming_its_function(tmp_path, capsys):
    from compare import exercise
    folder = tmp_path / "my_twin"
    exercise.write_exercise(folder, "activations")                  # Tanh.forward not written yet
    code = main(["--twin", str(folder), "--data", "sample", "--limit", "400", "--epochs", "1", "--activation", "tanh",
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "your twin (" in err and "NotImplementedError: Tanh.forward" in err and "in Tanh.forward" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())

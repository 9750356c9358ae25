"""Inside the network: each twin's per-layer statistics, from its own code, agree at equal weights;
the statistics mean what they say; and probing a run changes nothing it trains."""
import json
import math
import re
import warnings

import numpy as np
import pytest
from matplotlib import pyplot as plt

import keras_impl
import numpy_impl
from compare import inside, plots
from compare.__main__ import main
from compare.experiment import Config, run_lockstep
from compare.twins import keras_twin, numpy_twin


def digits(n=256, seed=0, dtype="float64"):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 784)).astype(dtype)
    y = np.eye(10, dtype=dtype)[rng.integers(0, 10, n)]
    return x, y


def lockstep(dtype="float64", twins=None, **options):
    x, y = digits(dtype=dtype)
    config = Config(epochs=2, batch_size=32, dtype=dtype, inside_every=3, **options)
    stats = {}
    models, records, _ = run_lockstep(config, (x, y), (x[:64], y[:64]), log=lambda message: None, verbose=0,
                                      twins=twins, inside_stats=stats)
    return models, stats


@pytest.mark.slow
def test_the_twins_statistics_agree_to_rounding_in_float64():
    _, stats = lockstep("float64")
    assert set(stats["twins"]) == {"numpy", "keras"}
    numpy_steps = stats["twins"]["numpy"]["steps"]
    # a probe before training, every 3 steps of 16 (2 epochs of 8), and one after training
    assert numpy_steps == [0, 3, 6, 9, 12, 15, 16] and stats["twins"]["keras"]["steps"] == numpy_steps
    assert stats["twins"]["numpy"]["update_steps"] == [4, 7, 10, 13, 16]
    assert stats["max_difference"] < 1e-12
    assert all(value < 1e-12 for value in stats["during_run"].values())
    assert set(stats["at_equal_weights"]["keras"]) == {"loss", "activation_mean", "activation_std", "dead_share",
                                                       "gradient_norm", "activations", "gradients"}
    assert stats["layers"] == ["hidden 1 (relu)", "hidden 2 (relu)"] and stats["idle"] == ["dead", "dead"]
    assert stats["kernels"] == ["W1 784x128", "W2 128x128", "W3 128x10"]
    assert np.shape(stats["twins"]["keras"]["update_ratio"]) == (5, 3)
    # the histograms share their bins between the twins, and count every value
    for moment in ("initial", "final"):
        for entry in stats["histograms"][moment]["activations"]:
            assert entry["numpy"] == entry["keras"] and sum(entry["numpy"]) == min(inside.PROBE_SIZE, 256) * 128


@pytest.mark.slow
def test_in_float32_they_agree_to_float32_rounding():
    _, stats = lockstep("float32")
    assert stats["max_difference"] < 1e-4
    assert 0 < stats["during_run"]["gradient_norm"] < 1e-3          # not equal bit for bit: two engines


def test_probing_a_run_changes_nothing_it_trains():
    twins = [numpy_twin()]
    for options in ({}, {"batchnorm": True}):
        probed, stats = lockstep("float64", twins=twins, **options)
        x, y = digits()
        config = Config(epochs=2, batch_size=32, dtype="float64", inside_every=0, **options)
        plain, _, _ = run_lockstep(config, (x, y), (x[:64], y[:64]), log=lambda message: None, verbose=0, twins=twins)
        assert stats["twins"]["numpy"]["steps"]
        for mine, theirs in zip(probed["numpy"].get_weights(), plain["numpy"].get_weights()):
            np.testing.assert_array_equal(mine, theirs)      # moving statistics too, with batchnorm


def test_the_statistics_mean_what_they_say():
    x, y = digits(64)
    model = numpy_impl.build_model(seed=1, dtype="float64")
    kernel, bias = model.layers[0].kernel, model.layers[0].bias
    kernel[:, 5], bias[5] = -1.0, -1.0                     # unit 5 of the first layer: never positive
    recorder = inside.Recorder(numpy_twin(), x, y, inside.hidden_layers(model), every=1)
    recorder.probe(model)
    first_layer = np.maximum(x @ kernel + bias, 0)
    assert recorder.dead_share[0][0] == pytest.approx(np.mean(np.all(first_layer == 0, axis=0)))
    assert recorder.dead_share[0][0] >= 1 / 128
    assert recorder.activation_mean[0][0] == pytest.approx(first_layer.mean())
    assert recorder.activation_std[0][0] == pytest.approx(first_layer.std())
    loss, gradients = numpy_impl.loss_and_gradients(model, x, y)
    assert recorder.loss[0] == pytest.approx(loss)
    assert recorder.gradient_norm[0][0] == pytest.approx(np.linalg.norm(gradients[0]))
    # the update ratio of the step after a probe: plain SGD moves W by lr * g of that step's batch
    model.train_step(x[:32], y[:32])
    recorder.after_step(lambda: model)    # step 1: a probe, and the kernels kept
    kernels = [model.layers[index].kernel.copy() for index in range(3)]
    _, step_gradients = numpy_impl.loss_and_gradients(model, x[32:], y[32:])
    model.train_step(x[32:], y[32:])
    recorder.after_step(lambda: model)    # step 2: the ratio of step 2's update
    assert recorder.steps == [0, 1, 2] and recorder.update_steps == [2]
    learning_rate = model.optimizer.learning_rate
    expected = [learning_rate * np.linalg.norm(g) / np.linalg.norm(w)
                for w, g in zip(kernels, step_gradients[::2])]
    np.testing.assert_allclose(recorder.update_ratio[0], expected, rtol=1e-9)


def test_the_keras_hook_reaches_the_model_only_when_a_probe_needs_it():
    # on JAX, Callback.model syncs the trainer's state: once a step would slow every step
    x, y = digits(64)
    recorder = inside.Recorder(numpy_twin(), x, y, [(0, "relu"), (1, "relu")], every=4)
    reached = []
    hook = inside.hook(keras_twin(), recorder)
    type(hook).model = property(lambda self: reached.append(recorder.step) or model)
    model = numpy_impl.build_model(seed=0, dtype="float64")
    for batch in range(9):
        hook.on_train_batch_end(batch)
    assert reached == [4, 5, 8, 9] and recorder.steps == [4, 8] and recorder.update_steps == [5, 9]


def test_probes_are_about_8_an_epoch_and_never_closer_than_200_steps():
    assert inside.default_every(1875) == 234                 # full MNIST at batch 32
    assert inside.default_every(125) == inside.default_every(1600) == 200


def test_initial_loss_is_near_ln_10_at_a_small_initialisation():
    x, y = digits(512, dtype="float32")
    model = numpy_impl.build_model(seed=0)
    recorder = inside.Recorder(numpy_twin(), x, y, inside.hidden_layers(model), every=1)
    recorder.probe(model)
    assert abs(recorder.loss[0] - math.log(10)) < 0.5


def test_keras_layer_outputs_are_keras_own_and_equal_numpys():
    x, _ = digits(32)
    numpy_model = numpy_impl.build_model(seed=2, dtype="float64", dropout=0.5)
    keras_model = keras_impl.build_model(seed=2, dtype="float64", dropout=0.5)
    keras_model.set_weights(numpy_model.get_weights())
    mine, theirs = numpy_impl.layer_outputs(numpy_model, x), keras_impl.layer_outputs(keras_model, x)
    assert [name for name, _ in theirs] == [layer.name for layer in keras_model.layers]
    for (_, a), (_, b) in zip(mine[:-1], theirs[:-1]):                 # dropout off: evaluation mode
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)
    # the Keras twin's probe runs Keras: a changed Keras weight shows in its outputs alone
    keras_model.layers[0].kernel.assign(np.zeros((784, 128)))
    assert not np.any(keras_impl.layer_outputs(keras_model, x)[0][1])
    assert np.any(numpy_impl.layer_outputs(numpy_model, x)[0][1])


@pytest.mark.slow
def test_the_cli_writes_the_section_the_figures_and_metrics(tmp_path, capsys):
    assert main(["--data", "sample", "--limit", "256", "--epochs", "1", "--out", str(tmp_path)]) == 0
    (run,) = tmp_path.iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    # 8 steps, fewer than the probes' least spacing: probed before the first step and after the last
    assert metrics["inside"]["max_difference"] < 1e-4 and metrics["inside"]["every"] == inside.MIN_EVERY
    assert metrics["inside"]["twins"]["numpy"]["steps"] == [0, 8]
    assert set(metrics["inside"]["twins"]["keras"]) == {       # the names docs/inside.md gives them
        "steps", "loss", "activation_mean", "activation_std", "dead_share", "gradient_norm", "bias_gradient_norm",
        "update_steps",
        "update_ratio", "probe_seconds"}
    assert re.search(r"inside the network: 2 probes, every 200 steps; initial loss \d\.\d{3} \(numpy\) / "
                     r"\d\.\d{3} \(keras\) against ln\(10\) = 2\.303; the twins' statistics at equal weights "
                     r"differ by at most \d\.\de[-+]\d\d; \|\|dL/dbias\|\| of the first hidden layer over the "
                     r"last's: [\d.e+-]+ at initialisation, [\d.e+-]+ at the end; "
                     r"probing took \d+\.\d% \(numpy\), \d+\.\d% \(keras\) "
                     r"of the training time\n", capsys.readouterr().out)
    assert abs(metrics["inside"]["initial_loss"]["numpy"] - math.log(10)) < 0.5
    page = (run / "report.html").read_text()
    assert "<h2>Inside the network</h2>" in page and "id='inside'" in page
    for figure in ("inside.png", "first_layer.png"):
        assert (run / figure).read_bytes()[:4] == b"\x89PNG"
    assert main(["--data", "sample", "--limit", "256", "--epochs", "1", "--inside-every", "0",
                 "--out", str(tmp_path / "off")]) == 0
    (off,) = (tmp_path / "off").iterdir()
    assert json.loads((off / "metrics.json").read_text())["inside"] is None
    assert not (off / "inside.png").exists() and "Inside the network" not in (off / "report.html").read_text()


@pytest.mark.slow
def test_a_run_too_short_to_measure_an_update_says_so_in_its_empty_panel(tmp_path):
    # 8 steps, probes every 200: no step after a probe, so no update ratio; and no unit dead in layer 1
    x, y = digits()
    config = Config(epochs=1, batch_size=32, dtype="float64", inside_every=200)
    stats = {}
    run_lockstep(config, (x, y), (x[:64], y[:64]), log=lambda message: None, verbose=0, twins=[numpy_twin()],
                 inside_stats=stats)
    assert stats["twins"]["numpy"]["update_ratio"] == []
    drawn = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")                   # matplotlib's "identical low and high ylims" among them
        real_close = plt.close
        plt.close = lambda fig=None: drawn.append(fig)
        try:
            plots.inside_network(stats, tmp_path / "inside.png")
        finally:
            plt.close = real_close
    (figure,) = drawn
    panels = {ax.get_title(): ax for ax in figure.axes}
    update = panels["Update-to-weight ratio ||dW|| / ||W||"]
    assert [text.get_text() for text in update.texts] == [
        "not measured in this run:\nit ended before the step after a probe"]
    assert panels["Dead units (zero for every probe digit)"].get_ylim()[0] == 0
    assert panels["Gradient norm ||dL/dW|| on the probe batch"].get_yscale() == "log"
    real_close(figure)


def test_a_norm_is_taken_in_float64_so_an_exploding_gradient_shows_its_size():
    # squared in float32, 3e20 overflows to inf: the picture of a diverging run would show inf, not 5e20
    assert inside._norm(np.array([3e20, 4e20], np.float32)) == pytest.approx(5e20, rel=1e-6)


# ---- saturating activations and the vanishing gradient (issue 45) ---------------------------------

def test_sigmoid_and_tanh_layers_count_saturated_outputs_not_dead_units():
    outputs = np.array([[0.995, 0.5, 0.002], [0.999, 0.3, 0.5]])
    assert inside.idle_share(outputs, "sigmoid") == pytest.approx(3 / 6)      # within 0.01 of 0 or 1
    assert inside.idle_share(np.array([[-0.995, 0.0], [0.2, 0.999]]), "tanh") == pytest.approx(2 / 4)
    assert inside.idle_share(np.array([[0.0, 1.0], [0.0, 0.0]]), "relu") == pytest.approx(1 / 2)   # dead: 0 for all
    assert [inside.idle_kind(name) for name in ("sigmoid", "tanh", "relu", "elu")] == \
        ["saturated", "saturated", "dead", "dead"]


def test_the_hidden_layers_are_found_whatever_their_activation():
    model = numpy_impl.build_model(input_dim=6, hidden=(5, 4), num_classes=3, activation="tanh", batchnorm=True)
    found = inside.hidden_layers(model)
    assert [name for _, name in found] == ["tanh", "tanh"]
    assert all(type(model.layers[index]).__name__ == "Activation" for index, _ in found)


def test_bias_gradients_only_where_every_dense_has_a_bias():
    plain = numpy_impl.build_model(input_dim=6, hidden=(5, 4), num_classes=3)
    x, y = np.random.default_rng(0).random((8, 6)), numpy_impl.one_hot(np.arange(8) % 3, 3)
    gradients = numpy_impl.loss_and_gradients(plain, x, y)[1]
    assert [g.shape for g in inside.bias_gradients(gradients)] == [(5,), (4,), (3,)]
    normalized = numpy_impl.build_model(input_dim=6, hidden=(5, 4), num_classes=3, batchnorm=True)
    assert inside.bias_gradients(numpy_impl.loss_and_gradients(normalized, x, y)[1]) is None


def test_a_deep_sigmoid_network_shows_the_vanishing_gradient():
    """Nielsen's chapter-5 network at initialisation: the first hidden layer's ||dL/dbias|| is a small
    fraction of the last's; with ReLU and He initialisation the layers are within a few times of each other."""
    rng = np.random.default_rng(0)
    x, y = rng.random((256, 784)), numpy_impl.one_hot(rng.integers(0, 10, 256), 10)
    ratios = {}
    for name, options in {"sigmoid": dict(activation="sigmoid", kernel_initializer={"name": "variance_scaling",
                                                                                      "distribution": "untruncated_normal"},
                                          bias_initializer={"name": "random_normal", "stddev": 1.0},
                                          loss="binary_crossentropy"),
                          "relu": dict(kernel_initializer="he_normal")}.items():
        model = numpy_impl.build_model(hidden=(30, 30, 30, 30), **options)
        recorder = inside.Recorder(numpy_twin(), x, y, inside.hidden_layers(model), every=1)
        recorder.probe(model)
        stats = inside.summary({"numpy": recorder}, {"numpy": model}, model)
        assert stats["gradient_ratio"]["of"] == "||dL/dbias||"
        ratios[name] = stats["gradient_ratio"]["initial"][0]
    assert ratios["sigmoid"] < 0.1 and ratios["relu"] > 0.2, ratios

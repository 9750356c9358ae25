"""Edges of the command line and of training that had no test (issue 19): an interrupted run,
--debug on every command, bench --out on a file, time_to_accuracy, and the Keras twin's
divergence callback, the clean-up after a failure inside the run folder, and bench's fast Keras
setting being the same network."""
import numpy as np
import pytest

import compare.__main__ as cli
import numpy_impl
from compare.__main__ import main
from compare.experiment import Config, build_twins, run_lockstep, shift_images, time_to_accuracy
from compare.twins import Diverged, keras_twin, numpy_twin

from .conftest import keras_stopping_epoch, random_batch


def test_ctrl_c_exits_130_and_writes_nothing(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "load_mnist", interrupted)
    assert main(["--data", "sample", "--impl", "numpy", "--out", str(tmp_path / "results")]) == 130
    assert "interrupted: no results written" in capsys.readouterr().err
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


@pytest.mark.parametrize("command", [["exercise", "{dir}"], ["check", "{dir}/nothing.py"]])
def test_debug_shows_the_traceback_on_each_command(command, tmp_path, capsys):
    (tmp_path / "full.txt").write_text("not empty")                  # exercise refuses a non-empty folder
    args = [part.format(dir=tmp_path) for part in command]
    plain = main(args)
    quiet = capsys.readouterr().err
    assert plain != 0 and "Traceback" not in quiet and len(quiet.strip().splitlines()) == 1
    assert main(args + ["--debug"]) == plain
    assert "Traceback" in capsys.readouterr().err


def test_bench_out_pointing_at_a_file_is_refused_before_timing(tmp_path, capsys, monkeypatch):
    target = tmp_path / "a-file"
    target.write_text("keep me")
    monkeypatch.setattr(cli, "load_mnist", lambda *a, **k: pytest.fail("loaded data"))
    assert main(["bench", "--backend", "tensorflow", "--out", str(target)]) == 1
    err = capsys.readouterr().err
    assert "--out" in err and "is a file, not a folder" in err and len(err.strip().splitlines()) == 1
    assert target.read_text() == "keep me"


def test_time_to_accuracy_adds_up_the_epochs_until_each_target():
    record = {"epoch_seconds": [2.0, 3.0, 4.0, 5.0], "history": {"test_accuracy": [0.95, 0.975, 0.972, 0.981]}}
    assert time_to_accuracy(record) == {"0.97": 5.0, "0.98": 14.0}        # the first epoch to reach it, not later
    assert time_to_accuracy(record, targets=(0.99,)) == {"0.99": None}


def test_the_keras_twins_divergence_callback_names_the_batch(rng):
    """A learning rate of 1e30 makes the loss infinite within a few steps: the callback stops fit
    there with the epoch and the batch, not after the epoch."""
    twin = keras_twin()
    model = twin.build_model(input_dim=6, hidden=(8,), num_classes=3, learning_rate=1e30)
    x, y = random_batch(rng, n=640, dtype="float32")
    x = x * 100
    with pytest.raises(Diverged) as caught:
        twin.fit_epoch(model, x, y, batch_size=32, epoch=2, learning_rate=1e30)
    assert caught.value.epoch == 3 and caught.value.batch is not None and caught.value.batch < 20
    assert "--learning-rate 1e+29" in str(caught.value)


# ---- presets, overrides and the sample's learning rate (issue 19: behaviour with no test) ------------------

def config_of(*argv):
    return cli.make_config(cli.build_parser().parse_args(list(argv)))


def test_shift_moves_each_image_by_its_own_whole_pixels_and_brings_in_zeros():
    rng = np.random.default_rng(3)
    images = rng.random((40, 6, 6)).astype(np.float32) + 1        # no zeros of their own
    shifted = shift_images(images.reshape(40, 36), 2, np.random.default_rng(7)).reshape(40, 6, 6)
    dy, dx = np.random.default_rng(7).integers(-2, 3, size=(2, 40))     # the draws shift_images makes
    for image, moved, down, right in zip(images, shifted, dy, dx):
        for r in range(6):
            for c in range(6):
                inside = 0 <= r - down < 6 and 0 <= c - right < 6
                assert moved[r, c] == (image[r - down, c - right] if inside else 0.0)
    assert len(set(zip(dy, dx))) > 10                                      # many of the 25 shifts drawn
    assert np.array_equal(shift_images(images, 0, rng), images)


def test_shift_hands_both_twins_the_same_shifted_images(rng):
    """Lockstep as python -m compare runs it, without its figures, on random 28 x 28 digits."""
    x, y = random_batch(rng, n=200, features=784, classes=10)
    train, test = (x[:160], y[:160]), (x[160:], y[160:])

    def run(shift, impl):
        config = Config(epochs=2, hidden=(16,), dtype="float64", impl=impl, shift=shift)
        return run_lockstep(config, train, test, log=lambda message: None, verbose=0)
    models, records, _ = run(2, "both")
    differences = [np.abs(a - b).max() for a, b in zip(models["numpy"].get_weights(), models["keras"].get_weights())]
    assert max(differences) <= 1e-13                                             # the same images in both twins
    _, unshifted, _ = run(0, "numpy")
    assert records["numpy"]["history"]["loss"][0] != unshifted["numpy"]["history"]["loss"][0]   # and shifted


@pytest.mark.slow
def test_the_lockstep_steps_a_schedule_over_the_whole_run_and_stops_where_early_stopping_says(rng, capsys):
    """run_lockstep in this process (the command-line tests run it in a child, out of a mutation tool's
    sight): a --schedule decays over every update of the run, and --early-stopping ends the run where
    Keras's rule, applied to the run's own val_loss, says."""
    import math

    x, y = random_batch(rng, n=200, features=784, classes=10)
    train, test = (x[:160], y[:160]), (x[160:], y[160:])
    said = []
    config = Config(epochs=3, batch_size=32, hidden=(16,), dtype="float64", impl="numpy", schedule="cosine")
    models, records, _ = run_lockstep(config, train, test, log=said.append, verbose=0)
    optimizer = models["numpy"].optimizer
    assert optimizer.iterations == 15 and len(records["numpy"]["history"]["loss"]) == 3   # 5 batches an epoch
    # cosine from 0.01 to 0 over the run's 15 updates
    assert [optimizer.schedule(step) for step in range(16)] == \
        pytest.approx([0.005 * (1 + math.cos(math.pi * step / 15)) for step in range(16)], abs=1e-15)
    assert said == [f"Epoch {epoch}/3, numpy twin (cosine schedule)" for epoch in (1, 2, 3)]

    # labels a network can learn, 20 of them scrambled: val_loss improves for some epochs, then not
    labels = (x @ rng.normal(size=(784, 10))).argmax(axis=1)
    labels[:20] = rng.integers(0, 10, 20)
    y = numpy_impl.one_hot(labels, 10, "float64")
    train, test = (x[:160], y[:160]), (x[160:], y[160:])
    said.clear()
    config = Config(epochs=10, hidden=(16,), dtype="float64", validation_split=0.25, early_stopping=1)
    models, records, _ = run_lockstep(config, train, test, log=said.append, verbose=0)
    val_losses = records["numpy"]["history"]["val_loss"]
    expected = keras_stopping_epoch(1, val_losses) + 1                 # Keras's own callback on the run's val_loss
    assert 3 <= expected == len(val_losses) < 10                # it stopped, after improving, at the rule's epoch
    assert records["numpy"]["stopped_epoch"] == records["keras"]["stopped_epoch"] == expected
    assert models["numpy"].optimizer.iterations == expected * 4            # 120 digits trained on, batches of 32
    assert said[-1] == (f"Early stopping after epoch {expected}: val_loss has not improved for 1 epoch(s) "
                        "(the numpy twin and the keras twin)")
    assert said[0] == "Epoch 1/10, numpy twin (learning rate 0.01)"
    assert capsys.readouterr().out == ""               # verbose=0: neither twin's fit, evaluate or predict printed


def test_flags_override_a_preset_and_leave_the_rest_of_it():
    best = config_of("--preset", "best")
    assert (best.hidden, best.batch_size, best.optimizer, best.init, best.dropout, best.shift, best.epochs) == \
        ((1024, 1024), 1024, "adamw", "he_normal", (0.2, 0.5, 0.5), 1, 40)
    changed = config_of("--preset", "best", "--init", "glorot_uniform", "--epochs", "3", "--hidden", "64", "64")
    assert (changed.init, changed.epochs, changed.hidden) == ("glorot_uniform", 3, (64, 64))
    assert (changed.batch_size, changed.optimizer, changed.learning_rate) == (1024, "adamw", 0.002)   # the preset's
    assert config_of("--preset", "best", "--shift", "0").shift == 0
    assert config_of("--preset", "quickstart", "--optimizer", "sgd").optimizer == "sgd"
    with pytest.raises(cli.UsageError, match="--dropout takes one rate, or 2"):    # the preset's 3 rates no longer fit
        config_of("--preset", "best", "--hidden", "64")


def test_the_best_presets_cosine_is_a_cosine_decay_each_twin_steps_every_update():
    best = config_of("--preset", "best", "--hidden", "8", "8")
    assert best.schedule == "cosine" and best.learning_rate == 0.002
    built = build_twins(best, 4, 3, [numpy_twin(), keras_twin()], total_steps=1000)
    for name, (_, model) in built.items():
        schedule = model.optimizer._learning_rate if name == "keras" else model.optimizer.schedule
        assert type(schedule).__name__ == "CosineDecay", name
        rates = [float(schedule(step)) for step in (0, 500, 999, 1000)]
        assert rates[:2] == pytest.approx([0.002, 0.001]) and 0 < rates[2] < 1e-7 and rates[3] == 0.0, name
    assert config_of("--preset", "best", "--schedule", "exponential").schedule == "exponential"   # --schedule takes over


@pytest.mark.slow
def test_the_sample_gets_its_own_learning_rate_unless_one_is_given(tmp_path, capsys):
    import json
    for extra, expected in (([], cli.SAMPLE_LEARNING_RATE), (["--learning-rate", "0.01"], 0.01)):
        out = tmp_path / str(expected)
        assert main(["--data", "sample", "--limit", "200", "--epochs", "1", "--hidden", "8", "--impl", "numpy",
                     *extra, "--out", str(out)]) == 0
        (run,) = out.iterdir()
        assert json.loads((run / "metrics.json").read_text())["config"]["learning_rate"] == expected
    printed = capsys.readouterr().out
    assert printed.count(f"learning rate {cli.SAMPLE_LEARNING_RATE} on the small sample") == 1


@pytest.mark.slow
def test_impl_keras_trains_the_keras_twin_alone(tmp_path):
    import json
    assert main(["--data", "sample", "--limit", "300", "--epochs", "1", "--hidden", "16", "--impl", "keras",
                 "--dtype", "float64", "--from-logits", "--out", str(tmp_path)]) == 0
    (run,) = tmp_path.iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["numpy"] is None and metrics["agreement"] is None and metrics["keras"]["test_accuracy"] > 0.15
    assert metrics["config"]["from_logits"] is True and metrics["config"]["dtype"] == "float64"
    assert {p.name for p in run.glob("*.weights.h5")} == {"keras.weights.h5"}


@pytest.mark.slow
def test_a_failure_while_writing_results_leaves_no_run_folder(tmp_path, capsys, monkeypatch):
    """The figures fail half-way through the run folder: the error is one line, and neither the
    hidden .partial folder nor a run folder is left behind."""
    from compare import plots

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(plots, "confusion_matrices", disk_full)      # after three figures are written
    out = tmp_path / "results"
    code = main(["--data", "sample", "--limit", "300", "--epochs", "1", "--impl", "numpy", "--out", str(out)])
    err = capsys.readouterr().err
    assert code != 0 and "No space left on device" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert out.is_dir() and list(out.iterdir()) == [], list(out.iterdir())


@pytest.mark.slow
def test_bench_fast_setting_trains_the_same_network_as_compile_defaults():
    """bench's keras_fast is only an execution setting: from the same weights on the same batches,
    it ends where the twin with compile's defaults ends (float64, on TensorFlow in this process)."""
    import keras
    import numpy as np

    import keras_impl
    from compare.bench import KERAS_FAST, bench_models

    backend = keras.backend.backend()
    x, y = random_batch(np.random.default_rng(3), 200, 784, 10, np.float64)
    models = bench_models(keras_impl, backend, dict(hidden=(32, 16), learning_rate=0.05, momentum=0.9,
                                                    dtype="float64", seed=4))
    default, fast = models["keras"], models["keras_fast"]
    assert fast is not default and fast.jit_compile == KERAS_FAST[backend].get("jit_compile", fast.jit_compile)
    assert fast.steps_per_execution == KERAS_FAST[backend].get("steps_per_execution", 1) != default.steps_per_execution
    fast.set_weights(default.get_weights())
    for model in (default, fast):
        model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    difference = max(np.max(np.abs(a - b)) for a, b in zip(default.get_weights(), fast.get_weights()))
    assert difference < 1e-12, difference
    start = keras_impl.build_model(hidden=(32, 16), dtype="float64", seed=4).get_weights()
    assert max(np.max(np.abs(a - b)) for a, b in zip(default.get_weights(), start)) > 1e-3   # it trained


def test_keras_methods_are_called_quietly():
    """Keras wraps predict and evaluate as (*args, **kwargs): they still get verbose=0, so check's
    references print no progress bars into its table."""
    import keras_impl
    from compare.twins import quiet

    model = keras_impl.build_model(hidden=(4,))
    assert quiet(model.predict) == quiet(model.evaluate) == {"verbose": 0}
    assert quiet(lambda x: x) == {}                         # a learner's predict(x) is called without it
    assert quiet(lambda x, verbose=1: x) == {"verbose": 0}  # and predict(x, verbose=1) with it

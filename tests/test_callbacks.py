"""The callbacks fit users reach for, held to Keras's own: every hook called as Keras calls it (with what
it is handed), and each of ModelCheckpoint, ReduceLROnPlateau, LearningRateScheduler, CSVLogger,
TerminateOnNaN and LambdaCallback deciding as Keras's does, on the same sequence of logs and in the same
fit (float64, the same weights and batches).
"""
import numpy as np
import pytest

import numpy_impl

keras = pytest.importorskip("keras")

# ---- two models, the same network: Keras's and numpy_impl's, in float64 from the same weights --------


def twins(units=3, activation="softmax", loss="categorical_crossentropy", metrics=("accuracy",), lr=0.1):
    """(numpy_impl model, Keras model), 5-4-units, float64, the same weights, compiled alike."""
    mine = numpy_impl.Sequential([numpy_impl.Input((5,)), numpy_impl.Dense(4, activation="tanh"),
                                  numpy_impl.Dense(units, activation=activation)], dtype="float64", seed=0)
    theirs = keras.Sequential([keras.Input((5,), dtype="float64"),
                               keras.layers.Dense(4, activation="tanh", dtype="float64"),
                               keras.layers.Dense(units, activation=activation, dtype="float64")])
    theirs.set_weights(mine.get_weights())
    mine.compile(optimizer=numpy_impl.optimizers.SGD(lr), loss=loss, metrics=list(metrics))
    previous = keras.config.floatx()
    keras.config.set_floatx("float64")          # the optimizer's learning rate, and the metrics, in float64
    try:
        theirs.compile(optimizer=keras.optimizers.SGD(lr), loss=loss, metrics=list(metrics))
    finally:
        keras.config.set_floatx(previous)
    return mine, theirs


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5))
    y = numpy_impl.one_hot((x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int), 3, "float64")
    return x, y


def fit_both(models, x, y, make_callbacks, **options):
    """fit each model with its own package's callbacks; [(history, callbacks)] numpy_impl's first."""
    results = []
    for model, package in zip(models, (numpy_impl, keras)):
        callbacks = make_callbacks(package)
        previous = keras.config.floatx()
        keras.config.set_floatx("float64")
        try:
            history = model.fit(x, y, batch_size=16, shuffle=False, verbose=0, callbacks=callbacks, **options)
        finally:
            keras.config.set_floatx(previous)
        results.append((history, callbacks))
    return results


def close(a, b, rel=1e-12):
    return a == pytest.approx(b, rel=rel, abs=1e-15)


# ---- the hooks ----------------------------------------------------------------------------------------

def recorder(package):
    """A Callback subclass that writes down every hook it is called with: (hook, argument, sorted log keys)."""
    class Recorder(package.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.calls = []

    for hook in ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end", "on_train_batch_begin",
                 "on_train_batch_end", "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
                 "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end"):
        def record(self, *args, _hook=hook, **kwargs):
            logs = kwargs.get("logs", args[-1] if args and isinstance(args[-1], (dict, type(None))) else None)
            index = args[0] if args and isinstance(args[0], int) else None
            self.calls.append((_hook, index, sorted(logs) if logs else None))
        setattr(Recorder, hook, record)
    return Recorder()


def test_every_hook_is_called_as_keras_calls_it(data):
    x, y = data
    models = twins()
    results = fit_both(models, x[:32], y[:32], lambda package: [recorder(package)], epochs=2,
                       validation_data=(x[32:], y[32:]))
    (mine_history, [mine]), (theirs_history, [theirs]) = results
    assert mine.calls == theirs.calls
    assert mine.params == theirs.params == {"verbose": 0, "epochs": 2, "steps": 2}
    assert mine.model is models[0] and sorted(mine_history.history) == sorted(theirs_history.history)
    # evaluate and predict: on_test_* and on_predict_* per batch of Keras's 32
    again = [recorder(package) for package in (numpy_impl, keras)]
    for model, callback in zip(models, again):
        model.evaluate(x, y, verbose=0, callbacks=[callback])
        model.predict(x, verbose=0, callbacks=[callback])
    assert again[0].calls == again[1].calls
    assert [hook for hook, _, _ in again[0].calls].count("on_test_batch_end") == 2


def test_a_callback_that_defines_on_batch_end_is_called_after_every_step(data):
    """keras.io's callbacks guide: a subclass with on_batch_end (the older name) collects the loss per batch.
    Keras's base class hands on_train_batch_end on to it; so must numpy_impl's, or the list stays empty."""
    x, y = data

    def loss_history(package):
        class LossHistory(package.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.losses = []

            def on_batch_end(self, batch, logs=None):
                self.losses.append(logs.get("loss"))
        return [LossHistory()]
    per_batch = [callbacks[0].losses for _, callbacks in fit_both(twins(), x, y, loss_history, epochs=1)]
    assert len(per_batch[0]) == len(per_batch[1]) == 3
    assert all(close(a, b) for a, b in zip(*per_batch))


# ---- each callback against Keras's on the same sequence of logs -------------------------------------

class Holder:
    """What a callback reaches through callback.model: an optimizer with a learning rate, stop_training."""

    def __init__(self, package):
        self.stop_training, self.metrics = False, []
        self.optimizer = package.optimizers.SGD(0.1)


PLATEAU = [1.0, 0.9, 0.9, 0.95, 0.88, 0.88, 0.89, 0.8, 0.81, 0.82, 0.83, 0.79, 0.9, 0.9, 0.9]


@pytest.mark.parametrize("options", [dict(patience=1), dict(patience=2, factor=0.5, cooldown=1),
                                     dict(patience=1, min_lr=0.004, min_delta=0.02), dict(patience=2, mode="max")])
def test_reduce_lr_on_plateau_decides_as_keras_does_epoch_by_epoch(options):
    rates = []
    for package in (keras, numpy_impl):
        callback = package.callbacks.ReduceLROnPlateau(monitor="val_loss", **options)
        holder = Holder(package)
        callback.set_model(holder)
        callback.on_train_begin()
        seen = []
        for epoch, value in enumerate(PLATEAU):
            logs = {"val_loss": value}
            callback.on_epoch_end(epoch, logs)
            seen.append((logs["learning_rate"], float(holder.optimizer.learning_rate), callback.wait))
        rates.append(seen)
    assert len(rates[0]) == len(rates[1])
    for theirs, mine in zip(*rates):
        assert close(mine[0], theirs[0], 1e-6) and close(mine[1], theirs[1], 1e-6) and mine[2] == theirs[2]
    assert rates[1][-1][1] < 0.1                     # it did reduce


@pytest.mark.parametrize("schedule", [lambda epoch, lr: lr * 0.5 if epoch else lr,
                                      lambda epoch: 0.1 / (1 + epoch)])
def test_learning_rate_scheduler_sets_each_epochs_rate_as_keras_does(schedule, data):
    x, y = data
    results = fit_both(twins(), x, y, lambda package: [package.callbacks.LearningRateScheduler(schedule)], epochs=3)
    (mine, _), (theirs, _) = results
    assert close(mine.history["learning_rate"], theirs.history["learning_rate"])
    assert all(close(a, b) for a, b in zip(mine.history["loss"], theirs.history["loss"]))


def test_reduce_lr_on_plateau_in_fit_adds_the_learning_rate_to_history(data):
    x, y = data
    results = fit_both(twins(lr=0.5), x[:32], y[:32],
                       lambda package: [package.callbacks.ReduceLROnPlateau(monitor="loss", patience=0, factor=0.5,
                                                                            min_delta=10.0)],
                       epochs=3)
    (mine, _), (theirs, _) = results
    assert sorted(mine.history) == sorted(theirs.history) == ["accuracy", "learning_rate", "loss"]
    assert close(mine.history["learning_rate"], theirs.history["learning_rate"])
    assert mine.history["learning_rate"][-1] < 0.5
    assert all(close(a, b) for a, b in zip(mine.history["loss"], theirs.history["loss"]))


@pytest.mark.parametrize("options, path", [
    (dict(save_best_only=True), "ckpt/best-{epoch:02d}-{val_loss:.4f}.keras"),
    (dict(save_weights_only=True, save_best_only=True, monitor="val_accuracy"), "ckpt/{epoch}-{val_accuracy:.3f}.weights.h5"),
    pytest.param(dict(), "ckpt/model-{epoch:02d}.keras", marks=pytest.mark.slow),
    pytest.param(dict(save_weights_only=True), "ckpt/w-{epoch}.weights.h5", marks=pytest.mark.slow),
])
def test_model_checkpoint_writes_the_files_keras_writes(options, path, data, tmp_path):
    x, y = data
    written = []
    for model, package in zip(twins(lr=0.5), (numpy_impl, keras)):
        folder = tmp_path / package.__name__
        callback = package.callbacks.ModelCheckpoint(str(folder / path), **options)
        previous = keras.config.floatx()
        keras.config.set_floatx("float64")
        try:
            model.fit(x[:32], y[:32], batch_size=8, epochs=4, shuffle=False, verbose=0, callbacks=[callback],
                      validation_data=(x[32:], y[32:]))
        finally:
            keras.config.set_floatx(previous)
        written.append(sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()))
    assert written[0] == written[1] and written[0]
    last = tmp_path / "numpy_impl" / written[0][-1]        # Keras reads the file numpy_impl wrote
    if last.name.endswith(".keras"):
        assert keras.models.load_model(last).count_params() == 5 * 4 + 4 + 4 * 3 + 3
    else:
        twin = twins()[1]
        twin.load_weights(last)


def test_model_checkpoint_refuses_a_path_keras_refuses():
    with pytest.raises(ValueError, match="must end in .weights.h5 with save_weights_only=True"):
        numpy_impl.callbacks.ModelCheckpoint("m.keras", save_weights_only=True)
    with pytest.raises(ValueError, match="must end in .keras"):
        numpy_impl.callbacks.ModelCheckpoint("m.h6")


def test_csv_logger_writes_what_keras_writes(data, tmp_path):
    x, y = data
    texts = []
    for model, package in zip(twins(), (numpy_impl, keras)):
        path = tmp_path / f"{package.__name__}.csv"
        previous = keras.config.floatx()
        keras.config.set_floatx("float64")
        try:
            model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                      callbacks=[package.callbacks.CSVLogger(str(path))])
        finally:
            keras.config.set_floatx(previous)
        texts.append(path.read_text().splitlines())
    assert texts[0][0] == texts[1][0] == "epoch,accuracy,loss,val_accuracy,val_loss"
    for mine, theirs in zip(texts[0][1:], texts[1][1:]):
        a, b = mine.split(","), theirs.split(",")
        assert a[0] == b[0] and a[3:] == b[3:] == ["NA", "NA"]
        assert all(close(float(p), float(q)) for p, q in zip(a[1:3], b[1:3]))


def test_terminate_on_nan_stops_where_the_loss_goes_bad(data, capsys):
    x, y = data
    regression = dict(units=1, activation="linear", loss="mean_squared_error", metrics=(), lr=1e30)
    results = fit_both(twins(**regression), x, x[:, :1] * 1e3,
                       lambda package: [package.callbacks.TerminateOnNaN()], epochs=3)
    stops = [(len(history.history["loss"]), bool(np.isfinite(history.history["loss"][-1])))
             for history, _ in results]
    assert stops[0] == stops[1] == (2, False)            # the second epoch's last batch overflows, in both
    assert capsys.readouterr().out.count("Invalid loss, terminating training") == 2
    # and without it, numpy_impl says where training diverged
    with pytest.raises(numpy_impl.TrainingDiverged, match="at epoch 2, batch 3"):
        twins(**regression)[0].fit(x, x[:, :1] * 1e3, batch_size=16, epochs=3, verbose=0)


def test_lambda_callback_calls_its_functions(data):
    x, y = data
    calls = []
    for model, package in zip(twins(), (numpy_impl, keras)):
        seen = []
        callback = package.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs, seen=seen: seen.append(("epoch", epoch, sorted(logs))),
            on_train_batch_end=lambda batch, logs, seen=seen: seen.append(("batch", batch)),
            on_train_end=lambda logs, seen=seen: seen.append(("end",)))
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, callbacks=[callback])
        calls.append(seen)
    assert calls[0] == calls[1] and len(calls[0]) == 2 * 3 + 2 + 1


def test_a_callback_that_is_not_one_is_refused_in_one_line(data):
    x, y = data
    with pytest.raises(ValueError, match="^callbacks must be Callback objects .* got str$"):
        twins()[0].fit(x, y, verbose=0, callbacks=["early_stopping"])

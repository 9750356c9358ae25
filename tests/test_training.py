"""fit's bookkeeping: partial batches, running means, shuffling, and that it learns."""
import io
import re
import subprocess
import sys

import numpy as np
import pytest

import numpy_impl

from .conftest import random_batch


def small_model(**kwargs):
    config = dict(input_dim=6, hidden=(5,), num_classes=3, learning_rate=0.1, dtype="float64", seed=0)
    config.update(kwargs)
    return numpy_impl.build_model(**config)


def test_partial_batch_gradient_is_the_mean_over_its_own_size(rng):
    model = small_model()
    x, y = random_batch(rng, n=2)
    _, pair = numpy_impl.loss_and_gradients(model, x, y)
    _, first = numpy_impl.loss_and_gradients(model, x[:1], y[:1])
    _, second = numpy_impl.loss_and_gradients(model, x[1:], y[1:])
    for g, a, b in zip(pair, first, second):
        np.testing.assert_allclose(g, (a + b) / 2, rtol=1e-12, atol=1e-15)


def test_history_is_the_running_mean_weighted_by_batch_size(rng):
    # 10 samples, batch 4: batches of 4, 4 and 2. Replay the steps by hand.
    x, y = random_batch(rng, n=10)
    replay = small_model()
    losses, correct = [], 0
    for start, stop in [(0, 4), (4, 8), (8, 10)]:
        loss, grads = numpy_impl.loss_and_gradients(replay, x[start:stop], y[start:stop])
        correct += int((replay.predict(x[start:stop]).argmax(1) == y[start:stop].argmax(1)).sum())
        losses.append(loss)                                        # taken before the update
        for w, g in zip(replay.weights, grads):
            w -= 0.1 * g
    expected_loss = (4 * losses[0] + 4 * losses[1] + 2 * losses[2]) / 10

    model = small_model()
    history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert history.history["loss"][0] == pytest.approx(expected_loss, rel=1e-12)
    assert history.history["accuracy"][0] == correct / 10
    for got, want in zip(model.get_weights(), replay.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_shuffle_is_seeded_and_shuffle_false_keeps_order(rng):
    x, y = random_batch(rng, n=40)
    runs = [small_model(seed=5).fit(x, y, batch_size=8, epochs=2, verbose=0).history["loss"] for _ in range(2)]
    assert runs[0] == runs[1]
    unshuffled = small_model(seed=5)
    history = unshuffled.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert history.history["loss"] != runs[0]
    # shuffle=False: the batches in order, x[0:8], x[8:16], ..., each epoch. The same steps
    # taken one batch at a time, in that order, end at the same weights, bit for bit.
    in_order = small_model(seed=5)
    for _ in range(2):
        for start in range(0, 40, 8):
            in_order.fit(x[start:start + 8], y[start:start + 8], batch_size=8, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(unshuffled.get_weights(), in_order.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_float32_model_computes_in_float32(rng):
    model = small_model(dtype="float32")
    x, y = random_batch(rng, dtype="float64")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert all(w.dtype == np.float32 for w in model.get_weights())
    assert model.predict(x).dtype == np.float32
    assert all(g.dtype == np.float32 for g in numpy_impl.loss_and_gradients(model, x, y)[1])
    seen = []                                 # dL/dlogits too: float64 labels must not lift it to float64
    backward = model.backward
    model.backward = lambda grad_logits: seen.append(grad_logits.dtype) or backward(grad_logits)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert seen and set(seen) == {np.dtype(np.float32)}


def test_it_learns_a_separable_problem(rng):
    centres = rng.normal(size=(3, 6)) * 3
    labels = rng.integers(0, 3, 300)
    x = centres[labels] + rng.normal(size=(300, 6)) * 0.5
    y = numpy_impl.one_hot(labels, 3, "float64")
    model = small_model(learning_rate=0.05)
    before = model.evaluate(x, y)
    history = model.fit(x, y, batch_size=16, epochs=10, verbose=0)
    loss, accuracy = model.evaluate(x, y)
    assert loss < before[0] / 5 and accuracy > 0.95
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("verbose", [1, "auto"])
def test_verbose_fit_draws_a_keras_style_progress_bar(rng, capsys, verbose):
    """verbose=1, and "auto" as Keras reads it outside a notebook, draw the bar; 2 prints a line an epoch."""
    x, y = random_batch(rng, n=40)
    small_model().fit(x, y, batch_size=8, epochs=2, verbose=verbose)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    assert "5/5 [" in out and "loss: " in out and "accuracy: " in out and "ms/step" in out
    small_model().fit(x, y, batch_size=8, epochs=2, verbose=2)
    assert "[" not in capsys.readouterr().out


@pytest.mark.parametrize("verbose", [3, -1, "yes", None])
def test_a_verbose_keras_does_not_know_is_named(rng, verbose):
    x, y = random_batch(rng, n=8)
    for call in (lambda m: m.fit(x, y, verbose=verbose), lambda m: m.evaluate(x, y, verbose=verbose)):
        with pytest.raises(ValueError) as caught:
            call(small_model())
        assert str(caught.value) == f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}"


def test_predict_and_evaluate_run_in_batches_of_batch_size(rng):
    """Keras's predict and evaluate go batch by batch (1,024 rows unless batch_size says): memory
    bounded, each row's outputs the same whatever the batch."""
    x, y = random_batch(rng, n=2500)
    model = small_model()
    sizes = []
    for name in ("run", "forward"):                      # predict calls run, evaluate forward
        inner = getattr(model, name)
        setattr(model, name, lambda batch, *args, inner=inner: sizes.append(len(batch)) or inner(batch, *args))
    whole = model.predict(x)
    assert sizes == [1024, 1024, 452]
    sizes.clear()
    np.testing.assert_array_equal(model.predict(x, batch_size=1000), whole)
    assert sizes == [1000, 1000, 500]
    sizes.clear()
    loss, accuracy = model.evaluate(x, y, batch_size=1000, verbose=0)
    assert sizes == [1000, 1000, 500]
    assert (loss, accuracy) == pytest.approx(model.evaluate(x, y, batch_size=2500, verbose=0), rel=1e-12)  # one batch
    sizes.clear()
    model.evaluate(x, y, verbose=0)
    assert sizes == [1024, 1024, 452]


def test_fit_takes_keras_defaults_one_epoch_of_batches_of_32(rng, capsys):
    x, y = random_batch(rng, n=33)
    model = small_model()
    model.stop_training = True                                       # left over from a run stopped early
    history = model.fit(x, y, verbose=2)
    assert len(history.history["loss"]) == 1 and model.stop_training is False     # reset, as Keras's fit does
    assert model.history is history                                              # kept, as Keras keeps it
    assert capsys.readouterr().out.startswith("2/2 - ")     # 33 digits: steps of 32 and 1 (one epoch: no header, as Keras)


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as sys.stdout does in a console."""
    def isatty(self):
        return True


def test_fit_on_a_terminal_redraws_its_bar_in_place_and_verbose_2_does_not(rng, monkeypatch):
    x, y = random_batch(rng, n=40)
    screen = Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    ticks = iter(range(10 ** 6))
    monkeypatch.setattr("time.perf_counter", lambda: float(next(ticks)))     # a second between calls: all drawn
    running = []

    class Running(numpy_impl.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            running.append({name: f"{value:.4f}" for name, value in logs.items()})
    small_model().fit(x, y, batch_size=8, verbose=1, validation_split=0.2,   # 32 samples to train on: 4 steps
                      callbacks=[Running()])
    drawn = screen.getvalue()
    assert drawn.startswith("\r1/4 [=======>......................] ETA ")
    assert [part[:3] for part in drawn.split("\r")[1:]] == ["1/4", "2/4", "3/4", "4/4"]   # each step once
    for part, logs in zip(drawn.split("\r")[1:4], running):                 # the running means, as Keras's
        assert dict(re.findall(r"(\w+): (\d+\.\d{4})", part)) == logs
    assert drawn.count("\n") == 1 and drawn.endswith("\n") and "val_loss" in drawn.split("\r")[-1]
    screen.seek(0)
    screen.truncate()
    small_model().fit(x, y, batch_size=8, verbose=2)
    assert "\r" not in screen.getvalue() and screen.getvalue().startswith("5/5 - ")
    screen.seek(0)
    screen.truncate()
    small_model().fit(x, y, batch_size=8, epochs=2, verbose=0, validation_split=0.25)
    assert screen.getvalue() == ""


def test_evaluate_prints_one_line_with_keras_steps_and_its_whole_time(rng, monkeypatch):
    """verbose=2: "steps/steps - time - time per step - metrics", steps counted at Keras's batch
    of 32 (33 digits: 2 steps), the time from the call's start; verbose=1 draws the finished bar
    once, as a plain line even on a terminal."""
    x, y = random_batch(rng, n=33)
    model = small_model()
    clock = [100.0]
    monkeypatch.setattr("time.perf_counter", lambda: clock[0])
    inner = model._evaluate

    def ten_seconds_of_evaluating(*args, **kwargs):
        clock[0] += 10.0
        return inner(*args, **kwargs)
    model._evaluate = ten_seconds_of_evaluating
    screen = Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    model.evaluate(x, y, verbose=2)
    assert screen.getvalue().startswith("2/2 - 10s - 5000ms/step - accuracy: ")
    screen.seek(0)
    screen.truncate()
    model.evaluate(x, y, verbose=1)
    assert screen.getvalue().startswith("2/2 [==============================] ")


def test_dense_writes_z_into_one_work_array_while_the_batch_size_stays(rng):
    """docs/speed.md: z = x @ kernel + bias goes into the same (B, units) array each step (no allocation),
    a new batch size gets its own, and the numbers are those of the formula every time."""
    layer = numpy_impl.layers.Dense(3)
    layer(np.ones((4, 2)))                                                      # built, in float32
    x1, x2, x3 = (rng.normal(size=(n, 2)).astype("float32") for n in (4, 4, 5))
    z1 = layer.affine(x1)
    np.testing.assert_array_equal(z1, x1 @ layer.kernel + layer.bias)
    z2 = layer.affine(x2)
    assert z2 is z1
    np.testing.assert_array_equal(z2, x2 @ layer.kernel + layer.bias)
    z3 = layer.affine(x3)
    assert z3.shape == (5, 3) and not np.shares_memory(z3, z1)
    np.testing.assert_array_equal(z3, x3 @ layer.kernel + layer.bias)


@pytest.mark.parametrize("hidden, dropout", [((5, 4), 0.0), ((), 0.0), ((5,), (0.2, 0.0))])
def test_no_layer_computes_a_gradient_for_the_data(rng, hidden, dropout):
    """dL/dx of the first Dense layer (after an input Dropout too) is of no use, and never computed:
    the floor of docs/speed.md counts no such matmul. Every other Dense layer hands its dL/dx down."""
    model = small_model(hidden=hidden, dropout=dropout)
    x, y = random_batch(rng, n=8)
    model.fit(x, y, batch_size=8, verbose=0)
    dense = [layer for layer in model.layers if isinstance(layer, numpy_impl.layers.Dense)]
    made = ["grad_inputs" in layer.__dict__.get("_buffers", {}) for layer in dense]
    assert made == [False] + [True] * (len(dense) - 1)


def test_numpy_impl_imports_no_framework():
    code = ("import sys, numpy_impl; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'torch', 'jax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_readme_five_lines_run_against_numpy_impl(rng):
    from numpy_impl import SGD, Dense, Input, Sequential
    x, y = random_batch(rng, n=64, features=784, classes=10, dtype="float32")
    model = Sequential([Input(shape=(784,)), Dense(128, activation="relu"), Dense(10, activation="softmax")])
    model.compile(optimizer=SGD(learning_rate=0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    loss, accuracy = model.evaluate(x, y)
    # evaluate against the cross-entropy and accuracy computed here from predict's probabilities
    probabilities = model.predict(x).astype(np.float64)
    assert loss == pytest.approx(-np.mean(np.log((probabilities * y).sum(axis=1))), rel=1e-5)
    assert accuracy == np.mean(probabilities.argmax(axis=1) == y.argmax(axis=1))
    assert len(history.history["loss"]) == 2 and list(history.history) == ["accuracy", "loss"]
    assert [w.shape for w in model.get_weights()] == [(784, 128), (128,), (128, 10), (10,)]


def test_the_progress_bar_redraws_at_most_every_min_interval_and_always_at_the_end(monkeypatch):
    """On a terminal: the first update draws, then only updates min_interval or more after the last
    draw (0.25 s here; the clock's times are exact in binary), and the last step always; the bar is
    30 characters wide unless told."""
    clock = [0.0]
    monkeypatch.setattr("time.perf_counter", lambda: clock[0])
    terminal = Terminal()
    bar = numpy_impl.progress.ProgressBar(8, stream=terminal, min_interval=0.25, start=0.0)
    for step, now in zip(range(1, 9), [1.0, 1.125, 1.25, 1.375, 1.5, 1.5, 1.625, 2.0]):
        clock[0] = now
        bar.update(step, {})
    lines = terminal.getvalue().split("\r")[1:]
    assert [int(line.split("/")[0]) for line in lines] == [1, 3, 5, 8]
    # the ETA: the time so far per step, times the steps left (1.25 s / 3 * 5 = 2.08 s at step 3);
    # at the end: the whole time, and the time per step
    assert [line.split("] ")[1] for line in lines] == ["ETA 7s", "ETA 2s", "ETA 1s", "2.0s 250.00ms/step\n"]
    assert lines[-1].startswith("8/8 [" + "=" * 30 + "] ")
    clock[0] = 0.0                                      # the first update draws, whatever the clock reads
    early = Terminal()
    numpy_impl.progress.ProgressBar(8, stream=early, min_interval=0.25, start=0.0).update(1, {})
    assert early.getvalue().startswith("\r1/8 [")


def test_the_progress_bar_on_a_terminal_redraws_one_line_in_place():
    """On a terminal, "\\r" and the bar so far: step 5 of 10 is half full, with its head; the last step fills it.
    Anywhere else (a file, a pipe, the test's own capture) no carriage returns."""
    terminal = Terminal()
    bar = numpy_impl.progress.ProgressBar(10, width=30, stream=terminal, min_interval=0.0, start=0.0)
    bar.update(5, {"loss": 0.5})
    bar.update(10, {"loss": 0.25})
    half, full = terminal.getvalue().split("\r")[1:]
    assert half.startswith(" 5/10 [" + "=" * 15 + ">" + "." * 14 + "] ETA ") and half.endswith(" - loss: 0.5000")
    assert full.startswith("10/10 [" + "=" * 30 + "] ") and full.endswith(" - loss: 0.2500\n")
    class Writer:                                                          # no isatty at all: not a terminal
        text = ""

        def write(self, text):
            self.text += text

        def flush(self):
            pass
    plain = Writer()
    numpy_impl.progress.ProgressBar(10, stream=plain, min_interval=0.0).update(10, {})
    assert plain.text.startswith("10/10 [") and "\r" not in plain.text

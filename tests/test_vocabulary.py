"""Adam, RMSprop, L2, Dropout, Flatten, integer labels and logits: each proven equal to Keras."""
import io
import re
from contextlib import redirect_stdout

import numpy as np
import pytest

import keras_impl
import numpy_impl
from compare.gradcheck import finite_difference_check, gradient_agreement

from .conftest import random_batch
from .sampling import every

# name -> build_model arguments; each trains in lockstep against Keras below
VOCABULARY = {
    "adam": dict(optimizer="adam", learning_rate=0.01),
    "adam amsgrad": dict(optimizer="adam", learning_rate=0.01, optimizer_options={"amsgrad": True}),
    "rmsprop": dict(optimizer="rmsprop", learning_rate=0.01),
    "rmsprop centered": dict(optimizer="rmsprop", learning_rate=0.01, optimizer_options={"centered": True}),
    "rmsprop momentum": dict(optimizer="rmsprop", learning_rate=0.01, momentum=0.9),
    "sgd nesterov l2": dict(learning_rate=0.05, momentum=0.9, nesterov=True, l2=0.01),
    "sparse labels, logits": dict(learning_rate=0.05, loss="sparse_categorical_crossentropy", from_logits=True),
    "one-hot labels, logits": dict(learning_rate=0.05, from_logits=True),
    "flatten": dict(learning_rate=0.05, input_shape=(4, 5)),
    "adamw": dict(optimizer="adamw", learning_rate=0.01, optimizer_options={"weight_decay": 0.05}),
    "adagrad": dict(optimizer="adagrad", learning_rate=0.05),
    "sgd momentum weight_decay": dict(learning_rate=0.05, momentum=0.9, optimizer_options={"weight_decay": 0.01}),
    "rmsprop clipnorm": dict(optimizer="rmsprop", learning_rate=0.01, optimizer_options={"clipnorm": 0.05}),
    "adam global_clipnorm": dict(optimizer="adam", learning_rate=0.01, optimizer_options={"global_clipnorm": 0.1}),
    "sgd clipvalue": dict(learning_rate=0.05, optimizer_options={"clipvalue": 0.01}),
    "sgd l1": dict(learning_rate=0.05, l1=0.001),
    "adam l1l2": dict(optimizer="adam", learning_rate=0.01, l1=0.001, l2=0.01),
    "sgd momentum batchnorm": dict(learning_rate=0.05, momentum=0.9, batchnorm=True),
    "adam layernorm": dict(optimizer="adam", learning_rate=0.01, layernorm=True),
    "sgd softmax hidden": dict(learning_rate=0.5, activation="softmax"),
    "sgd momentum layernorm softmax": dict(learning_rate=0.05, momentum=0.9, layernorm=True, activation="softmax"),
}


def twins(dtype, **kwargs):
    options = dict(input_dim=20, hidden=(16, 12), num_classes=4, seed=3, dtype=dtype, **kwargs)
    numpy_model = numpy_impl.build_model(**options)
    keras_model = eager(keras_impl.build_model(**options))
    keras_model.set_weights(numpy_model.get_weights())
    return numpy_model, keras_model


def eager(keras_model):
    """Keras runs these few steps op by op: tracing its train function (about a second a model)
    would cost more than the steps. The arithmetic is the same ops in the same order."""
    keras_model.run_eagerly = True
    return keras_model


def data(rng, dtype, kwargs, n=203):
    x, y = random_batch(rng, n=n, features=20, classes=4, dtype=dtype)
    x = x.reshape((n,) + kwargs.get("input_shape", (20,)))
    return x, (y.argmax(axis=1) if kwargs.get("loss") == "sparse_categorical_crossentropy" else y)


# the optimizers' options (clipping, decay) run in float64 only: in float32 they would repeat
# their optimizers' own float32 runs, at a second and a half each
OPTIONS = ("sgd momentum weight_decay", "rmsprop clipnorm", "adam global_clipnorm", "sgd clipvalue", "sgd l1",
           "adam l1l2")
LOCKSTEP = [(name, "float64", 1e-13) for name in VOCABULARY] + \
           [(name, "float32", 1e-4) for name in VOCABULARY if name not in OPTIONS]


@pytest.mark.slow
@pytest.mark.parametrize("name,dtype,bound", LOCKSTEP)
def test_two_epochs_in_lockstep_with_keras(rng, name, dtype, bound):
    kwargs = VOCABULARY[name]
    numpy_model, keras_model = twins(dtype, **kwargs)
    x, y = data(rng, dtype, kwargs)                    # 203 = 6 * 32 + 11: a partial last batch
    history_np = numpy_model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    history_tf = keras_model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    for w_np, w_tf in zip(numpy_model.get_weights(), keras_model.get_weights()):
        assert np.abs(w_np - w_tf).max() < bound, name
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(history_np.history[key], history_tf.history[key], rtol=0, atol=bound)
    np.testing.assert_allclose(numpy_model.evaluate(x, y), keras_model.evaluate(x, y, verbose=0), rtol=0, atol=bound)
    np.testing.assert_allclose(numpy_model.predict(x), keras_model.predict(x, verbose=0), rtol=0, atol=bound)


@pytest.mark.parametrize("name", ["sgd nesterov l2", "sparse labels, logits", "adam", "sgd softmax hidden"])
def test_same_loss_and_gradients_as_tensorflow(rng, name):
    kwargs = VOCABULARY[name]
    numpy_model, keras_model = twins("float64", **kwargs)
    x, y = data(rng, "float64", kwargs, n=40)
    loss_np, grads_np = numpy_impl.loss_and_gradients(numpy_model, x, y)
    loss_tf, grads_tf = keras_impl.loss_and_gradients(keras_model, x, y)
    assert abs(loss_np - loss_tf) < 1e-13
    assert max(gradient_agreement(grads_np, grads_tf)) < 1e-13


def test_l2_penalty_worked_by_hand(rng):
    """loss = mean cross-entropy + l2 * sum over kernels of W**2; its gradient 2 * l2 * W."""
    plain = numpy_impl.build_model(input_dim=6, hidden=(5,), num_classes=3, dtype="float64")
    penalised = numpy_impl.build_model(input_dim=6, hidden=(5,), num_classes=3, dtype="float64", l2=0.01)
    x, y = random_batch(rng, n=10)
    loss, grads = numpy_impl.loss_and_gradients(plain, x, y)
    loss_l2, grads_l2 = numpy_impl.loss_and_gradients(penalised, x, y)
    kernels = plain.get_weights()[0::2]
    assert loss_l2 == pytest.approx(loss + 0.01 * sum((k ** 2).sum() for k in kernels), abs=1e-15)
    for kernel, g, g_l2 in zip(kernels, grads[0::2], grads_l2[0::2]):
        np.testing.assert_allclose(g_l2, g + 2 * 0.01 * kernel, rtol=0, atol=1e-15)
    for g, g_l2 in zip(grads[1::2], grads_l2[1::2]):
        np.testing.assert_array_equal(g, g_l2)                        # biases are not penalised
    assert penalised.evaluate(x, y)[0] == pytest.approx(loss_l2, abs=1e-15)


@pytest.mark.parametrize("trap", ["adam betas", "l2"])
def test_float64_keras_traps_each_matter(rng, trap):
    """Keras casts Adam's beta_1 and beta_2 (in their powers) and L2's l2 through float32
    when they are Python floats; keras_impl hands them over as np.float64. Undo that, as a
    user writing plain Keras would have it, and the float64 twins part by more than 1e-13."""
    import keras
    kwargs = dict(optimizer="adam", learning_rate=0.01) if trap == "adam betas" else dict(l2=0.01, learning_rate=0.1)
    numpy_model, keras_model = twins("float64", **kwargs)
    if trap == "adam betas":
        with keras_impl.model._floatx("float64"):
            keras_model.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy",
                                metrics=["accuracy"])
    else:
        for layer in keras_model.layers:
            layer.kernel_regularizer.l2 = float(layer.kernel_regularizer.l2)
    x, y = random_batch(rng, n=256, features=20, classes=4)
    numpy_model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    keras_model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    largest = max(np.abs(a - b).max() for a, b in zip(numpy_model.get_weights(), keras_model.get_weights()))
    assert largest > 1e-13


# ---- Dropout: the same layer as Keras's, given Keras's own mask -----------------------------

def keras_mask(layer, shape):
    """The mask Keras's Dropout draws on its next training call: ones through the layer, then rewind."""
    state = layer.seed_generator.state.numpy().copy()
    kept = layer(np.ones(shape), training=True).numpy() != 0
    layer.seed_generator.state.assign(state)
    return kept


def test_dropout_forward_and_backward_equal_keras_on_its_mask(rng):
    import keras
    import tensorflow as tf
    rate = 0.3
    x = rng.standard_normal((16, 12))
    upstream = rng.standard_normal((16, 12))
    keras_layer = keras.layers.Dropout(rate, seed=11, dtype="float64")
    mask = keras_mask(keras_layer, x.shape)
    assert 0.5 < mask.mean() < 0.9
    x_tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tensor)
        out_tf = keras_layer(x_tensor, training=True)
        objective = tf.reduce_sum(out_tf * upstream)
    grad_tf = tape.gradient(objective, x_tensor).numpy()

    layer = numpy_impl.Dropout(rate)
    layer.build((12,), np.random.default_rng(0), "float64")
    layer.draw_mask = lambda shape: mask                # Keras's mask, handed to the NumPy layer
    out_np = layer.forward(x, training=True)
    grad_np = layer.backward(upstream)
    assert np.abs(out_np - out_tf.numpy()).max() <= 1e-13
    assert np.abs(grad_np - grad_tf).max() <= 1e-13
    # the kept entries are scaled by 1 / (1 - rate); evaluate and predict see the identity
    np.testing.assert_allclose(out_np[mask], x[mask] / (1 - rate), rtol=1e-15)
    assert layer.forward(x, training=False) is x


def test_dropout_gradient_against_finite_differences_with_a_fixed_mask(rng):
    model = numpy_impl.build_model(input_dim=6, hidden=(8, 7), num_classes=3, dtype="float64", dropout=(0.2, 0.5, 0.5))
    dropouts = [layer for layer in model.layers if isinstance(layer, numpy_impl.Dropout)]
    assert len(dropouts) == 3
    for layer, shape in zip(dropouts, [(12, 6), (12, 8), (12, 7)]):
        fixed = np.random.default_rng(len(shape) + shape[1]).random(shape) >= layer.rate
        layer.draw_mask = lambda _shape, fixed=fixed: fixed
    x, y = random_batch(rng, n=12, features=6, classes=3)
    errors = finite_difference_check(model, x, y, entries_per_tensor=40)
    assert max(errors) < 1e-6


def test_dropout_masks_differ_between_steps_and_follow_the_seed(rng):
    x, y = random_batch(rng, n=32, features=6, classes=3)
    runs = []
    for seed in (1, 1, 2):
        model = numpy_impl.build_model(input_dim=6, hidden=(8,), num_classes=3, dropout=0.5, seed=seed, dtype="float64")
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        runs.append(model.get_weights()[0])
    np.testing.assert_array_equal(runs[0], runs[1])                  # same seed, same masks
    assert np.abs(runs[0] - runs[2]).max() > 0                        # another seed, other masks


def test_with_dropout_equal_weights_give_equal_outputs_in_evaluation_mode(rng):
    numpy_model, keras_model = twins("float64", dropout=(0.2, 0.5, 0.5), learning_rate=0.05)
    x, y = random_batch(rng, n=64, features=20, classes=4)
    numpy_model.fit(x, y, batch_size=16, epochs=1, verbose=0)         # its own masks: the twins drift apart
    keras_model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    keras_model.set_weights(numpy_model.get_weights())               # hand over the weights
    np.testing.assert_allclose(numpy_model.predict(x), keras_model.predict(x, verbose=0), rtol=0, atol=1e-13)
    np.testing.assert_allclose(numpy_model.evaluate(x, y), keras_model.evaluate(x, y, verbose=0), rtol=0, atol=1e-13)


# ---- summary() --------------------------------------------------------------------------

def rows(summary_text):
    """(type, output shape, parameter count) per layer, and the totals line."""
    layers = re.findall(r"│ \w+ \((\w+)\)\s+│ (\(None, [\d, ]+\))\s+│\s+([\d,]+) │", summary_text)
    total = re.search(r"Total params: .*", summary_text).group(0)
    return layers, total


def test_summary_reads_like_keras(rng):
    options = dict(input_shape=(28, 28), hidden=(128,), num_classes=10, dropout=0.2,
                   optimizer="adam", loss="sparse_categorical_crossentropy", from_logits=True)
    numpy_model = numpy_impl.build_model(**options)
    keras_model = keras_impl.build_model(**options)
    text = io.StringIO()
    with redirect_stdout(text):
        numpy_model.summary()
    keras_lines = []
    keras_model.summary(print_fn=lambda line, *args, **kwargs: keras_lines.append(line))
    mine, theirs = rows(text.getvalue()), rows("\n".join(keras_lines))
    assert mine == theirs
    assert mine[0] == [("Flatten", "(None, 784)", "0"), ("Dense", "(None, 128)", "100,480"),
                       ("Dropout", "(None, 128)", "0"), ("Dense", "(None, 10)", "1,290")]
    assert mine[1] == "Total params: 101,770 (397.54 KB)"


# ---- bad input to the new pieces ----------------------------------------------------------

@pytest.mark.parametrize("kwargs,message", [
    (dict(dropout=1.0), "Dropout rate must be in"),
    (dict(dropout=-0.1), "Dropout rate must be in"),
    (dict(dropout=(0.1, 0.2)), "dropout needs one rate, or 3"),
    (dict(l2=-1), "l2 must be a non-negative"),
    (dict(optimizer="adadelta"), "unknown optimizer 'adadelta'"),
    (dict(optimizer="adam", nesterov=True), "nesterov=True is an SGD option"),
    (dict(optimizer="adam", momentum=0.9), "momentum is not an option of adam: Adam's beta_1 plays that part"),
    (dict(optimizer="adagrad", momentum=0.9), "momentum is not an option of adagrad"),
    (dict(optimizer_options={"clipnorm": 1.0, "clipvalue": 0.5}), "give at most one of clipnorm, clipvalue"),
    (dict(optimizer_options={"weight_decay": -0.1}), "weight_decay must be a non-negative number"),
    (dict(optimizer_options={"clipnorm": 0}), "clipnorm must be a positive number or None"),
    (dict(loss="hinge"), "unknown loss 'hinge': use one of categorical_crossentropy, "
                         "sparse_categorical_crossentropy, binary_crossentropy, mean_squared_error, mse, "
                         "mean_absolute_error, mae"),
])
def test_nonsense_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        numpy_impl.build_model(input_dim=6, hidden=(5, 5), num_classes=3, **kwargs)


def test_labels_that_do_not_fit_the_loss(rng):
    x, y = random_batch(rng, n=10)
    sparse = numpy_impl.build_model(input_dim=6, hidden=(5,), num_classes=3, loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="for one-hot rows use loss='categorical_crossentropy'"):
        sparse.fit(x, y, verbose=0)
    onehot = numpy_impl.build_model(input_dim=6, hidden=(5,), num_classes=3)
    with pytest.raises(ValueError, match="use loss='sparse_categorical_crossentropy'"):
        onehot.fit(x, y.argmax(axis=1), verbose=0)
    with pytest.raises(ValueError, match="integer labels 0..2"):
        sparse.fit(x, np.full(10, 3), verbose=0)


def test_softmax_output_with_from_logits_is_refused():
    model = numpy_impl.Sequential([numpy_impl.Input((6,)), numpy_impl.Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match="with from_logits=True needs the last layer to be Dense"):
        model.compile(optimizer="adam", loss=numpy_impl.SparseCategoricalCrossentropy(from_logits=True))


# ---- the options every optimizer takes: clipping and weight decay ---------------------------------

@pytest.mark.parametrize("name", ["adamw", "sgd momentum weight_decay", "rmsprop clipnorm", "adam global_clipnorm",
                                  "sgd clipvalue"])
def test_each_option_changes_the_run(rng, name):
    """Not vacuous: the clip or the decay acts in these runs (so the lockstep above proves it equal)."""
    kwargs = dict(VOCABULARY[name])
    options = kwargs.pop("optimizer_options")
    if kwargs.get("optimizer") == "adamw":
        kwargs["optimizer"] = "adam"                    # AdamW is Adam with the decay
    x, y = data(rng, "float64", kwargs)
    weights = []
    for extra in (options, {}):
        model = numpy_impl.build_model(input_dim=20, hidden=(16, 12), num_classes=4, seed=3, dtype="float64",
                                       optimizer_options=extra, **kwargs)
        model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
        weights.append(model.get_weights())
    assert max(np.abs(a - b).max() for a, b in zip(*weights)) > 1e-6


def test_clipping_by_hand():
    g = [np.array([3.0, 4.0]), np.array([12.0])]               # norms 5 and 12; together 13
    clip = lambda **option: numpy_impl.SGD(**option).clip(g)   # noqa: E731
    np.testing.assert_allclose(clip(clipnorm=1.0)[0], [0.6, 0.8])
    np.testing.assert_allclose(clip(clipnorm=1.0)[1], [1.0])
    np.testing.assert_allclose(clip(clipnorm=100.0)[0], [3.0, 4.0])                    # under the norm: as is
    np.testing.assert_allclose(np.concatenate(clip(global_clipnorm=1.3)), [0.3, 0.4, 1.2])   # 1.3 / 13
    np.testing.assert_allclose(np.concatenate(clip(global_clipnorm=20.0)), [3.0, 4.0, 12.0])  # under it: as is
    np.testing.assert_allclose(np.concatenate(clip(clipvalue=3.5)), [3.0, 3.5, 3.5])


@pytest.mark.parametrize("kind, options", [
    ("SGD", {}), ("SGD", dict(momentum=0.9)), ("SGD", dict(momentum=0.9, nesterov=True)), ("Adam", {}),
    ("Adam", dict(amsgrad=True)), ("AdamW", {}), ("SGD", dict(weight_decay=0.1))], ids=str)
@pytest.mark.parametrize("dtype", ["float64", "float32"])       # float32: the work arrays must be float32 too
def test_updates_block_by_block_are_the_whole_array_updates_bit_for_bit(kind, options, dtype, monkeypatch):
    """The updates run block by block over weights larger than optimizers.BLOCK (the lockstep
    tests' weights, proven equal to Keras, fit in one block): every whole block, the last part
    block, and a weight stored in Fortran order (taken whole) must come out exactly as the
    same update over whole arrays."""
    rng = np.random.default_rng(0)
    block = numpy_impl.optimizers.BLOCK
    assert block < 600 * 500 < 700 * 1000 < 3 * block
    weights = [rng.standard_normal((700, 1000)).astype(dtype), rng.standard_normal(1000).astype(dtype),
               np.asfortranarray(rng.standard_normal((600, 500)).astype(dtype))]      # > BLOCK, not C-contiguous
    grads = [[rng.standard_normal(w.shape).astype(dtype) for w in weights] for _ in range(3)]
    results = []
    for size in (block, 10 ** 9):                          # block by block, then each array in one block
        monkeypatch.setattr(numpy_impl.optimizers, "BLOCK", size)
        updated = [w.copy(order="K") for w in weights]
        optimizer = getattr(numpy_impl.optimizers, kind)(learning_rate=0.01, **options)
        for step in grads:
            optimizer.apply(step, updated)
        results.append(updated)
    assert results[0][2].flags.f_contiguous and not results[0][2].flags.c_contiguous
    for blocked, whole, start in zip(*results, weights):
        moved = (whole != start).mean()         # every entry moved (in float32, a few steps fall under half an ulp)
        assert moved == 1.0 if dtype == "float64" else moved > 0.99
        np.testing.assert_array_equal(blocked, whole)


def test_weight_decay_by_hand():
    """One step of SGD(0.1, weight_decay=0.5) from w = 2 with gradient 1: decay w - w * 0.5 * 0.1 = 1.9,
    then the step 1.9 - 0.1 * 1 = 1.8, the gradient taken before the decay."""
    w = np.array([2.0])
    numpy_impl.SGD(0.1, weight_decay=0.5).apply([np.array([1.0])], [w])
    assert w[0] == pytest.approx(1.8, rel=1e-15)


# ---- learning-rate schedules, stepped as Keras steps them ------------------------------------------------

SCHEDULES = {      # package, exact -> a schedule; exact() keeps a float64 twin's numbers float64 in Keras
    "exponential": lambda p, exact: p.optimizers.schedules.ExponentialDecay(exact(0.1), 3, exact(0.5)),
    "exponential staircase": lambda p, exact: p.optimizers.schedules.ExponentialDecay(
        exact(0.1), 3, exact(0.5), staircase=True),
    "cosine": lambda p, exact: p.optimizers.schedules.CosineDecay(exact(0.1), 10, alpha=0.1),
    "cosine with warmup": lambda p, exact: p.optimizers.schedules.CosineDecay(
        exact(0.01), 8, warmup_target=exact(0.1), warmup_steps=5),
    "piecewise constant": lambda p, exact: p.optimizers.schedules.PiecewiseConstantDecay(
        [4, 9], [exact(0.1), exact(0.05), exact(0.01)]),
}


@pytest.mark.parametrize("name, optimizer", every(2, [("exponential", "sgd"), ("exponential staircase", "adam"),
                                                       ("cosine", "sgd"), ("cosine with warmup", "adam"),
                                                       ("piecewise constant", "sgd")], names=2))
def test_schedules_in_lockstep_with_keras(rng, name, optimizer):
    import keras
    options = dict(input_dim=20, hidden=(16, 12), num_classes=4, seed=3, dtype="float64", optimizer=optimizer,
                   optimizer_options={"weight_decay": 0.01})           # the decay follows the schedule too
    numpy_model = numpy_impl.build_model(learning_rate=SCHEDULES[name](numpy_impl, float), **options)
    keras_model = eager(keras_impl.build_model(learning_rate=SCHEDULES[name](keras, np.float64), **options))
    keras_model.set_weights(numpy_model.get_weights())
    x, y = data(rng, "float64", {})                   # 7 steps an epoch: warmup, decay and the flat end
    history_np = numpy_model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    history_tf = keras_model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    for w_np, w_tf in zip(numpy_model.get_weights(), keras_model.get_weights()):
        assert np.abs(w_np - w_tf).max() < 1e-13, name
    np.testing.assert_allclose(history_np.history["loss"], history_tf.history["loss"], rtol=0, atol=1e-13)
    assert numpy_model.optimizer.iterations == 14


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedules_give_keras_values_step_by_step(name):
    import keras
    mine, theirs = SCHEDULES[name](numpy_impl, float), SCHEDULES[name](keras, np.float64)
    np.testing.assert_allclose([mine(step) for step in range(20)], [float(theirs(step)) for step in range(20)],
                               rtol=1e-15, atol=0)
    assert len({mine(step) for step in range(20)}) > 2              # it does change the rate


SPECS = {         # build_model(schedule=...)'s plain description -> the Keras schedule it stands for, at lr 0.1
    "cosine": (dict(name="cosine", decay_steps=10), lambda k: k.optimizers.schedules.CosineDecay(0.1, 10)),
    "exponential": (dict(name="exponential", decay_steps=10, decay_rate=0.01),
                    lambda k: k.optimizers.schedules.ExponentialDecay(0.1, 10, 0.01)),
    "piecewise": (dict(name="piecewise", boundaries=[4, 8], factors=[1.0, 0.1, 0.01]),
                  lambda k: k.optimizers.schedules.PiecewiseConstantDecay([4, 8], [0.1, 0.01, 0.001])),
}


@pytest.mark.parametrize("name", list(SPECS))
def test_build_model_steps_the_schedule_its_spec_describes(name):
    import keras
    spec, keras_schedule = SPECS[name]
    expected = [float(keras_schedule(keras)(step)) for step in range(12)]
    options = dict(input_dim=4, hidden=(3,), num_classes=2, learning_rate=0.1, schedule=spec)
    mine, theirs = numpy_impl.build_model(**options), keras_impl.build_model(**options)
    assert [mine.optimizer.schedule(step) for step in range(12)] == pytest.approx(expected, rel=1e-6)
    assert [float(theirs.optimizer._learning_rate(step)) for step in range(12)] == pytest.approx(expected, rel=1e-6)
    assert len(set(expected)) > 2                                    # it does change the rate


@pytest.mark.parametrize("kind, factors", [("L1", dict(l1=0.01)), ("L1L2", dict(l1=0.01, l2=0.02)),
                                           ("L2", dict(l2=0.02))])
def test_regularizers_penalty_and_gradient(rng, kind, factors):
    """The penalty equals Keras's own regularizer's in float64 (its factors kept exact), and the
    gradient is l1 * sign(W) + 2 * l2 * W, by hand, with 0 where W is 0."""
    import keras
    kernel = rng.normal(size=(5, 4))
    kernel[0, 0] = 0.0
    mine = getattr(numpy_impl.regularizers, kind)(**factors)
    theirs = getattr(keras.regularizers, kind)(**factors)
    for name, value in factors.items():                # Keras keeps a float32 copy: re-store it exact
        setattr(theirs, name, np.float64(value))
    assert mine(kernel) == pytest.approx(float(theirs(kernel)), rel=1e-15)
    l1, l2 = factors.get("l1", 0.0), factors.get("l2", 0.0)
    np.testing.assert_allclose(mine.gradient(kernel), l1 * np.sign(kernel) + 2 * l2 * kernel, rtol=1e-15)
    assert mine.gradient(kernel)[0, 0] == 0.0


# ---- validation_split and EarlyStopping --------------------------------------------------------------

@pytest.mark.parametrize("monitor, restore", [("val_loss", True), ("val_accuracy", False)])
def test_validation_split_and_early_stopping_as_keras(rng, monitor, restore):
    """Random labels and a large step: the validation loss soon rises, and both twins must stop
    at the same epoch, with the same History, holding the same (restored) weights."""
    import keras
    numpy_model, keras_model = twins("float64", learning_rate=0.3, momentum=0.9)
    x, y = data(rng, "float64", {}, n=120)
    histories = []
    for model, package in ((numpy_model, numpy_impl), (keras_model, keras)):
        stopper = package.callbacks.EarlyStopping(monitor=monitor, patience=1, restore_best_weights=restore)
        history = model.fit(x, y, batch_size=16, epochs=12, shuffle=False, verbose=0,
                            validation_split=0.25, callbacks=[stopper])
        histories.append(history.history)
        histories[-1]["stopped_epoch"] = stopper.stopped_epoch
        histories[-1]["epochs"] = history.epoch                   # History.epoch: [0, 1, ...], as Keras's
    assert 0 < histories[0]["stopped_epoch"] < 11                  # it did stop early
    assert histories[0]["stopped_epoch"] == histories[1]["stopped_epoch"]
    assert histories[0]["epochs"] == histories[1]["epochs"] == list(range(histories[0]["stopped_epoch"] + 1))
    assert sorted(k for k in histories[0] if k not in ("stopped_epoch", "epochs")) == \
        ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key in ("loss", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(histories[0][key], histories[1][key], rtol=0, atol=1e-13)
    for w_np, w_tf in zip(numpy_model.get_weights(), keras_model.get_weights()):
        assert np.abs(w_np - w_tf).max() < 1e-13


def test_validation_split_holds_out_the_last_samples(rng):
    """validation_split=0.25 of 10 samples: the last 3 (10 - floor(7.5)), as Keras cuts them."""
    x, y = random_batch(rng, n=10, features=20, classes=4)
    cut = numpy_impl.build_model(input_dim=20, hidden=(5,), num_classes=4, seed=0, dtype="float64")
    given = numpy_impl.build_model(input_dim=20, hidden=(5,), num_classes=4, seed=0, dtype="float64")
    split = cut.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, validation_split=0.25).history
    explicit = given.fit(x[:7], y[:7], batch_size=4, epochs=1, shuffle=False, verbose=0,
                         validation_data=(x[7:], y[7:])).history
    assert split == explicit
    with pytest.raises(ValueError, match="validation_split must be in"):
        cut.fit(x, y, verbose=0, validation_split=1.0)
    with pytest.raises(ValueError, match=r"^EarlyStopping monitors 'val_loss', which fit does not report; it "
                                         r"reports accuracy, loss \(val_ figures need validation_data or "
                                         r"validation_split\)$"):
        cut.fit(x, y, verbose=0, callbacks=[numpy_impl.EarlyStopping()])


@pytest.mark.parametrize("min_delta", [0.0, 0.05])
@pytest.mark.parametrize("monitor, values", [
    ("val_loss", [1.0, 0.9, 0.87, 0.80, 0.78, 0.70, 0.69, 0.60]),
    ("val_accuracy", [0.5, 0.6, 0.62, 0.7, 0.71, 0.8, 0.81, 0.9]),
])
@pytest.mark.parametrize("patience", [0, 1])
def test_early_stopping_rule_equals_keras_callback(monitor, values, min_delta, patience):
    """numpy_impl's EarlyStopping and Keras's own, fed the same epoch logs: the same stopping epoch.
    An improvement must beat the best by more than min_delta, in the monitor's direction."""
    import keras

    class Model:
        stop_training = False
        metrics = []

        def get_weights(self):
            return []

    stops = []
    for callback in (numpy_impl.EarlyStopping(monitor=monitor, min_delta=min_delta, patience=patience,
                                              mode="max" if "accuracy" in monitor else "auto"),
                     keras.callbacks.EarlyStopping(monitor=monitor, min_delta=min_delta, patience=patience,
                                                   mode="max" if "accuracy" in monitor else "auto")):
        model = Model()
        callback.set_model(model)
        callback.on_train_begin()
        stops.append(next((epoch for epoch, value in enumerate(values)
                           if callback.on_epoch_end(epoch, {monitor: value}) or model.stop_training), None))
    assert stops[0] == stops[1]
    assert (stops[0] is not None) == (min_delta > 0)          # every step improves, by less than 0.05 at times

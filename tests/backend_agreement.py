"""Run as `KERAS_BACKEND=<backend> python -m tests.backend_agreement`: the twin checks on one
Keras backend, printed as one JSON object for tests/test_backends.py to judge.

Keras picks its backend once per process, so each backend is checked in a process of
its own. Data: the first 10,000 MNIST digits when MNIST_PATH is set (the figures in
docs/backends.md; AGREEMENT_DIGITS=N for the first N, as the tests ask), else 2,000
random digits of the same shape; MNIST_PATH set to a path that does not exist is an error.

`python -m tests.backend_agreement --pieces` trains issue 16's pieces on the full 10,000 instead,
and `--textbook` issue 45's (activations, losses, Nielsen's network).
"""
import json
import os

import keras
import numpy as np

import keras_impl
import numpy_impl
from compare.data import load_mnist, preprocess


def data(dtype):
    path = os.environ.get("MNIST_PATH")
    if path and not os.path.exists(path):       # set but wrong: an error, never random data in its place
        raise SystemExit(f"MNIST_PATH={path} does not exist: point it at a mnist.npz or a folder of IDX files, "
                         "or unset it to check on 2,000 random digits")
    if path:
        (images, labels), _ = load_mnist(path)
        digits = int(os.environ.get("AGREEMENT_DIGITS", 10000))     # the tests ask for fewer (see test_backends)
        images, labels = images[:digits], labels[:digits]
    else:
        rng = np.random.default_rng(0)
        images, labels = rng.integers(0, 256, (2000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 2000)
    return preprocess(images, labels, dtype, 10) + (labels,)


def twins(**options):
    numpy_model = numpy_impl.build_model(**options)
    keras_model = keras_impl.build_model(**options)
    keras_model.set_weights(numpy_model.get_weights())
    return numpy_model, keras_model


def max_difference(a, b):
    return max(float(np.max(np.abs(np.asarray(u, np.float64) - np.asarray(v, np.float64)))) for u, v in zip(a, b))


def lockstep(dtype, **extra):
    """One epoch of SGD (the seed model's learning rate 0.01) with Nesterov momentum 0.9, batch 32,
    the same batches: how far apart the twins end."""
    x, y, labels = data(dtype)
    options = dict(learning_rate=0.01, momentum=0.9, nesterov=True, seed=0, dtype=dtype, **extra)
    numpy_model, keras_model = twins(**options)
    if options.get("loss") == "sparse_categorical_crossentropy":
        y = labels.astype(np.int64)
    history = [model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0).history["loss"][0]
               for model in (numpy_model, keras_model)]
    evaluated = [model.evaluate(x, y, verbose=0) for model in (numpy_model, keras_model)]
    predicted = [np.asarray(model.predict(x, verbose=0)) for model in (numpy_model, keras_model)]
    return {"weights": max_difference(numpy_model.get_weights(), keras_model.get_weights()),
            "history_loss": abs(history[0] - history[1]),
            "evaluate_loss": abs(evaluated[0][0] - evaluated[1][0]),
            "probabilities": float(np.abs(predicted[0] - predicted[1]).max()),
            "probabilities_sum_to_one": float(np.abs(predicted[1].sum(axis=1) - 1).max()),
            "keras_dtype": str(keras_model.get_weights()[0].dtype),
            "samples": len(x)}


def gradients(dtype, **options):
    x, y, _ = data(dtype)
    numpy_model, keras_model = twins(seed=0, dtype=dtype, **options)
    loss_np, grads_np = numpy_impl.loss_and_gradients(numpy_model, x[:64], y[:64])
    loss_keras, grads_keras = keras_impl.loss_and_gradients(keras_model, x[:64], y[:64])
    return {"relative": max(float(np.abs(a - b).max() / np.abs(a).max()) for a, b in zip(grads_np, grads_keras)),
            "loss": abs(loss_np - loss_keras), "dtype": str(grads_keras[0].dtype)}


def vocabulary():
    """Three steps of each of the rest of the vocabulary, float64: largest weight difference."""
    x, y, labels = data("float64")
    x, y, labels = x[:96], y[:96], labels[:96]
    settings = {"adam": dict(optimizer="adam", learning_rate=0.01),
                "rmsprop centered, momentum": dict(optimizer="rmsprop", learning_rate=0.01, momentum=0.5,
                                                   optimizer_options=dict(centered=True)),
                "sgd + l2": dict(learning_rate=0.1, l2=0.01),
                "sparse, from_logits": dict(learning_rate=0.1, loss="sparse_categorical_crossentropy",
                                            from_logits=True)}
    result = {}
    for name, options in settings.items():
        numpy_model, keras_model = twins(seed=0, dtype="float64", **options)
        targets = labels.astype(np.int64) if options.get("from_logits") else y
        for model in (numpy_model, keras_model):
            model.fit(x, targets, batch_size=32, epochs=1, shuffle=False, verbose=0)
        result[name] = max_difference(numpy_model.get_weights(), keras_model.get_weights())
    return result


# At most; EarlyStopping(patience=0) with min_delta 0.1 on 96 digits (stops after epoch 4) or 0.01 on 10,000
# (after epoch 5): the seed model's learning rate, so that several epochs still keep the twins within 1e-13
EARLY_STOPPING_EPOCHS = 8


def pieces_settings(steps):
    """Issue 16's pieces, each as build_model options (the schedules over `steps` updates)."""
    schedule = {"cosine": dict(name="cosine", decay_steps=steps),
                "exponential": dict(name="exponential", decay_steps=steps, decay_rate=0.01),
                "piecewise": dict(name="piecewise", boundaries=[steps // 2, 3 * steps // 4], factors=[1.0, 0.1, 0.01])}
    return {"batchnorm, sgd momentum": dict(batchnorm=True, learning_rate=0.05, momentum=0.9),
            "layernorm": dict(layernorm=True, learning_rate=0.05),
            "adamw": dict(optimizer="adamw", learning_rate=0.001),
            "sgd, weight_decay": dict(learning_rate=0.05, momentum=0.9, optimizer_options={"weight_decay": 0.01}),
            "adagrad": dict(optimizer="adagrad", learning_rate=0.05),
            "clipnorm 0.1": dict(learning_rate=0.1, optimizer_options={"clipnorm": 0.1}),
            **{f"schedule {name}": dict(learning_rate=0.1, schedule=spec) for name, spec in schedule.items()},
            "l1": dict(learning_rate=0.05, l1=1e-4),
            "validation_split, early stopping": dict(learning_rate=0.01, momentum=0.9)}


def pieces(samples=96, eager=None):
    """Each piece, one epoch of batch 32 in float64 from the same weights: largest weight difference
    (and for early stopping, each twin's stopping epoch, which must be the same). On 96 digits for
    the tests, Keras running eagerly where that is quicker than tracing its train step (TensorFlow
    3 s against more; JAX 17 s eagerly, 8 s compiled); on 10,000, compiled, for the issue's table."""
    if eager is None:
        eager = keras.backend.backend() != "jax"
    x, y, _ = data("float64")
    x, y = x[:samples], y[:samples]
    result = {}
    for name, options in pieces_settings(-(-samples // 32)).items():
        numpy_model, keras_model = twins(seed=0, dtype="float64", **options)
        keras_model.run_eagerly = eager
        if name.startswith("validation_split"):
            stops = []
            for model, package in ((numpy_model, numpy_impl), (keras_model, keras)):
                stopping = package.callbacks.EarlyStopping(patience=0, min_delta=0.1 if samples < 1000 else 0.01)
                history = model.fit(x, y, batch_size=32, epochs=EARLY_STOPPING_EPOCHS, shuffle=False, verbose=0,
                                    validation_split=0.2, callbacks=[stopping])
                stops.append(len(history.history["loss"]))
            result[name] = max_difference(numpy_model.get_weights(), keras_model.get_weights())
            result["stopping epochs"] = stops
            continue
        for model in (numpy_model, keras_model):
            model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
        result[name] = max_difference(numpy_model.get_weights(), keras_model.get_weights())
    return result


TEXTBOOK_ACTIVATIONS = ("sigmoid", "tanh", "leaky_relu", "elu", "selu", "softplus", "softsign", "silu", "gelu")
NIELSEN_INIT = {"name": "random_normal", "stddev": 1.0}


def textbook_settings():
    """Issue 45's pieces: each activation in the hidden layers, each loss with its output, Nielsen's network."""
    settings = {f"activation {name}": dict(activation=name) for name in TEXTBOOK_ACTIVATIONS}
    settings.update({
        "mse, sigmoid output": dict(loss="mean_squared_error", output_activation="sigmoid"),
        "mse, linear output": dict(loss="mean_squared_error"),
        "mae, linear output": dict(loss="mean_absolute_error"),
        "binary_crossentropy, sigmoid output": dict(loss="binary_crossentropy"),
        "binary_crossentropy, from_logits": dict(loss="binary_crossentropy", from_logits=True),
        "nielsen: sigmoid, mse, N(0, 1) weights and biases": dict(
            hidden=(30,), activation="sigmoid", loss="mean_squared_error", output_activation="sigmoid",
            kernel_initializer=NIELSEN_INIT, bias_initializer=NIELSEN_INIT, learning_rate=1.0, momentum=0.0)})
    return settings


def textbook(samples=96, eager=None, learning_rate=0.1):
    """Each of issue 45's pieces, one epoch of batch 32 (SGD at `learning_rate`, momentum 0.9) in float64 from
    the same weights: the largest weight difference, and of evaluate's loss and predict's outputs after it.
    On 96 digits (3 steps) 0.1; on 10,000 (313 steps) the seed preset's 0.01: at 0.1 with momentum 0.9 an
    ELU or SELU network's training runs away (SELU's weights grow past 100), and a run that runs away
    amplifies the last bit of rounding as any chaotic run does, on every engine alike."""
    if eager is None:
        eager = keras.backend.backend() != "jax"
    x, y, _ = data("float64")
    x, y = x[:samples], y[:samples]
    result = {}
    for name, options in textbook_settings().items():
        options = {"learning_rate": learning_rate, "momentum": 0.9, **options}
        numpy_model, keras_model = twins(seed=0, dtype="float64", **options)
        keras_model.run_eagerly = eager
        for model in (numpy_model, keras_model):
            model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
        evaluated = [model.evaluate(x, y, verbose=0)[0] for model in (numpy_model, keras_model)]
        predicted = [np.asarray(model.predict(x, verbose=0)) for model in (numpy_model, keras_model)]
        result[name] = {"weights": max_difference(numpy_model.get_weights(), keras_model.get_weights()),
                        "evaluate_loss": abs(evaluated[0] - evaluated[1]),
                        "outputs": float(np.abs(predicted[0] - predicted[1]).max())}
    if keras.backend.backend() == "tensorflow":          # each float32 dodge undone: TensorFlow's own op
        from keras_impl import model as keras_model_module
        real = keras_model_module._activation
        keras_model_module._activation = lambda name, dtype: name
        try:
            for name in ("leaky_relu", "gelu"):
                numpy_model, keras_model = twins(seed=0, dtype="float64", activation=name)
                gaps = [numpy_impl.loss_and_gradients(numpy_model, x, y)[1],
                        keras_impl.loss_and_gradients(keras_model, x, y)[1]]
                result[f"trap: {name} with TensorFlow's float32 constant"] = max(
                    float(np.abs(a - b).max() / np.abs(a).max()) for a, b in zip(*gaps))
        finally:
            keras_model_module._activation = real
    return result


def weighted(samples=96, eager=None, learning_rate=0.1):
    """fit with sample weights, and with class weights, one epoch of batch 32 in float64 from the same weights
    (SGD at `learning_rate`, momentum 0.9): the largest weight difference and History's loss difference."""
    if eager is None:
        eager = keras.backend.backend() != "jax"
    x, y, labels = data("float64")
    x, y, labels = x[:samples], y[:samples], labels[:samples]
    rng = np.random.default_rng(5)
    settings = {"sample_weight": dict(sample_weight=rng.uniform(0.0, 3.0, samples)),
                "class_weight": dict(class_weight={digit: 0.5 + digit / 3 for digit in range(9)})}   # 9: 1.0
    result = {}
    for name, fit_options in settings.items():
        numpy_model, keras_model = twins(seed=0, dtype="float64", learning_rate=learning_rate, momentum=0.9)
        keras_model.run_eagerly = eager
        losses = [model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0, **fit_options).history["loss"][0]
                  for model in (numpy_model, keras_model)]
        result[name] = {"weights": max_difference(numpy_model.get_weights(), keras_model.get_weights()),
                        "history_loss": abs(losses[0] - losses[1])}
    return result


def graphs(samples=96, eager=None, learning_rate=0.1):
    """Issue 46's graphs (tests/graphs.py: a functional chain, a residual network with Add, one with Concatenate,
    a subclassed Model), each one epoch of batch 32 in float64 from the same weights, SGD with momentum 0.9:
    the largest weight difference and History's loss difference. On JAX and PyTorch Keras takes a softmax
    output's cross-entropy from clipped probabilities, so each graph ends in logits and the loss takes them
    (from_logits=True), as keras_impl routes a softmax's logits there."""
    from tests.graphs import GRAPHS, build
    if eager is None:
        eager = keras.backend.backend() != "jax"
    x, y, _ = data("float64")
    x, y = x[:samples], y[:samples]
    result = {}
    for name in GRAPHS:
        mine, theirs = build(numpy_impl, name, logits=True), build(keras, name, logits=True)
        theirs.set_weights(mine.get_weights())
        theirs.run_eagerly = eager
        previous = keras.config.floatx()
        keras.config.set_floatx("float64")
        try:
            mine.compile(optimizer=numpy_impl.optimizers.SGD(learning_rate, momentum=0.9),
                         loss=numpy_impl.losses.CategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
            theirs.compile(optimizer=keras.optimizers.SGD(learning_rate, momentum=np.float64(0.9)),
                           loss=keras.losses.CategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
            losses = [model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0).history["loss"][0]
                      for model in (mine, theirs)]
        finally:
            keras.config.set_floatx(previous)
        result[name] = {"weights": max_difference(mine.get_weights(), theirs.get_weights()),
                        "history_loss": abs(losses[0] - losses[1])}
    return result


def training_loop(steps=6, learning_rate=0.1):
    """The training loop written by hand, keras.io's "Writing a training loop from scratch" on each engine: the
    gradients of each batch by the engine's autodiff (keras_impl.loss_and_gradients: GradientTape, jax.grad or
    loss.backward), then optimizer.apply_gradients(zip(grads, model.trainable_weights)); numpy_impl's by
    loss_and_gradients and its own apply_gradients. float64, SGD at `learning_rate` with momentum 0.9, batches
    of 32: the largest difference in the losses and in the weights after `steps` steps."""
    x, y, _ = data("float64")
    numpy_model, keras_model = twins(seed=0, dtype="float64")
    mine = numpy_impl.optimizers.SGD(learning_rate=learning_rate, momentum=0.9)
    previous = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        theirs = keras.optimizers.SGD(learning_rate=learning_rate, momentum=np.float64(0.9))
        loss_gap = 0.0
        for step in range(steps):
            xb, yb = x[32 * step:32 * (step + 1)], y[32 * step:32 * (step + 1)]
            my_loss, my_grads = numpy_impl.loss_and_gradients(numpy_model, xb, yb)
            mine.apply_gradients(zip(my_grads, numpy_model.trainable_weights))
            their_loss, their_grads = keras_impl.loss_and_gradients(keras_model, xb, yb)
            theirs.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in their_grads],
                                       keras_model.trainable_variables))
            loss_gap = max(loss_gap, abs(my_loss - their_loss))
    finally:
        keras.config.set_floatx(previous)
    return {"loss": loss_gap, "weights": max_difference(numpy_model.get_weights(), keras_model.get_weights())}


def traps():
    """Each backend fix in keras_impl undone in turn: how far the float64 gradients then part
    (relative to the largest entry), on a batch scaled so the largest logit is in the hundreds."""
    x, y, _ = data("float64")
    x, y = x[:64] * 40, y[:64]
    backend = keras.backend.backend()

    def gradient_gap():
        numpy_model, keras_model = twins(seed=0, dtype="float64")
        grads_np = numpy_impl.loss_and_gradients(numpy_model, x, y)[1]
        grads_keras = keras_impl.loss_and_gradients(keras_model, x, y)[1]
        return max(float(np.abs(a - b).max() / np.abs(a).max()) for a, b in zip(grads_np, grads_keras))

    result = {"with_every_fix": gradient_gap()}
    if backend == "tensorflow":
        return result
    # 1. Keras's own softmax + cross-entropy, which clips probabilities at 1e-7 here.
    real_backend = keras.backend.backend
    keras.backend.backend = lambda: "tensorflow"            # build_model then keeps the softmax layer
    try:
        numpy_model, keras_model = twins(seed=0, dtype="float64")
    finally:
        keras.backend.backend = real_backend
    grads_np = numpy_impl.loss_and_gradients(numpy_model, x, y)[1]
    grads_keras = keras_impl.loss_and_gradients(keras_model, x, y)[1]
    result["softmax_clipped"] = max(float(np.abs(a - b).max() / np.abs(a).max()) for a, b in zip(grads_np, grads_keras))
    # 2. Keras's type promotion, float64 -> float32.
    from keras.src.backend.common import dtypes
    dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float32"
    try:
        result["float64_promoted_to_float32"] = gradient_gap()
    finally:
        dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float64"
    # 3. JAX without 64-bit mode.
    if backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", False)
        try:
            result["jax_without_x64"] = gradient_gap()
        finally:
            jax.config.update("jax_enable_x64", True)
    return result


if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["--pieces"]:                  # the table: 10,000 digits, Keras compiled
        print(json.dumps({"backend": keras.backend.backend(), "pieces": pieces(10000, eager=False)}))
        sys.exit(0)
    if sys.argv[1:] == ["--textbook"]:                # issue 45's table: 10,000 digits, Keras compiled
        print(json.dumps({"backend": keras.backend.backend(),
                          "textbook": textbook(10000, eager=False, learning_rate=0.01),
                          "weighted": weighted(10000, eager=False, learning_rate=0.01),
                          "graphs": graphs(10000, eager=False, learning_rate=0.01),
                          "training_loop": training_loop(313, learning_rate=0.01)}))
        sys.exit(0)
    print(json.dumps({"backend": keras.backend.backend(),
                      "float64": lockstep("float64"), "float32": lockstep("float32"),
                      "gradients_float64": gradients("float64"), "gradients_float32": gradients("float32"),
                      "gradients_l2_float64": gradients("float64", l2=0.01),   # the penalty inside autodiff too
                      "vocabulary": vocabulary(), "pieces": pieces(), "textbook": textbook(), "weighted": weighted(),
                      "graphs": graphs(), "training_loop": training_loop(),
                      "traps": traps()}))

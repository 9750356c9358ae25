"""The Keras twin: the same network in Keras 3, on TensorFlow, JAX or PyTorch.

Read it beside numpy_impl/model.py. Everything written out by hand there is
one call here: Keras builds the layers (Dense, Dropout, Flatten), the
backend's autodiff does the backward pass (autodiff.py: GradientTape,
jax.value_and_grad or loss.backward), and `SGD`, `Adam` or `RMSprop` does
the update. What is left to write is where a float64 twin must dodge Keras's
float32 casts, and where one backend's Keras computes the loss differently.
"""
import contextlib

import keras
import numpy as np


@contextlib.contextmanager
def _floatx(dtype):
    """Keras's fit/evaluate/predict cast NumPy inputs to the global floatx;
    a float64 model needs floatx float64 while it runs, or its inputs are
    rounded to float32 first."""
    previous = keras.config.floatx()
    keras.config.set_floatx(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(previous)


class TwinRuns:
    """A Keras model that runs fit, evaluate and predict in its own float type.

    `activation_in_predict`: the last layer gives logits and the loss takes them
    (see build_model); predict applies this activation ("softmax" or "sigmoid"),
    so it returns probabilities as the model's output layer would.
    """

    activation_in_predict = None

    def fit(self, *args, **kwargs):
        with _floatx(self.twin_dtype):
            return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        with _floatx(self.twin_dtype):
            return super().evaluate(*args, **kwargs)

    def predict(self, *args, **kwargs):
        with _floatx(self.twin_dtype):
            outputs = super().predict(*args, **kwargs)
            if self.activation_in_predict:
                activation = keras.activations.get(self.activation_in_predict)
                outputs = keras.ops.convert_to_numpy(activation(keras.ops.convert_to_tensor(outputs)))
        return outputs


class TwinSequential(TwinRuns, keras.Sequential):
    """keras.Sequential with TwinRuns' float type."""


class TwinModel(TwinRuns, keras.Model):
    """A functional keras.Model (residual=True) with TwinRuns' float type."""


def build_model(input_dim=784, hidden=(128, 128), num_classes=10, learning_rate=0.01,
                momentum=0.0, nesterov=False, seed=0, dtype="float32", optimizer="sgd",
                optimizer_options=None, dropout=0.0, l2=0.0, loss="categorical_crossentropy",
                from_logits=False, input_shape=None, l1=0.0, batchnorm=False, layernorm=False,
                kernel_initializer="glorot_uniform", schedule=None, activation="relu", output_activation=None,
                bias_initializer="zeros", residual=False):
    """Dense(activation, relu unless given) for each width in `hidden`, then the output Dense; compiled.
    Same arguments as numpy_impl's (residual: Keras's functional API, x = Add()([x, Dense(x)]))."""
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    if batchnorm and layernorm:
        raise ValueError("give batchnorm or layernorm, not both")
    rates = _dropout_rates(dropout, len(hidden))
    output_activation = output_activation or _default_output_activation(loss, from_logits)
    _check_output(loss, from_logits, output_activation)
    # Keras on TensorFlow computes the cross-entropy of a softmax layer, and the binary
    # cross-entropy of a sigmoid layer, from its logits (the output carries them along);
    # on JAX and PyTorch it takes log(p) with p clipped to [1e-7, 1 - 1e-7], a different loss
    # wherever a probability passes 1e-7 (and a zero gradient there). So on those two the twin
    # routes the logits itself: the last Dense stays linear, the loss takes its logits, and
    # predict applies the activation.
    fused = (loss in CROSSENTROPIES and output_activation == "softmax") or \
        (loss == "binary_crossentropy" and output_activation == "sigmoid")
    activation_in_predict = output_activation if fused and keras.backend.backend() != "tensorflow" else None
    if activation_in_predict:
        from_logits, output_activation = True, "linear"
    layers = [keras.Input(shape=tuple(input_shape or (input_dim,)), dtype=dtype)]
    layers += [keras.layers.Flatten(dtype=dtype)] if input_shape else []
    layers += [keras.layers.Dropout(rates[0], seed=seed, dtype=dtype)] if rates[0] else []
    for index, (units, rate) in enumerate(zip(hidden, rates[1:])):
        normalized = batchnorm or layernorm
        layers.append(keras.layers.Dense(
            units, activation=None if normalized else _activation(activation, dtype), use_bias=not batchnorm,
            dtype=dtype,
            kernel_regularizer=_regularizer(l1, l2, dtype), bias_initializer=_initializer(bias_initializer, seed),
            kernel_initializer=_initializer(kernel_initializer, seed + index)))
        if normalized:
            norm = keras.layers.BatchNormalization if batchnorm else keras.layers.LayerNormalization
            layers += [norm(dtype=dtype), keras.layers.Activation(_activation(activation, dtype), dtype=dtype)]
        layers += [keras.layers.Dropout(rate, seed=seed + 100 + index, dtype=dtype)] if rate else []
    layers.append(keras.layers.Dense(
        num_classes, activation=_activation(output_activation, dtype), dtype=dtype,
        kernel_regularizer=_regularizer(l1, l2, dtype), bias_initializer=_initializer(bias_initializer, seed),
        kernel_initializer=_initializer(kernel_initializer, seed + len(hidden))))
    # Keras makes its optimizer's learning-rate variable and its loss and metric
    # trackers in the floatx of the moment: build under the twin's dtype, or a
    # float64 twin steps with 0.05 rounded to 0.0500000007 and reports float32 means.
    with _floatx(dtype):
        if residual:
            model = _residual_model(layers, hidden, dtype)
        else:
            model = TwinSequential(layers, name="sequential")
        model.twin_dtype = dtype
        model.activation_in_predict = activation_in_predict
        if schedule:
            learning_rate = _schedule(schedule, learning_rate, dtype)
        model.compile(optimizer=_optimizer(optimizer, learning_rate, momentum, nesterov, dtype,
                                           **(optimizer_options or {})),
                      loss=_loss(loss, from_logits), metrics=["accuracy"])
    return model


def _activation(name, dtype):
    """Keras's activation by name. On TensorFlow a float64 twin dodges two float32 casts: leaky_relu's
    slope is an attribute of TensorFlow's LeakyRelu op, stored as float32 (0.2 becomes 0.2000000030),
    and tf.nn.gelu casts its 1/sqrt(2) through a float32 constant (0.7071067690): there the twin
    computes Keras's own formula with exact constants."""
    if dtype != "float64" or keras.backend.backend() != "tensorflow":
        return name
    return {"leaky_relu": exact_leaky_relu, "gelu": exact_gelu}.get(name, name)


def exact_leaky_relu(x):
    """keras.activations.leaky_relu(x, negative_slope=0.2), its slope kept in float64."""
    return keras.ops.where(x > 0, x, np.float64(0.2) * x)


def exact_gelu(x):
    """keras.activations.gelu(x) (approximate=False): 0.5 x (1 + erf(x / sqrt 2)), 1/sqrt 2 in float64."""
    return 0.5 * x * (1.0 + keras.ops.erf(x * np.float64(0.7071067811865476)))


def _residual_model(layers, hidden, dtype):
    """The same layers as a graph: each hidden Dense as wide as the one before adds its input (keras.layers.Add)."""
    if len(layers) != len(hidden) + 2:
        raise ValueError("residual=True builds plain Dense layers with skips: give it without batchnorm, "
                         "layernorm, dropout or input_shape")
    inputs, x, width = layers[0], layers[0], None
    for dense, units in zip(layers[1:-1], hidden):
        h = dense(x)
        x = keras.layers.Add(dtype=dtype)([x, h]) if units == width else h
        width = units
    return TwinModel(inputs, layers[-1](x), name="residual")


def _optimizer(name, learning_rate, momentum, nesterov, dtype, **options):
    """Keras's optimizer by name. Where Keras casts a Python-float hyperparameter through a
    float32 tensor (ops.cast: SGD's momentum, Adam's beta_1 and beta_2 in their powers, weight_decay,
    Adagrad's initial accumulator), a float64 twin hands it over as np.float64, which stays exact
    (0.9 would become 0.8999999762)."""
    exact = np.float64 if dtype == "float64" else float
    cast_by_keras = ("beta_1", "beta_2", "weight_decay", "initial_accumulator_value")
    options = {key: exact(value) if key in cast_by_keras and value is not None else value
               for key, value in options.items()}
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=exact(momentum), nesterov=nesterov, **options)
    if nesterov:
        raise ValueError(f"nesterov=True is an SGD option; {name} does not take it")
    if name == "rmsprop":        # rho, momentum and epsilon meet tensors as Python floats: exact already
        return keras.optimizers.RMSprop(learning_rate, momentum=momentum, **options)
    if momentum:
        raise ValueError(f"momentum is not an option of {name}" +
                         (": Adam's beta_1 plays that part" if name.startswith("adam") else ""))
    if name in ("adam", "adamw"):
        options.setdefault("beta_1", exact(0.9))
        options.setdefault("beta_2", exact(0.999))
        if name == "adamw":
            options.setdefault("weight_decay", exact(0.004))
        return (keras.optimizers.AdamW if name == "adamw" else keras.optimizers.Adam)(learning_rate, **options)
    if name == "adagrad":
        options.setdefault("initial_accumulator_value", exact(0.1))
        return keras.optimizers.Adagrad(learning_rate, **options)
    raise ValueError(f"unknown optimizer {name!r}: use one of sgd, adam, adamw, rmsprop, adagrad")


def _initializer(spec, seed):
    """Keras's initializer by name, or by a name with its arguments ({"name": "random_normal", "stddev": 1.0}),
    seeded (the twins start from the same copied weights anyway)."""
    options = dict(spec) if isinstance(spec, dict) else {"name": spec}
    kind = type(keras.initializers.get(options.pop("name")))
    if kind in (keras.initializers.Zeros, keras.initializers.Ones):
        return kind()
    return kind(seed=seed, **options)


def _schedule(spec, learning_rate, dtype):
    """The Keras schedule of a plain description (numpy_impl/schedules.py: from_spec). Its numbers
    go in as np.float64 in a float64 twin: a Python float would make the whole schedule float32."""
    exact = np.float64 if dtype == "float64" else float
    spec = dict(spec)
    name, schedules = spec.pop("name"), keras.optimizers.schedules
    if name == "cosine":
        return schedules.CosineDecay(exact(learning_rate), spec["decay_steps"])
    if name == "exponential":
        return schedules.ExponentialDecay(exact(learning_rate), spec["decay_steps"], exact(spec["decay_rate"]))
    if name == "piecewise":
        return schedules.PiecewiseConstantDecay(spec["boundaries"],
                                                [exact(learning_rate * factor) for factor in spec["factors"]])
    raise ValueError(f"unknown schedule {name!r}: use cosine, exponential or piecewise")


def _regularizer(l1, l2, dtype):
    """keras.regularizers.L1L2, L1 or L2, kept exact in float64: Keras stores l1 and l2 as Python
    floats and casts them through float32 on each call (ops.cast), so a float64 twin re-stores them
    as np.float64."""
    if not (l1 or l2):
        return None
    regularizers = keras.regularizers
    regularizer = regularizers.L1L2(l1, l2) if l1 and l2 else regularizers.L1(l1) if l1 else regularizers.L2(l2)
    if dtype == "float64":
        for name, value in (("l1", l1), ("l2", l2)):
            if hasattr(regularizer, name):           # the factor given, not Keras's float32 copy of it
                setattr(regularizer, name, np.float64(value))
    return regularizer


CROSSENTROPIES = ("categorical_crossentropy", "sparse_categorical_crossentropy")
LOSSES = {"categorical_crossentropy": keras.losses.CategoricalCrossentropy,
          "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
          "binary_crossentropy": keras.losses.BinaryCrossentropy,
          "mean_squared_error": keras.losses.MeanSquaredError, "mse": keras.losses.MeanSquaredError,
          "mean_absolute_error": keras.losses.MeanAbsoluteError, "mae": keras.losses.MeanAbsoluteError}


def _loss(name, from_logits):
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}: use one of {', '.join(LOSSES)}")
    if name in CROSSENTROPIES or name == "binary_crossentropy":
        return LOSSES[name](from_logits=from_logits)
    if from_logits:
        raise ValueError(f"{name} takes no from_logits: it compares the outputs themselves")
    return LOSSES[name]()


def _default_output_activation(loss, from_logits):
    """As numpy_impl's: linear under from_logits, softmax for the cross-entropies, sigmoid for the binary one,
    linear for mse and mae."""
    if from_logits or loss not in CROSSENTROPIES + ("binary_crossentropy",):
        return "linear"
    return "sigmoid" if loss == "binary_crossentropy" else "softmax"


def _check_output(loss, from_logits, output_activation):
    """The pairs numpy_impl refuses, refused here too, so both twins build the same networks."""
    if from_logits and output_activation != "linear":
        raise ValueError(f"{loss} with from_logits=True needs a linear output, got {output_activation!r}")
    if loss in CROSSENTROPIES and not from_logits and output_activation != "softmax":
        raise ValueError(f"{loss} with from_logits=False needs a softmax output, got {output_activation!r}")
    if loss == "binary_crossentropy" and output_activation == "softmax":
        raise ValueError("binary_crossentropy scores each output alone, so it needs a sigmoid output, not softmax")


def _dropout_rates(dropout, hidden_layers):
    """[input rate, rate after hidden layer 1, ...] from one rate (hidden layers only) or a sequence."""
    if isinstance(dropout, (int, float)):
        return [0.0] + [float(dropout)] * hidden_layers
    rates = [float(rate) for rate in dropout]
    if len(rates) != hidden_layers + 1:
        raise ValueError(f"dropout needs one rate, or {hidden_layers + 1} (the input's, then each hidden "
                         f"layer's), got {len(rates)}")
    return rates



def layer_outputs(model, x):
    """[(layer name, its outputs)] for each layer in turn, in evaluation mode (dropout off),
    each computed by the Keras layer itself: x (B, features...) -> one (B, units) array per layer."""
    with _floatx(model.twin_dtype):
        h = keras.ops.convert_to_tensor(x, dtype=model.twin_dtype)
        outputs = []
        for layer in model.layers:
            h = layer(h, training=False)
            outputs.append((layer.name, keras.ops.convert_to_numpy(h)))
    return outputs

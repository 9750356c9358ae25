"""Lockstep training: both twins from the same weights, on the same batches, timed apart."""
import math
import time
from dataclasses import asdict, dataclass

import numpy as np

import numpy_impl

from . import inside
from .data import preprocess
from .twins import keras_twin, numpy_twin


@dataclass
class Config:
    """Every hyperparameter of a run; the defaults are the seed model this package reproduces."""
    epochs: int = 5                       # passes over the training set
    batch_size: int = 32                  # samples per step (the last batch may be smaller)
    learning_rate: float = 0.01           # step size (the first step's, if a schedule is set)
    momentum: float = 0.0                 # SGD (or RMSprop) momentum, Keras's formula
    nesterov: bool = False                # Nesterov momentum (SGD)
    hidden: tuple = (128, 128)            # widths of the ReLU layers
    seed: int = 0                         # initial weights, dropout masks and the shuffling order
    dtype: str = "float32"                # float32, or float64 for exact agreement
    impl: str = "both"                    # both, numpy or keras
    limit: int = None                     # use only the first `limit` training digits
    optimizer: str = "sgd"                # sgd, adam or rmsprop, with Keras's update rules
    dropout: tuple = (0.0,)               # one rate after each hidden layer, or (input, hidden 1, ...)
    l2: float = 0.0                       # L2 penalty factor on every kernel
    labels: str = "onehot"                # onehot (categorical_crossentropy) or sparse (integer labels)
    from_logits: bool = False             # a linear last layer whose outputs are logits
    input_shape: tuple = None             # (28, 28): images in, flattened by a Flatten layer
    backend: str = "tensorflow"           # the engine under the Keras twin: tensorflow, jax or torch
    preset: str = "seed"                  # the named preset these values came from
    batchnorm: bool = False               # Dense -> BatchNormalization -> ReLU in each hidden layer
    layernorm: bool = False               # Dense -> LayerNormalization -> ReLU in each hidden layer
    l1: float = 0.0                       # L1 penalty factor on every kernel
    weight_decay: float = None            # decoupled weight decay (Keras 3's weight_decay=) on any optimizer
    clipnorm: float = None                # clip each gradient tensor to this norm
    init: str = "glorot_uniform"          # the kernels' initializer (Keras's name)
    schedule: str = None                  # a Keras schedule stepped every update: cosine, exponential, piecewise
    validation_split: float = 0.0         # the last share of the training digits held out, as Keras cuts it
    early_stopping: int = None            # patience: stop a twin when val_loss has not improved for this many epochs
    inside_every: int = None              # probe each layer every N steps (None: 8 an epoch, >= 200 apart; 0: never)
    shift: int = 0                        # move each training image by up to this many pixels each way, every epoch
    activation: str = "relu"              # the hidden layers' activation (Keras's name)
    loss_name: str = None                 # --loss; None: the cross-entropy that fits --labels
    output_activation: str = None         # the last layer's; None: the one that fits the loss
    bias_init: str = "zeros"              # the biases' initializer (a name of INIT_SPECS or Keras's)
    twin: str = None                      # --twin: a learner's twin (folder, .py file or module) in numpy_impl's place

    def schedule_spec(self, total_steps):
        """The run's step schedule for build_model(schedule=...), its defaults over the run's steps:
        cosine from the learning rate to 0; exponential to a hundredth of it; piecewise constant at
        the rate, a tenth after half the steps, a hundredth after three quarters."""
        if self.schedule is None:
            return None
        return {"cosine": dict(name="cosine", decay_steps=total_steps),
                "exponential": dict(name="exponential", decay_steps=total_steps, decay_rate=0.01),
                "piecewise": dict(name="piecewise", boundaries=[total_steps // 2, 3 * total_steps // 4],
                                  factors=[1.0, 0.1, 0.01])}[self.schedule]

    @property
    def loss(self):
        if self.loss_name:
            return self.loss_name
        return "sparse_categorical_crossentropy" if self.labels == "sparse" else "categorical_crossentropy"

    @property
    def has_dropout(self):
        return any(rate > 0 for rate in self.dropout)

    def as_dict(self):
        values = asdict(self)
        for key in ("hidden", "dropout", "input_shape"):
            values[key] = list(values[key]) if values[key] is not None else None
        return values


# Initializers the command line names beyond Keras's own: Nielsen's two (network.py draws every weight and bias
# from N(0, 1); network2.py's weights from N(0, 1/sqrt(n_in)), i.e. a variance of 1 / fan_in)
INIT_SPECS = {"normal_1": {"name": "random_normal", "stddev": 1.0},
              "normal_fan_in": {"name": "variance_scaling", "scale": 1.0, "mode": "fan_in",
                                "distribution": "untruncated_normal"}}


def init_spec(name):
    return INIT_SPECS.get(name, name)


def model_options(config, input_dim, num_classes, total_steps=None):
    """The keyword arguments of `build_model` for this run: the same for every twin.

    The pieces beyond the seed model (normalization, L1, weight decay, clipping, an initializer,
    a schedule) are passed only when the run uses them, so a learner's twin that has not got
    them still takes every other run. `total_steps`: the run's updates, for a --schedule.
    """
    dropout = config.dropout[0] if len(config.dropout) == 1 else tuple(config.dropout)
    options = dict(input_dim=input_dim, hidden=tuple(config.hidden), num_classes=num_classes,
                   learning_rate=config.learning_rate, momentum=config.momentum,
                   nesterov=config.nesterov, seed=config.seed, dtype=config.dtype,
                   optimizer=config.optimizer, dropout=dropout, l2=config.l2, loss=config.loss,
                   from_logits=config.from_logits, input_shape=config.input_shape)
    extras = dict(batchnorm=config.batchnorm, layernorm=config.layernorm, l1=config.l1,
                  kernel_initializer=None if config.init == "glorot_uniform" else init_spec(config.init),
                  bias_initializer=None if config.bias_init == "zeros" else init_spec(config.bias_init),
                  activation=None if config.activation == "relu" else config.activation,
                  output_activation=config.output_activation,
                  schedule=config.schedule_spec(total_steps) if total_steps else None,
                  optimizer_options={key: value for key, value in (("weight_decay", config.weight_decay),
                                                                     ("clipnorm", config.clipnorm))
                                     if value is not None})
    options.update({key: value for key, value in extras.items() if value})
    return options


def prepare(images, labels, config, dtype=None, num_classes=10):
    """uint8 images (n, 28, 28) and labels (n,) -> (x, y) as this run's twins take them:
    x (n, 784), or (n, 28, 28) with a Flatten layer, in [0, 1]; y one-hot (n, 10) or integers (n,)."""
    x, y = preprocess(images, labels, dtype or config.dtype, num_classes)
    if config.input_shape:
        x = x.reshape((len(x),) + tuple(config.input_shape))
    if config.labels == "sparse":
        y = np.asarray(labels, dtype=np.int64)
    return x, y


def learner_twin(spec):
    """A learner's twin in numpy_impl's place: its records keep numpy_impl's key ("numpy"), and the
    figures and the report name it by its own label."""
    from .twins import Twin, load_twin
    twin = Twin("numpy", load_twin(spec))
    twin.label = twin_label(spec)
    return twin


def twin_label(spec):
    """How figures and the report name a learner's twin: "your twin (my_twin)"."""
    from pathlib import Path
    return f"your twin ({Path(spec.rstrip('/')).name or spec})"


def default_twins(config):
    """The twins `config.impl` asks for: "numpy", "keras" or both."""
    twins = []
    if config.impl in ("both", "numpy"):
        twins.append(learner_twin(config.twin) if config.twin else numpy_twin())
    if config.impl in ("both", "keras"):
        twins.append(keras_twin())
    return twins


def build_twins(config, input_dim, num_classes, twins=None, total_steps=None):
    """{name: (twin, model)}: every model holding a copy of the NumPy twin's initial weights.

    Seeds differ between NumPy and Keras (and a learner's twin), so the NumPy
    twin draws the initial weights and every other twin is handed a copy.
    """
    options = model_options(config, input_dim, num_classes, total_steps)
    initial = numpy_impl.build_model(**options).get_weights()
    built = {}
    for twin in twins if twins is not None else default_twins(config):
        model = twin.build_model(**options)
        model.set_weights([w.copy() for w in initial])
        built[twin.name] = (twin, model)
    return built


class Patience:
    """EarlyStopping's rule on val_loss, as Keras's callback applies it (min_delta 0): each epoch
    `wait` grows by one, and an epoch with a strictly lower val_loss than the best so far resets it;
    once `wait` reaches `patience` the twin should stop. The first epoch always counts as better
    (so no run stops there), even with a NaN, which no later epoch then beats."""

    def __init__(self, patience):
        self.patience, self.best, self.wait = patience, None, 0

    def should_stop(self, val_loss):
        self.wait += 1
        if self.best is None or val_loss < self.best:
            self.best, self.wait = val_loss, 0
            return False
        return self.wait >= self.patience


def split_validation(x, y, fraction):
    """Keras's validation_split: the LAST share of the samples, cut before any shuffling."""
    split_at = math.floor(len(x) * (1.0 - fraction))
    if split_at == 0 or split_at == len(x):
        raise ValueError(f"--validation-split {fraction} of {len(x)} digits leaves no training or no validation "
                         "digits: use more digits or another split")
    return (x[:split_at], y[:split_at]), (x[split_at:], y[split_at:])


def shift_images(x, pixels, rng):
    """Each image moved by its own (dy, dx), each drawn uniformly from -pixels..pixels, zeros
    coming in where the digit moves away: what Keras's RandomTranslation does with whole-pixel
    shifts and fill_mode="constant". x: (n, side * side) or (n, side, side); returns a new array,
    same shape. Both twins are handed the same shifted images."""
    n = len(x)
    side = math.isqrt(int(np.prod(x.shape[1:])))
    images = x.reshape(n, side, side)
    padded = np.zeros((n, side + 2 * pixels, side + 2 * pixels), x.dtype)
    padded[:, pixels:pixels + side, pixels:pixels + side] = images
    dy, dx = rng.integers(-pixels, pixels + 1, size=(2, n))
    moved = np.empty_like(images)
    for down in range(-pixels, pixels + 1):
        for right in range(-pixels, pixels + 1):
            these = np.flatnonzero((dy == down) & (dx == right))
            # moved[r, c] = image[r - down, c - right]: a window of the zero-padded image
            moved[these] = padded[these, pixels - down:pixels - down + side, pixels - right:pixels - right + side]
    return moved.reshape(x.shape)


def inside_recorders(config, built, x, y, steps_per_epoch):
    """{twin: inside.Recorder} for the twins that can show their inside (a `layer_outputs`, as
    numpy_impl and keras_impl have), the NumPy twin's structure naming the hidden layers; {} if
    --inside-every is 0 or no NumPy twin is in the run."""
    if config.inside_every == 0 or "numpy" not in built:
        return {}
    every = config.inside_every or inside.default_every(steps_per_epoch)
    hidden = inside.hidden_layers(built["numpy"][1])
    probe = (x[:inside.PROBE_SIZE], y[:inside.PROBE_SIZE])
    return {name: inside.Recorder(twin, *probe, hidden, every) for name, (twin, _) in built.items()
            if hasattr(twin.module, "layer_outputs")}


def run_lockstep(config, train, test, log=print, verbose=1, twins=None, inside_stats=None):
    """Train the twins epoch by epoch in lockstep; returns per-twin records and agreement.

    Each epoch draws one permutation from the run's seed and feeds it to every
    twin with shuffle=False, so all see exactly the same batches. `twins` is a
    list of `Twin`s (default: those `config.impl` names); the weight difference
    is measured between the first two. With a validation split each twin is
    evaluated on the held-out digits every epoch; with early stopping each
    twin's own val_loss decides when it would stop, and the run stops at the
    first epoch where one would (records say which, and when).

    `inside_stats`: a dict to fill with the run's per-layer statistics (compare.inside), if given.
    """
    x, y = train
    validation = None
    if config.validation_split:
        (x, y), validation = split_validation(x, y, config.validation_split)
    x_test, y_test = test
    num_classes = y.shape[1] if y.ndim == 2 else 10       # integer labels: MNIST's ten digits
    total_steps = config.epochs * math.ceil(len(x) / config.batch_size)
    built = build_twins(config, int(np.prod(x.shape[1:])), num_classes, twins, total_steps)
    rng = np.random.default_rng(config.seed)
    keys = ["loss", "accuracy", "test_loss", "test_accuracy"] + (["val_loss", "val_accuracy"] if validation else [])
    records = {name: {"epoch_seconds": [], "history": {key: [] for key in keys}} for name in built}
    patience = {name: Patience(config.early_stopping) for name in built} if config.early_stopping is not None else {}
    weight_differences = []
    recorders = inside_recorders(config, built, x, y, math.ceil(len(x) / config.batch_size)) \
        if inside_stats is not None else {}
    for name, recorder in recorders.items():
        recorder.probe(built[name][1], keep="initial")
    hooks = {name: [inside.hook(built[name][0], recorder)] for name, recorder in recorders.items()}
    for epoch in range(config.epochs):
        order = rng.permutation(len(x))
        x_epoch, y_epoch = x[order], y[order]
        if config.shift:
            x_epoch = shift_images(x_epoch, config.shift, rng)
        for name, (twin, model) in built.items():
            log(f"Epoch {epoch + 1}/{config.epochs}, {name} twin "
                + (f"({config.schedule} schedule)" if config.schedule else f"(learning rate {config.learning_rate:g})"))
            start = time.perf_counter()
            loss, accuracy = twin.fit_epoch(model, x_epoch, y_epoch, config.batch_size, epoch,
                                            config.learning_rate, verbose, callbacks=hooks.get(name, ()))
            seconds = time.perf_counter() - start
            record = records[name]
            record["epoch_seconds"].append(seconds)
            values = [loss, accuracy, *twin.evaluate(model, x_test, y_test)]
            values += list(twin.evaluate(model, *validation)) if validation else []
            for key, value in zip(keys, values):
                record["history"][key].append(float(value))
        if len(built) >= 2:
            (_, first), (_, second) = list(built.values())[:2]
            weight_differences.append(max_weight_difference(first, second))
        stopping = [name for name in patience
                    if patience[name].should_stop(records[name]["history"]["val_loss"][-1])]
        if stopping:
            for name in built:
                records[name]["stopped_epoch"] = epoch + 1 if name in stopping else None
            log(f"Early stopping after epoch {epoch + 1}: val_loss has not improved for {config.early_stopping} "
                f"epoch(s) ({' and '.join(f'the {name} twin' for name in stopping)})")
            break
    if recorders:
        for name, recorder in recorders.items():
            recorder.probe(built[name][1], keep="final")
        inside_stats.update(inside.summary(recorders, {name: built[name][1] for name in recorders},
                                           built["numpy"][1]))
    for name, (twin, model) in built.items():
        records[name].update(_summarise(records[name], len(x)))
        records[name]["probabilities"] = twin.predict(model, x_test)
    if config.has_dropout and len(built) >= 2:
        # Different dropout masks make different weights, by design. What must still hold: given
        # equal weights, the twins' outputs in evaluation mode (dropout off) are the same.
        (first_twin, first), (second_twin, second) = list(built.values())[:2]
        own = second.get_weights()
        second.set_weights(first.get_weights())
        difference = np.abs(first_twin.predict(first, x_test) - second_twin.predict(second, x_test)).max()
        records[second_twin.name]["output_difference_at_equal_weights"] = float(difference)
        second.set_weights(own)                          # its own trained weights back, to be saved
    return {name: model for name, (_, model) in built.items()}, records, weight_differences


def max_weight_difference(model_a, model_b):
    return float(max(np.abs(a - b).max() for a, b in zip(model_a.get_weights(), model_b.get_weights())))


def _summarise(record, n_train):
    """Seconds per epoch in steady state: the first epoch (Keras builds its graph there) apart."""
    seconds = record["epoch_seconds"]
    steady = seconds[1:] or seconds
    history = record["history"]
    return {
        "first_epoch_seconds": seconds[0],
        "seconds_per_epoch": float(np.mean(steady)),
        "samples_per_second": n_train / float(np.mean(steady)),
        "test_loss": history["test_loss"][-1],
        "test_accuracy": history["test_accuracy"][-1],
    }


def time_to_accuracy(record, targets=(0.97, 0.98)):
    """Training seconds until the test accuracy first reached each target (None if never)."""
    reached, elapsed = {}, 0.0
    for seconds, accuracy in zip(record["epoch_seconds"], record["history"]["test_accuracy"]):
        elapsed += seconds
        for target in targets:
            if accuracy >= target and f"{target:.2f}" not in reached:
                reached[f"{target:.2f}"] = elapsed
    return {f"{t:.2f}": reached.get(f"{t:.2f}") for t in targets}

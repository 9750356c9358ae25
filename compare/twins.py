"""A twin is any module that speaks the shared API; `Twin` drives one through that API alone.

The shared API (shared/DESIGN.md): a module exports `build_model(...)` and
`loss_and_gradients(model, x, y)`, and the model answers `fit`, `evaluate`,
`predict`, `get_weights`, `set_weights` and has `optimizer.learning_rate`.
Lockstep training, evaluation, prediction and `python -m compare check` go
through a `Twin` and nothing else, so a learner's own twin plugs in exactly
as the two reference twins do. What one twin needs beyond the API lives in
a small subclass here (`KerasTwin`), not in an `if` inside the loop.
"""
import importlib
import importlib.util
import inspect
import itertools
import math
import sys
import traceback
from pathlib import Path


class Diverged(RuntimeError):
    """The loss became NaN or infinite during training."""

    def __init__(self, twin, epoch, batch, learning_rate):
        self.twin, self.epoch, self.batch = twin, epoch, batch
        where = f"at epoch {epoch}, batch {batch}" if batch is not None else f"in epoch {epoch}"
        super().__init__(
            f"training diverged: the {twin} twin's loss became NaN or infinite {where}; "
            f"try a smaller learning rate, e.g. --learning-rate {learning_rate / 10:g}")


def quiet(method):
    """{"verbose": 0} for a method that takes it, or takes **kwargs (numpy_impl's and Keras's do; a learner's
    need not)."""
    try:
        parameters = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())   # Keras's wrapped methods
    return {"verbose": 0} if "verbose" in parameters or takes_any else {}


class Twin:
    """Drives a module exporting the shared API. `name` labels it in logs, tables and figures."""

    def __init__(self, name, module):
        self.name = name
        self.module = module

    def build_model(self, **kwargs):
        return self.module.build_model(**kwargs)

    def loss_and_gradients(self, model, x, y):
        return self.module.loss_and_gradients(model, x, y)

    def fit_epoch(self, model, x, y, batch_size, epoch, learning_rate, verbose=0, callbacks=()):
        """One epoch of `model.fit` on already-shuffled data; returns (loss, accuracy).
        `callbacks`: more callbacks for this fit (the twin's own kind), e.g. inside.hook's.

        A loss that is not finite (raised mid-epoch as a FloatingPointError, the way
        numpy_impl's TrainingDiverged does, or only seen in the History) becomes `Diverged`.
        """
        options = self.fit_options(epoch, learning_rate)
        if callbacks:
            options["callbacks"] = options.get("callbacks", []) + list(callbacks)
        try:
            history = model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=verbose, **options)
        except FloatingPointError as error:
            raise Diverged(self.name, epoch + 1, getattr(error, "batch", None), learning_rate) from None
        loss, accuracy = history.history["loss"][0], history.history["accuracy"][0]
        if not math.isfinite(float(loss)):
            raise Diverged(self.name, epoch + 1, None, learning_rate)
        return loss, accuracy

    def fit_options(self, epoch, learning_rate):
        """Extra keyword arguments for `fit`: none in the shared API."""
        return {}

    def evaluate(self, model, x, y):
        """[loss, accuracy] over all of x, quietly if the twin's evaluate takes verbose (as Keras's does)."""
        return model.evaluate(x, y, **quiet(model.evaluate))

    def predict(self, model, x):
        """Probabilities, shape (samples, classes)."""
        return model.predict(x)


class KerasTwin(Twin):
    """Keras's `fit` reports divergence through a callback, and its `evaluate` and
    `predict` print progress and use batches of 32 unless told otherwise."""

    def fit_options(self, epoch, learning_rate):
        import keras

        name = self.name

        class StopOnDivergence(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                loss = (logs or {}).get("loss")
                if loss is not None and not math.isfinite(float(loss)):
                    raise Diverged(name, epoch + 1, batch + 1, learning_rate)

        return {"callbacks": [StopOnDivergence()]}

    def evaluate(self, model, x, y):
        return model.evaluate(x, y, batch_size=1024, verbose=0)

    def predict(self, model, x):
        return model.predict(x, batch_size=1024, verbose=0)


def numpy_twin():
    import numpy_impl
    return Twin("numpy", numpy_impl)


def keras_twin():
    import keras_impl
    return KerasTwin("keras", keras_impl)


# ---- loading a twin from a name, a folder or a file --------------------------------------

class TwinError(Exception):
    """The twin cannot be loaded (no such module, no build_model, ...): a usage error."""


_loaded = itertools.count(1)


def load_twin(spec):
    """Import TWIN: a .py file, a package folder, or an importable module name."""
    path = Path(spec)
    if spec.endswith(".py") or "/" in spec or path.exists():
        if not path.exists():
            raise TwinError(f"no such file or folder: {spec}: give a .py file, a package folder or a module name")
        module_name = f"learner_twin_{next(_loaded)}"
        if path.is_dir():
            init = path / "__init__.py"
            if not init.is_file():
                raise TwinError(f"{spec} has no __init__.py: give a package folder, a .py file or a module name")
            spec_ = importlib.util.spec_from_file_location(module_name, init,
                                                           submodule_search_locations=[str(path)])
        else:
            spec_ = importlib.util.spec_from_file_location(module_name, path)
        if spec_ is None:
            raise TwinError(f"{spec} is not a Python file: give a .py file, a package folder or a module name")
        module = importlib.util.module_from_spec(spec_)
        sys.modules[module_name] = module
        try:
            spec_.loader.exec_module(module)
        except Exception as error:       # the learner's code: any error, said in one line
            for name in [n for n in sys.modules if n == module_name or n.startswith(module_name + ".")]:
                del sys.modules[name]
            raise TwinError(f"could not import {spec}: {describe_error(error)}") from None
    else:
        try:
            module = importlib.import_module(spec)
        except ModuleNotFoundError as error:
            if error.name and spec.split(".")[0] == error.name.split(".")[0]:
                raise TwinError(f"no module named {spec!r}: give an importable module name, "
                                 "a package folder or a .py file") from None
            raise TwinError(f"could not import {spec}: {describe_error(error)}") from None
        except Exception as error:
            raise TwinError(f"could not import {spec}: {describe_error(error)}") from None
    missing = [name for name in ("build_model", "loss_and_gradients") if not callable(getattr(module, name, None))]
    if missing:
        raise TwinError(f"{spec} does not export {' and '.join(missing)}: a twin exports "
                         "build_model(...) and loss_and_gradients(model, x, y) at its top level")
    return module


def describe_error(error, home=None):
    """'ValueError: message (layers.py:57, in Dense.affine)': the error and where it was raised.

    home: the twin's file or folder; then the line named is the deepest one of the twin's own,
    even when the error was raised inside NumPy.
    """
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if isinstance(error, SyntaxError) and error.filename:
        return f"{text} ({Path(error.filename).name}:{error.lineno})"
    where = error_location(error, home)
    return f"{text} ({where})" if where else text


def error_location(error, home=None, own_only=False):
    """'layers.py:57, in Dense.affine': the deepest line of `error`'s traceback, or of the twin's own
    lines under `home` where there are any (own_only: only those, else None)."""
    frames = traceback.extract_tb(error.__traceback__)
    if home is not None:
        home = Path(home).resolve()
        own = [f for f in frames if Path(f.filename).resolve() == home or home in Path(f.filename).resolve().parents]
        frames = own if own or own_only else frames
    elif own_only:
        frames = []
    if not frames:
        return None
    frame = frames[-1]
    return f"{Path(frame.filename).name}:{frame.lineno}, in {_qualified_name(error, frame)}"


def _qualified_name(error, frame):
    """Dense.affine rather than affine, where Python knows it (3.11+)."""
    tb = error.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_filename == frame.filename and tb.tb_lineno == frame.lineno:
            return getattr(code, "co_qualname", frame.name)
        tb = tb.tb_next
    return frame.name


def raising_function(error):
    """The qualified name (Dense.affine) of the function that raised, where Python knows it."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return getattr(tb.tb_frame.f_code, "co_qualname", None) if tb is not None else None

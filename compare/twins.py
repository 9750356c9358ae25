"""A twin is any module that speaks the shared API; `Twin` drives one through that API alone.

The shared API (shared/DESIGN.md): a module exports `build_model(...)` and
`loss_and_gradients(model, x, y)`, and the model answers `fit`, `evaluate`,
`predict`, `get_weights`, `set_weights` and has `optimizer.learning_rate`.
Lockstep training, evaluation, prediction and `python -m compare check` go
through a `Twin` and nothing else, so a learner's own twin plugs in exactly
as the two reference twins do. What one twin needs beyond the API lives in
a small subclass here (`KerasTwin`), not in an `if` inside the loop.
"""
import math


class Diverged(RuntimeError):
    """The loss became NaN or infinite during training."""

    def __init__(self, twin, epoch, batch, learning_rate):
        self.twin, self.epoch, self.batch = twin, epoch, batch
        where = f"at epoch {epoch}, batch {batch}" if batch is not None else f"in epoch {epoch}"
        super().__init__(
            f"training diverged: the {twin} twin's loss became NaN or infinite {where}; "
            f"try a smaller learning rate, e.g. --learning-rate {learning_rate / 10:g}")


class Twin:
    """Drives a module exporting the shared API. `name` labels it in logs, tables and figures."""

    def __init__(self, name, module):
        self.name = name
        self.module = module

    def build_model(self, **kwargs):
        return self.module.build_model(**kwargs)

    def loss_and_gradients(self, model, x, y):
        return self.module.loss_and_gradients(model, x, y)

    def fit_epoch(self, model, x, y, batch_size, epoch, learning_rate, verbose=0):
        """One epoch of `model.fit` on already-shuffled data; returns (loss, accuracy).

        A loss that is not finite (raised mid-epoch as a FloatingPointError, the way
        numpy_impl's TrainingDiverged does, or only seen in the History) becomes `Diverged`.
        """
        try:
            history = model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=verbose,
                                **self.fit_options(epoch, learning_rate))
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
        """[loss, accuracy] over all of x."""
        return model.evaluate(x, y)

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

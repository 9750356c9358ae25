"""Inside the network: what each twin's layers do while it learns, recorded from the twin itself.

Every `every` training steps (and before the first, and after the last) a twin is probed on a
fixed batch of training digits, with its own code: the NumPy twin's forward pass and hand-written
backward pass, the Keras twin's layers and its engine's autodiff (`layer_outputs` and
`loss_and_gradients` of each twin). Per layer:

  activations (each hidden layer's outputs, probe batch (P, units)):
      mean, standard deviation, and the idle share: for ReLU, the dead units (0 for every probe
      digit); for sigmoid and tanh, the saturated outputs (within SATURATION = 0.01 of a bound: 0 or 1
      for sigmoid, -1 or 1 for tanh, where the slope is below 0.01 and almost no gradient passes)
  gradients (each kernel's dL/dW on the probe batch): the norm ||dL/dW||
  updates (each kernel, the step after a probe): ||W_after - W_before|| / ||W_before||, the
      update-to-weight ratio (near 1e-3 is the rule of thumb for a healthy learning rate)
  the loss on the probe batch: at initialisation near ln(10) = 2.303, the cross-entropy of a
      uniform guess over ten classes, if the initial weights are small

At initialisation and at the end the activations and gradients themselves are kept too, for
the histograms. The probes read the model and give its weights back as they were (a
BatchNormalization's moving statistics included), so training goes on as if unprobed; with
Dropout, the probe's training-mode gradient draws masks of its own.
"""
import math
import time

import numpy as np

EXPECTED_INITIAL_LOSS = math.log(10)        # -log(1/10): ten classes, a uniform first guess
SAMPLES_PER_EPOCH = 8                       # probes per epoch, by default (see default_every)
MIN_EVERY = 200                             # ...but never more often than every 200 steps
PROBE_SIZE = 256                            # digits in the probe batch
SATURATION = 0.01                           # an output this close to a bound of sigmoid or tanh is saturated
BOUNDS = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}


def default_every(steps_per_epoch):
    """Steps between probes: about SAMPLES_PER_EPOCH probes an epoch, and at least MIN_EVERY
    steps apart. A probe costs a few steps' time (about 3 ms for the NumPy twin here), so short
    epochs (the 4,000-digit sample's 125 steps) would spend a third of their time probing."""
    return max(MIN_EVERY, steps_per_epoch // SAMPLES_PER_EPOCH)


def hidden_layers(numpy_model):
    """[(index in model.layers, activation name)] of the hidden layers whose outputs are a nonlinear
    activation's (the same indices in both twins): every such layer but the output layer."""
    found = []
    for index, layer in enumerate(numpy_model.layers[:-1]):
        name = getattr(getattr(layer, "activation", None), "name", None)
        if name not in (None, "linear"):
            found.append((index, name))
    return found


def idle_kind(activation):
    """What the idle share counts for this activation: "saturated" (sigmoid, tanh) or "dead" (the rest)."""
    return "saturated" if activation in BOUNDS else "dead"


def idle_share(outputs, activation):
    """Saturated: the share of outputs (P, units) within SATURATION of a bound. Dead: the share of units
    that are 0 for every probe digit."""
    if activation in BOUNDS:
        low, high = BOUNDS[activation]
        return float(np.mean((outputs - low < SATURATION) | (high - outputs < SATURATION)))
    return float(np.mean(np.all(outputs == 0, axis=0)))


def _norm(array):
    return float(np.sqrt(np.sum(np.square(array, dtype=np.float64))))


class Recorder:
    """One twin's statistics over a run. `probe(model)` records one sample; `after_step(get_model)`,
    called after every training step, probes every `every` steps and measures the update ratio
    of the step after each probe."""

    def __init__(self, twin, x_probe, y_probe, hidden, every):
        self.twin, self.x, self.y = twin, x_probe, y_probe
        self.hidden, self.every = hidden, every            # [(layer index, activation name)]
        self.step = 0
        self.steps, self.loss = [], []
        self.activation_mean, self.activation_std, self.dead_share, self.gradient_norm = [], [], [], []
        self.update_steps, self.update_ratio = [], []
        self.bias_gradient_norm, self.last_bias_gradients = [], None
        self.kept = {}                             # "initial" / "final": the activations and gradients
        self._before = None                        # the kernels just before the step after a probe
        self.seconds = 0.0                         # spent probing and measuring updates, during fit

    def kernels(self, model):
        return [w for w in model.get_weights() if w.ndim == 2]

    def measure(self, model):
        """(loss, [activations per ReLU layer], [dL/dW per kernel]) on the probe batch; the
        model's weights (moving statistics included) are as they were afterwards."""
        weights = model.get_weights()
        outputs = self.twin.module.layer_outputs(model, self.x)
        activations = [np.asarray(outputs[index][1]) for index, _ in self.hidden]
        loss, gradients = self.twin.loss_and_gradients(model, self.x, self.y)
        model.set_weights(weights)            # a training-mode pass moves BatchNormalization's statistics
        gradients = [np.asarray(g) for g in gradients]
        kernel_gradients = [g for g in gradients if g.ndim == 2]
        self.last_bias_gradients = bias_gradients(gradients)
        return float(loss), activations, kernel_gradients

    def probe(self, model, keep=None):
        loss, activations, gradients = self.measure(model)
        self.steps.append(self.step)
        self.loss.append(loss)
        self.activation_mean.append([float(a.mean()) for a in activations])
        self.activation_std.append([float(a.std()) for a in activations])
        self.dead_share.append([idle_share(a, name) for a, (_, name) in zip(activations, self.hidden)])
        self.gradient_norm.append([_norm(g) for g in gradients])
        if self.last_bias_gradients is not None:
            self.bias_gradient_norm.append([_norm(g) for g in self.last_bias_gradients])
        if keep:
            self.kept[keep] = {"activations": activations, "gradients": gradients}

    def after_step(self, get_model):
        """Count one step; on a probe's step, or the step after one, read `get_model()`. It is
        called only then: on JAX, reaching the model from a callback syncs the trainer's state."""
        self.step += 1
        if self._before is None and self.step % self.every:
            return                                 # most steps: nothing to do
        start = time.perf_counter()
        model = get_model()
        if self._before is not None:
            after = self.kernels(model)
            self.update_steps.append(self.step)
            self.update_ratio.append([_norm(a - b) / _norm(b) for a, b in zip(after, self._before)])
            self._before = None
        if self.step % self.every == 0:
            self.probe(model)
            self._before = self.kernels(model)
        self.seconds += time.perf_counter() - start

    def as_dict(self):
        return {"steps": self.steps, "loss": self.loss, "activation_mean": self.activation_mean,
                "activation_std": self.activation_std, "dead_share": self.dead_share,
                "gradient_norm": self.gradient_norm, "bias_gradient_norm": self.bias_gradient_norm,
                "update_steps": self.update_steps,
                "update_ratio": self.update_ratio, "probe_seconds": self.seconds}


def bias_gradients(gradients):
    """Each Dense layer's dL/dbias, in the order of get_weights(): [kernel, bias, kernel, bias, ...];
    None where the weights are not that plain chain (a BatchNormalization's gamma and beta, a Dense without
    a bias). dL/dbias = sum over the batch of dL/dz is Nielsen's delta, his measure of a layer's speed."""
    if len(gradients) % 2 or any(g.ndim != 2 for g in gradients[::2]) or \
            any(b.shape != (k.shape[1],) for k, b in zip(gradients[::2], gradients[1::2])):
        return None
    return gradients[1::2]


def hook(twin, recorder):
    """A callback for the twin's own fit that hands the model to `recorder.after_step` after
    every step: a Keras callback for Keras, numpy_impl's for the NumPy twin (or a learner's)."""
    if twin.module.__name__.split(".")[0] == "keras_impl":
        import keras

        class KerasHook(keras.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                recorder.after_step(lambda: self.model)     # (on JAX, .model syncs the weights first)
        return KerasHook()

    from numpy_impl.callbacks import Callback

    class NumpyHook(Callback):
        def on_train_batch_end(self, batch, logs=None):
            recorder.after_step(lambda: self.model)
    return NumpyHook()


def histogram_edges(arrays, bins=40):
    """Shared bin edges for arrays of both twins: over the range of all of them."""
    low = min(float(a.min()) for a in arrays)
    high = max(float(a.max()) for a in arrays)
    if high <= low:
        high = low + 1.0
    return np.linspace(low, high, bins + 1)


def histograms(recorders):
    """{"initial"|"final": {"activations"|"gradients": [per layer: {"edges", twin: counts}]}},
    each layer's bins shared by the twins."""
    names = list(recorders)
    result = {}
    for moment in ("initial", "final"):
        if not all(moment in recorder.kept for recorder in recorders.values()):
            continue
        result[moment] = {}
        for kind in ("activations", "gradients"):
            per_layer = []
            for layer_arrays in zip(*(recorders[name].kept[moment][kind] for name in names)):
                edges = histogram_edges(layer_arrays)
                entry = {"edges": edges.tolist()}
                for name, array in zip(names, layer_arrays):
                    entry[name] = np.histogram(array, bins=edges)[0].tolist()
                per_layer.append(entry)
            result[moment][kind] = per_layer
    return result


def statistics_difference(first, second, hidden=()):
    """The largest |difference| between two probes' statistics and arrays:
    {"loss", "activation_mean", "activation_std", "dead_share", "gradient_norm", "activations",
    "gradients"} (the last two: entry by entry, over the probe batch)."""
    (loss_a, acts_a, grads_a), (loss_b, acts_b, grads_b) = first, second

    def largest(pairs):
        return max((float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
                    for a, b in pairs), default=0.0)
    return {"loss": abs(loss_a - loss_b),
            "activation_mean": largest((a.mean(), b.mean()) for a, b in zip(acts_a, acts_b)),
            "activation_std": largest((a.std(), b.std()) for a, b in zip(acts_a, acts_b)),
            "dead_share": largest((idle_share(a, name), idle_share(b, name))
                                  for a, b, (_, name) in zip(acts_a, acts_b, hidden)),
            "gradient_norm": largest((_norm(a), _norm(b)) for a, b in zip(grads_a, grads_b)),
            "activations": largest(zip(acts_a, acts_b)),
            "gradients": largest(zip(grads_a, grads_b))}


def at_equal_weights(recorders, models):
    """Each twin probed with the first twin's weights: the largest differences from the first
    twin's own probe (the others' own weights are given back afterwards). {twin: differences}"""
    names = list(recorders)
    reference = recorders[names[0]].measure(models[names[0]])
    weights = models[names[0]].get_weights()
    differences = {}
    for name in names[1:]:
        own = models[name].get_weights()
        models[name].set_weights(weights)
        differences[name] = statistics_difference(reference, recorders[name].measure(models[name]),
                                                  recorders[name].hidden)
        models[name].set_weights(own)
    return differences


def during_run_difference(recorders):
    """The largest |difference| of each statistic between the first two twins over every probe of
    the run, where their weights are only as equal as lockstep training keeps them."""
    first, second = list(recorders.values())[:2]
    result = {}
    for key in ("loss", "activation_mean", "activation_std", "dead_share", "gradient_norm", "update_ratio"):
        a, b = np.asarray(getattr(first, key), np.float64), np.asarray(getattr(second, key), np.float64)
        result[key] = float(np.max(np.abs(a - b))) if a.size and a.shape == b.shape else None
    return result


def summary(recorders, models, numpy_model):
    """The `inside` section of metrics.json, the layers named after the NumPy twin's."""
    first = next(iter(recorders.values()))
    # the vanishing gradient: each layer's gradient norm over the last hidden layer's, at initialisation
    # and at the last probe: ||dL/dbias|| (Nielsen's ||delta||) where every Dense has a bias, else ||dL/dW||
    plain = len(first.bias_gradient_norm) == len(first.gradient_norm)
    norms = np.asarray(first.bias_gradient_norm if plain else first.gradient_norm)   # (probes, layers)
    result = {"every": first.every, "probe_size": len(first.x),
              "layers": [f"hidden {number} ({name})" for number, (_, name) in enumerate(first.hidden, 1)],
              "idle": [idle_kind(name) for _, name in first.hidden],
              "gradient_ratio": {"of": "||dL/dbias||" if plain else "||dL/dW||",
                                 "initial": (norms[0] / norms[0][len(first.hidden) - 1]).tolist(),
                                 "final": (norms[-1] / norms[-1][len(first.hidden) - 1]).tolist()}
              if first.hidden and norms.size else None,
              "kernels": [f"W{number} {w.shape[0]}x{w.shape[1]}" for number, w in
                          enumerate((w for w in numpy_model.get_weights() if w.ndim == 2), start=1)],
              # ln(10) for a cross-entropy over ten classes; another loss has no such landmark
              "expected_initial_loss": EXPECTED_INITIAL_LOSS if hasattr(numpy_model.loss, "fused_with_softmax")
              else None,
              "initial_loss": {name: recorder.loss[0] for name, recorder in recorders.items()},
              "twins": {name: recorder.as_dict() for name, recorder in recorders.items()},
              "histograms": histograms(recorders)}
    if len(recorders) >= 2:
        equal = at_equal_weights(recorders, models)
        result["at_equal_weights"] = equal
        result["max_difference"] = max(max(values.values()) for values in equal.values())
        result["during_run"] = during_run_difference(recorders)
    return result


def describe(inside):
    """One line for the console: the initial loss and how far apart the twins' statistics are."""
    losses = " / ".join(f"{loss:.3f} ({name})" for name, loss in inside["initial_loss"].items())
    text = (f"inside the network: {len(inside['twins'][next(iter(inside['twins']))]['steps'])} probes, every "
            f"{inside['every']} steps; initial loss {losses}")
    if inside.get("expected_initial_loss"):
        text += f" against ln(10) = {EXPECTED_INITIAL_LOSS:.3f}"
    if "max_difference" in inside:
        text += f"; the twins' statistics at equal weights differ by at most {inside['max_difference']:.1e}"
    ratio = inside.get("gradient_ratio")
    if ratio and len(inside["layers"]) > 1:
        text += (f"; {ratio['of']} of the first hidden layer over the last's: "
                 f"{ratio['initial'][0]:.3g} at initialisation, {ratio['final'][0]:.3g} at the end")
    if "probe_share" in inside:
        text += "; probing took " + ", ".join(f"{100 * share:.1f}% ({name})" for name, share in
                                              inside["probe_share"].items()) + " of the training time"
    return text

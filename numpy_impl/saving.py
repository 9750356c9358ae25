"""save_weights and load_weights in Keras 3's `.weights.h5` layout, so Keras loads what the NumPy twin
saves, and the reverse.

The file is HDF5 (h5py reads and writes it; it is imported here alone, only when a file is
saved or loaded). Keras keeps each layer's weights, in get_weights() order, at

    layers/<the layer's class in snake case, numbered per class>/vars/<0, 1, ...>
    e.g. layers/dense/vars/0 (kernel, in x out), layers/dense/vars/1 (bias), layers/dense_1/vars/0, ...
         layers/batch_normalization/vars/0..3 (gamma, beta, moving_mean, moving_variance)

The group names come from the class, counted within the model (dense, dense_1, ...), not from
the layer's name, so a model's first Dense is "dense" whatever it is called. Layers without
weights get an empty group, as Keras writes them. A compiled model's optimizer goes under
"optimizer/vars" (its step count, its rate, then its state in Keras's order: KERAS_STATE below), in
either package's file, and load_weights reads it back. The whole model, architecture and compile
arguments too, goes in a .keras file: save_model and load_model below.
"""
import collections
import os
import tempfile
from pathlib import Path

import numpy as np

from .utils import missing, snake_case

SUFFIX = ".weights.h5"


class WeightsFileError(ValueError):
    """A weights file that does not fit the model: a missing group, a count or a shape that differs."""


def layer_groups(model):
    """[(group path, layer)], in the model's order: where Keras keeps each layer's weights.

    Sequential and functional models: layers/<class in snake case, counted> (layers/dense, layers/dense_1).
    A subclassed model: the attribute that holds the layer, as Keras walks a subclass's attributes
    (self.hidden = Dense(64) -> hidden; a list self.blocks = [Dense, Dense] -> blocks/dense, blocks/dense_1).
    """
    if getattr(model, "_subclassed", False):
        return _attribute_groups(model)
    counts = collections.Counter()
    groups = []
    for layer in model.layers:
        base = snake_case(type(layer).__name__)
        groups.append((f"layers/{base}" if counts[base] == 0 else f"layers/{base}_{counts[base]}", layer))
        counts[base] += 1
    return groups


def _attribute_groups(model):
    """A subclassed model's groups: each layer under the attribute that holds it (a list's layers under the
    list's name, counted per class); a layer no attribute holds is refused, as Keras could not file it."""
    from .layers import Layer

    found = {}
    for attribute, value in sorted(vars(model).items()):
        if attribute.startswith("_") or attribute == "layers":
            continue
        if isinstance(value, Layer):
            found.setdefault(id(value), (attribute, value))
        elif isinstance(value, (list, tuple)) and value and all(isinstance(one, Layer) for one in value):
            counts = collections.Counter()
            for layer in value:
                base = snake_case(type(layer).__name__)
                found.setdefault(id(layer), (f"{attribute}/{base}" if counts[base] == 0 else
                                             f"{attribute}/{base}_{counts[base]}", layer))
                counts[base] += 1
    for layer in model.layers:
        if id(layer) not in found:
            raise ValueError(f"layer {layer.name!r} of {type(model).__name__} is not kept in an attribute of the "
                             "model, so Keras's files have no place for its weights: make it in __init__ "
                             f"(self.{layer.name} = ...)")
    return [found[id(layer)] for layer in model.layers]


def save_weights(model, path):
    """Write every layer's weights (get_weights() order) to `path`, which ends in .weights.h5 as Keras
    requires, and, once compiled, the optimizer's step count, rate and state, as Keras writes them.
    Written to a temporary file first and then moved into place: never half a file."""
    import h5py

    path = _checked_path(path)
    if not model.built:
        raise ValueError("the model is not built yet, so it has no weights to save: give it an Input first")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save weights to {path}: the folder {path.parent} does not exist")
    handle, temporary = tempfile.mkstemp(suffix=SUFFIX, dir=path.parent)
    os.close(handle)
    try:
        with h5py.File(temporary, "w") as file:
            if not getattr(model, "_subclassed", False):
                file.create_group("layers")
            for group, layer in layer_groups(model):
                variables = file.create_group(f"{group}/vars")
                variables.attrs["name"] = layer.name
                for index, weight in enumerate(layer.weights):
                    variables.create_dataset(str(index), data=weight)
            file.create_group("vars").attrs["name"] = model.name
        if model.optimizer is not None:
            _save_optimizer_state(model, temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def load_weights(model, path, named=None):
    """Read a .weights.h5 file (saved by this twin or by Keras) into `model`, in place; a compiled
    model also takes the optimizer's state the file holds (with a warning where it holds none that
    fits, as Keras warns).

    Every array is checked against the model (group, count, shape) before any is assigned: a
    file that does not fit raises WeightsFileError and leaves the model as it was. `named`: the
    file to name in a warning (the .keras file this one came out of).
    """
    import h5py

    path = _checked_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    if not model.built:
        raise ValueError("the model is not built yet: give it an Input (or build it) before load_weights")
    try:
        file = h5py.File(path, "r")
    except OSError:
        raise WeightsFileError(f"{path} is not an HDF5 weights file (saved by save_weights)") from None
    arrays = []
    with file:
        in_file = _groups_with_weights(file)
        in_model = [group for group, layer in layer_groups(model) if layer.weights]
        if sorted(in_file) != sorted(in_model):
            def names(groups):
                return ", ".join(group.removeprefix("layers/") for group in groups) or "no layers"
            raise WeightsFileError(f"{path} holds weights for {names(sorted(in_file))}, the model has "
                                   f"{names(in_model)}: it was saved from a different model")
        for group, layer in layer_groups(model):
            if not layer.weights:
                continue
            stored = file[group]["vars"]
            if len(stored) != len(layer.weights):
                raise WeightsFileError(f"{path}: {group.removeprefix('layers/')} holds {len(stored)} arrays, the "
                                       f"model's {layer.name} has {len(layer.weights)}: it was saved from a "
                                       "different model")
            for index, weight in enumerate(layer.weights):
                array = np.asarray(stored[str(index)])
                if array.shape != weight.shape:
                    raise WeightsFileError(f"{path}: {group}/vars/{index} has shape {array.shape}, the "
                                           f"model's {layer.name} needs {weight.shape}: it was saved from a "
                                           "different model")
                arrays.append((weight, array))
    for weight, array in arrays:
        weight[...] = array                  # in place, cast to the model's dtype
    if model.optimizer is not None:
        _load_optimizer_state(model, path, named or path)


def _groups_with_weights(file):
    """The paths of the groups whose vars hold arrays: the layers' (the model's own vars and the optimizer's
    left out)."""
    found = []

    def visit(name, item):
        if name.endswith("/vars") and len(item) and not name.startswith("optimizer/"):
            found.append(name[:-len("/vars")])
    file.visititems(visit)
    return found


def _checked_path(path, suffix=SUFFIX, what="weights", instead=""):
    """`path` as a Path, if its name ends in the suffix Keras 3 requires for this kind of file."""
    path = Path(path)
    if not path.name.endswith(suffix):
        raise ValueError(f"a {what} file name must end in {suffix}, as Keras 3 requires, got {path.name}{instead}")
    return path


# ---- whole models: Keras's .keras archive ------------------------------------------------------
#
# A .keras file is a zip of three entries (Keras's saving_lib):
#   config.json       the model's architecture and compile arguments, each object written as
#                     {"module": "keras.layers", "class_name": "Dense", "config": {its constructor's arguments}}
#   model.weights.h5  the weights, in the layout above
#   metadata.json     when and by what it was saved
# So Keras's keras.models.load_model reads what model.save writes here, and the reverse.

MODEL_SUFFIX = ".keras"
MODEL_INSTEAD = " (for the weights alone: model.save_weights('name.weights.h5'))"
MODULES = {"keras.layers": "layers", "keras.optimizers": "optimizers", "keras.optimizers.schedules": "schedules",
           "keras.regularizers": "regularizers", "keras.initializers": "initializers", "keras.losses": "losses",
           "keras.metrics": "metrics"}
# Keras's arguments that numpy_impl has no use for at these values (its own behaviour); any other value refuses
KERAS_DEFAULTS = {"trainable": True, "noise_shape": None, "data_format": "channels_last", "axis": -1, "center": True,
                  "scale": True, "bias_regularizer": None, "kernel_constraint": None, "bias_constraint": None,
                  "quantization_config": None, "beta_regularizer": None, "gamma_regularizer": None,
                  "beta_constraint": None, "gamma_constraint": None, "synchronized": False, "renorm": False,
                  "rms_scaling": False, "use_ema": False, "loss_scale_factor": None, "gradient_accumulation_steps": None,
                  "bias_initializer": "Zeros", "beta_initializer": "Zeros", "gamma_initializer": "Ones",
                  "moving_mean_initializer": "Zeros", "moving_variance_initializer": "Ones", "lora_rank": None,
                  "input_axes": None, "output_axes": None, "ignore_class": None}
IGNORED = {"name", "dtype", "renorm_clipping", "renorm_momentum", "ema_momentum", "ema_overwrite_frequency",
           "lora_alpha"}  # name where a class takes none (optimizers); dtype: the model's; the rest matter only
                          # where a value above is not Keras's default


class ModelFileError(ValueError):
    """A .keras file numpy_impl cannot read: not a zip, no config.json, or a piece it does not have."""


def save_model(model, path):
    """Write `model` (built, compiled or not) to a .keras file Keras's load_model reads: config.json,
    model.weights.h5 and metadata.json, zipped. Written to a temporary file, then moved into place."""
    import datetime
    import json
    import zipfile

    path = _checked_path(path, MODEL_SUFFIX, "model", MODEL_INSTEAD)
    if not model.built:
        raise ValueError("the model is not built yet, so it has no weights to save: give it an Input first")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save the model to {path}: the folder {path.parent} does not exist")
    config = _model_config(model)
    if model.optimizer is not None:
        loss = _serialize(model.loss)
        if loss["config"] == {"name": model.loss.default_name}:
            loss = model.loss.name                          # as Keras writes compile(loss="categorical_crossentropy")
        config["compile_config"] = {"optimizer": _serialize(model.optimizer), "loss": loss,
                                    "metrics": [metric.name if metric.name in ("accuracy", "acc") else _serialize(metric)
                                                for metric in model.metrics] or None,
                                    "loss_weights": None, "weighted_metrics": None}
    metadata = {"saved_by": "numpy_impl", "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    with tempfile.TemporaryDirectory(dir=path.parent) as folder:
        weights = Path(folder) / "model.weights.h5"
        save_weights(model, weights)                    # the optimizer's state too, once compiled
        temporary = Path(folder) / path.name
        with zipfile.ZipFile(temporary, "w") as archive:
            archive.writestr("metadata.json", json.dumps(metadata))
            archive.writestr("config.json", json.dumps(config))
            archive.write(weights, "model.weights.h5")
        os.replace(temporary, path)


def _model_config(model):
    """config.json's description of the model's architecture, as Keras writes it for each kind of model."""
    dtype = model.dtype.name
    if getattr(model, "_subclassed", False):                # Keras rebuilds it by from_config, then build()
        kind = type(model)
        return {"module": None, "class_name": kind.__name__, "registered_name": _registered_name(kind),
                "config": model.get_config(),
                "build_config": {"input_shape": [None, *model.input_shape]}}
    if hasattr(model, "nodes"):                             # functional: the layers, and who calls whom
        return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
                "config": {"name": model.name, "trainable": True, "layers": _graph_config(model, dtype),
                           "input_layers": [model._input_tensor.layer_name, 0, 0],
                           "output_layers": [model.layers[-1].name, 0, 0]},
                "build_config": {"input_shape": None}}
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": model.name, "trainable": True, "dtype": dtype, "layers": [
                {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                 "config": {"batch_shape": [None, *model.input_shape], "dtype": dtype, "name": "input_layer"}},
                *[_serialize(layer, dtype=dtype) for layer in model.layers]]},
            "build_config": {"input_shape": [None, *model.input_shape]}}


def _graph_config(model, dtype):
    """A functional model's layers as Keras lists them: each with its "inbound_nodes", the tensors it was called
    on, each named by the layer that made it (its "keras_history")."""
    source = model._input_tensor
    entries = [{"module": "keras.layers", "class_name": "InputLayer", "registered_name": None, "name": source.layer_name,
                "config": {"batch_shape": [None, *source.shape], "dtype": dtype, "name": source.layer_name},
                "inbound_nodes": []}]
    for node in model.nodes:
        tensors = [{"class_name": "__keras_tensor__", "config": {
            "shape": [None, *tensor.shape], "dtype": dtype,
            "keras_history": [tensor.layer_name if tensor is source else tensor.node.layer.name, 0, 0]}}
            for tensor in node.inputs]
        entry = _serialize(node.layer, dtype=dtype)
        entry["name"] = node.layer.name
        entry["inbound_nodes"] = [{"args": [tensors if node.merges else tensors[0]], "kwargs": {}}]
        entries.append(entry)
    return entries


# Subclassed models a .keras file may name: register_keras_serializable fills it, as Keras's decorator does
REGISTERED = {}


def register_keras_serializable(package="Custom", name=None):
    """Keras's `@keras.saving.register_keras_serializable()`: load_model finds the decorated class by the name
    the file gives it ("Custom>MLP"), with no custom_objects."""
    def register(kind):
        key = f"{package}>{name or kind.__name__}"
        REGISTERED[key] = kind
        kind._registered_name = key
        return kind
    return register


def _registered_name(kind):
    return kind.__dict__.get("_registered_name", kind.__name__)


# Each optimizer's state in the order Keras keeps its variables, after `iteration` and `learning_rate`
# (no learning_rate with a schedule): a tuple is interleaved weight by weight (Adam: m_0, v_0, m_1, v_1, ...),
# a name alone holds one array per weight in turn. A slot the optimizer does not keep (None: no momentum,
# no amsgrad) Keras does not keep either.
KERAS_STATE = {"SGD": ["velocities"], "Adam": [("momentums", "velocities"), "velocity_hats"],
               "AdamW": [("momentums", "velocities"), "velocity_hats"],
               "RMSprop": ["velocities", "momentums", "average_gradients"], "Adagrad": ["accumulators"]}


def _optimizer_state(model):
    """The optimizer's state arrays in Keras's order, the live arrays themselves (load_model fills them)."""
    optimizer, trainable = model.optimizer, model._trainable
    slots = KERAS_STATE[type(optimizer).__name__]
    names = [name for slot in slots for name in (slot if isinstance(slot, tuple) else (slot,))]
    if all(getattr(optimizer, name, None) is None for name in names):
        # No update yet, so no state: one update with zero gradients makes it at its starting values
        # (zeros, Adagrad's initial accumulator) and moves no weight (every step is a multiple of g or m).
        optimizer.update([np.zeros_like(w) for w in trainable], trainable)
    arrays = []
    for slot in slots:
        held = [getattr(optimizer, name) for name in (slot if isinstance(slot, tuple) else (slot,))]
        if all(one is not None for one in held):
            arrays.extend(array for per_weight in zip(*held) for array in per_weight)
    return arrays


def _save_optimizer_state(model, weights):
    """Append the optimizer's state to the weights file as Keras's optimizer/vars/<0, 1, ...>, so Keras
    goes on training where numpy_impl stopped."""
    import h5py

    optimizer = model.optimizer
    arrays = [np.array(optimizer.iterations, np.int64)]
    if not optimizer.schedule:
        arrays.append(np.array(optimizer.learning_rate, np.float32))
    with h5py.File(weights, "a") as file:
        variables = file.create_group("optimizer").create_group("vars")
        variables.attrs["name"] = snake_case(type(optimizer).__name__)
        for index, array in enumerate(arrays + _optimizer_state(model)):
            variables.create_dataset(str(index), data=array)


def _load_optimizer_state(model, weights, path):
    """Fill the optimizer's state from the file's optimizer/vars (Keras's, or numpy_impl's), so training
    goes on where it stopped. Saved before the first update, the file holds only the step count and the
    rate. A file with no state, or state for another optimizer, leaves it fresh, with a warning, as Keras
    does."""
    import warnings

    import h5py

    optimizer = model.optimizer
    with h5py.File(weights, "r") as file:
        stored = file.get("optimizer/vars")
        stored = [np.asarray(stored[str(index)]) for index in range(len(stored))] if stored is not None else []
    state = _optimizer_state(model)
    counters = 1 if optimizer.schedule else 2                       # iteration, and learning_rate if no schedule
    if len(stored) == counters:                                     # saved before its first update: no state yet
        state = []
    if len(stored) != counters + len(state) or any(a.shape != b.shape for a, b in zip(stored[counters:], state)):
        warnings.warn(f"{path}: skipping the optimizer's state (the file holds {len(stored)} arrays, this "
                      f"{type(optimizer).__name__} keeps {counters + len(state)}): training goes on with fresh "
                      "moments", stacklevel=3)
        return
    optimizer.iterations = int(stored[0])              # (the rate stored next is the config's, already read)
    for array, value in zip(state, stored[counters:]):
        array[...] = value


def load_model(path, custom_objects=None, compile=True):
    """Read a .keras file, saved by this twin or by Keras, into a new model of its kind (Sequential,
    functional, or a subclass found in `custom_objects` or registered with register_keras_serializable): its
    layers, its weights and (if it was compiled, and `compile`) its optimizer with its state, loss and
    metrics, so training goes on where it stopped. A piece numpy_impl does not have raises ModelFileError."""
    import json
    import zipfile

    path = _checked_path(path, MODEL_SUFFIX, "model", MODEL_INSTEAD)
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
            weights = archive.read("model.weights.h5")
    except (zipfile.BadZipFile, KeyError, ValueError):
        raise ModelFileError(f"{path} is not a .keras model file (a zip with config.json and "
                             "model.weights.h5, as model.save writes)") from None
    try:
        model = _model_from_config(config, path, custom_objects or {})
        if compile:
            _compile_from_config(model, config.get("compile_config"), path)
    except (KeyError, TypeError, IndexError, AttributeError) as error:      # a config.json cut short or edited
        raise ModelFileError(f"{path}: its config.json does not describe a Keras model ({type(error).__name__}: "
                             f"{error})") from None
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "model.weights.h5").write_bytes(weights)
        load_weights(model, Path(folder) / "model.weights.h5", named=path)      # the optimizer's state too
    return model


def _model_from_config(config, path, custom_objects):
    from . import layers as layers_module
    from .model import Sequential

    kind = config.get("class_name")
    if kind in ("Functional", "Model") and "layers" in config.get("config", {}):
        return _functional_from_config(config["config"], path)
    if kind != "Sequential":
        return _subclassed_from_config(config, path, custom_objects)
    layer_configs = config["config"]["layers"]
    dtype = _dtype_name(config["config"].get("dtype"))
    model = Sequential(dtype=dtype if dtype in ("float32", "float64") else "float32", name=config["config"].get("name"))
    for entry in layer_configs:
        if entry.get("class_name") == "InputLayer":
            model.add(layers_module.Input(entry["config"]["batch_shape"][1:]))
        else:
            model.add(_deserialize(entry, path))
    if not model.built:
        raise ModelFileError(f"{path} holds a model saved before it was built (no input shape), so it has no "
                             "weights: in Keras, give it a keras.Input(shape=...) first")
    return model


def _functional_from_config(config, path):
    """Replay the graph: each layer, rebuilt from its config, called on the tensors its inbound_nodes name."""
    from .functional import Model
    from .layers import Input

    tensors, dtype = {}, "float32"
    for entry in config["layers"]:
        name = entry.get("name") or entry["config"]["name"]
        if entry.get("class_name") == "InputLayer":
            dtype = _dtype_name(entry["config"].get("dtype")) or dtype
            tensors[name] = Input(entry["config"]["batch_shape"][1:], name=name)
            continue
        nodes = entry.get("inbound_nodes") or []
        if len(nodes) != 1:
            raise ModelFileError(f"{path}: its layer {name!r} is called {len(nodes)} times in the graph: numpy_impl's "
                                 "graphs call each layer once (no shared layers)")
        arguments = nodes[0]["args"][0]
        named = [one["config"]["keras_history"][0] for one in
                 (arguments if isinstance(arguments, list) else [arguments])]
        inputs = [tensors[one] for one in named]
        tensors[name] = _deserialize(entry, path)(inputs if isinstance(arguments, list) else inputs[0])
    ends = []
    for key in ("input_layers", "output_layers"):
        end = config[key]
        if isinstance(end[0], list):
            if len(end) != 1:
                raise ModelFileError(f"{path} holds a model with {len(end)} {key.split('_')[0]}s: numpy_impl's "
                                     "Model takes one input and one output")
            end = end[0]
        ends.append(tensors[end[0]])
    return Model(*ends, name=config.get("name"), dtype=dtype if dtype in ("float32", "float64") else "float32")


def _subclassed_from_config(config, path, custom_objects):
    """A subclass of Model: the class (custom_objects, or registered), made as Keras makes it,
    cls.from_config(config), then built on an input of the saved shape."""
    from . import config as config_module

    names = (config.get("registered_name"), config.get("class_name"))
    kind = next((found for name in names if name for found in (custom_objects.get(name), REGISTERED.get(name))
                 if found is not None), None)
    if kind is None:
        raise ModelFileError(f"{path} holds a {config.get('class_name')} model, a class of the program that saved "
                             f"it: pass it, load_model(path, custom_objects={{'{names[0] or names[1]}': "
                             f"{names[1]}}}), or decorate it with @keras.saving.register_keras_serializable()")
    arguments = dict(config.get("config") or {})
    dtype = _dtype_name(arguments.get("dtype")) or config_module.floatx()
    if "dtype" in arguments:
        arguments["dtype"] = dtype                         # Keras's DTypePolicy dict, as its name
    shape = (config.get("build_config") or {}).get("input_shape")
    if not shape:
        raise ModelFileError(f"{path} holds the model {names[1]}, saved before it was built (no input shape), so "
                             "it has no weights: call it on data before saving")
    model = kind.from_config(arguments)
    model.dtype = np.dtype(dtype)
    model._build_for(tuple(shape[1:]))
    return model


def _compile_from_config(model, compiled, path):
    if not compiled:
        return
    for key in ("loss_weights", "weighted_metrics"):
        if compiled.get(key) is not None:
            raise ModelFileError(f"{path} was compiled with {key}: numpy_impl's compile has no {key}")
    metrics = [metric if isinstance(metric, str) else _deserialize(metric, path)
               for metric in compiled.get("metrics") or []]
    try:
        model.compile(optimizer=_deserialize(compiled["optimizer"], path), loss=_deserialize(compiled["loss"], path),
                      metrics=metrics or None)
    except ValueError as error:                     # e.g. a model that ends in a Softmax layer
        raise ModelFileError(f"{path}: numpy_impl cannot compile this model: {error}") from None


def _serialize(thing, dtype="float32"):
    """A numpy_impl object as Keras writes one: its class, and its constructor's arguments read back from
    the attributes of the same names. An argument at its default is left out, as the reader's default is
    the same (numpy_impl's defaults are Keras's, tested); the name is always written, and a layer's dtype
    when it is not Keras's float32."""
    kind = type(thing)
    module = next(keras for keras, ours in MODULES.items() if kind.__module__ == f"{__package__}.{ours}")
    config = {}
    for name, parameter in _parameters(kind).items():
        value = getattr(thing, name, parameter.default)
        if name == "learning_rate" and getattr(thing, "schedule", None):
            value = thing.schedule                          # a schedule, not its current value
        if name == "activation":
            value = value.name                              # "relu", as Keras writes it
        if isinstance(value, np.dtype):
            value = value.name
        if name == "dtype" and value == "float32":
            continue                                        # Keras's floatx, which None means there too
        if name == "name" or parameter.default is parameter.empty or value != parameter.default:
            config[name] = _serialize(value) if hasattr(value, "__dict__") else value
    if dtype != "float32":
        config["dtype"] = dtype                             # a float64 model's layers: Keras's dtype policy
    return {"module": module, "class_name": kind.__name__, "config": config, "registered_name": None}


def _deserialize(entry, path):
    """The numpy_impl object for one of Keras's {"module", "class_name", "config"}; a string (a loss or an
    optimizer by name) as it is."""
    import importlib

    if isinstance(entry, str):
        return entry
    module, name = entry.get("module"), entry.get("class_name")
    if name == "function":                                  # a loss given as a function: Keras writes its name
        return entry["config"]
    ours = importlib.import_module(f"{__package__}.{MODULES[module]}") if module in MODULES else None
    kind = getattr(ours, name, None) if ours is not None else None
    if not isinstance(kind, type):
        raise ModelFileError(f"{path} holds a {module}.{name}, which numpy_impl does not have")
    parameters = _parameters(kind)
    arguments = {}
    for key, value in entry.get("config", {}).items():
        if key in parameters:
            arguments[key] = _deserialize(value, path) if isinstance(value, dict) and "class_name" in value else value
        elif key in IGNORED or (key == "seed" and module == "keras.initializers"):   # the weights are loaded
            continue
        elif key in KERAS_DEFAULTS and _default_in_keras(key, value):
            continue
        else:
            raise ModelFileError(f"{path}: its {name} has {key}={value!r}, which numpy_impl's {name} does not do")
    try:
        return kind(**arguments)
    except (ValueError, NotImplementedError) as error:     # e.g. a loss with label_smoothing, a rate of 1.5
        raise ModelFileError(f"{path}: its {name}: {error}") from None


def _default_in_keras(key, value):
    default = KERAS_DEFAULTS[key]
    if isinstance(value, dict):
        return value.get("class_name") == default
    return value == default or (key == "axis" and value == [default])      # LayerNormalization's axis: [-1]


def _parameters(kind):
    """{name: inspect.Parameter} of the class's constructor, through the **options it hands on to its base."""
    import inspect

    found = {}
    for cls in kind.__mro__:
        if "__init__" not in cls.__dict__ or cls is object:
            continue
        signature = inspect.signature(cls.__init__)
        found.update({name: parameter for name, parameter in signature.parameters.items()
                      if name not in ("self", "input_shape", "input_dim") and name not in found
                      and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)})
        if not any(parameter.kind == parameter.VAR_KEYWORD for parameter in signature.parameters.values()):
            break
    return found


def _dtype_name(dtype):
    if isinstance(dtype, dict):
        return dtype.get("config", {}).get("name")
    return dtype


def __getattr__(name):
    """The rest of Keras's `keras.saving` (get_custom_objects, ...) left out: one line saying so."""
    if name.startswith("_"):
        raise AttributeError(name)
    raise missing("saving", name, ("load_model", "load_weights", "register_keras_serializable", "save_model",
                                   "save_weights"))

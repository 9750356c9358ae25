"""save_weights and load_weights in Keras 3's `.weights.h5` layout, so Keras loads what the NumPy twin
saves, and the reverse.

The file is HDF5 (h5py reads and writes it; it is imported here alone, only when a file is
saved or loaded). Keras keeps each layer's weights, in get_weights() order, at

    layers/<the layer's class in snake case, numbered per class>/vars/<0, 1, ...>
    e.g. layers/dense/vars/0 (kernel, in x out), layers/dense/vars/1 (bias), layers/dense_1/vars/0, ...
         layers/batch_normalization/vars/0..3 (gamma, beta, moving_mean, moving_variance)

The group names come from the class, counted within the model (dense, dense_1, ...), not from
the layer's name, so a model's first Dense is "dense" whatever it is called. Layers without
weights get an empty group, as Keras writes them. Keras also saves its optimizer's state under
"optimizer"; the NumPy twin writes none and skips Keras's on loading (training restarts it).
"""
import collections
import os
import tempfile
from pathlib import Path

import numpy as np

from .utils import snake_case

SUFFIX = ".weights.h5"


class WeightsFileError(ValueError):
    """A weights file that does not fit the model: a missing group, a count or a shape that differs."""


def layer_groups(model):
    """[(group name, layer)], in the model's order: Keras's names for where each layer's weights go."""
    counts = collections.Counter()
    groups = []
    for layer in model.layers:
        base = snake_case(type(layer).__name__)
        groups.append((base if counts[base] == 0 else f"{base}_{counts[base]}", layer))
        counts[base] += 1
    return groups


def save_weights(model, path):
    """Write every layer's weights (get_weights() order) to `path`, which ends in .weights.h5 as Keras
    requires. Written to a temporary file first and then moved into place: never half a file."""
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
            layers = file.create_group("layers")
            for group, layer in layer_groups(model):
                variables = layers.create_group(group).create_group("vars")
                variables.attrs["name"] = layer.name
                for index, weight in enumerate(layer.weights):
                    variables.create_dataset(str(index), data=weight)
            file.create_group("vars").attrs["name"] = model.name
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def load_weights(model, path):
    """Read a .weights.h5 file (saved by this twin or by Keras) into `model`, in place.

    Every array is checked against the model (group, count, shape) before any is assigned: a
    file that does not fit raises WeightsFileError and leaves the model as it was.
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
        layers = file["layers"] if "layers" in file else {}
        in_file = [group for group in layers if len(layers[group].get("vars", ()))]
        in_model = [group for group, layer in layer_groups(model) if layer.weights]
        if sorted(in_file) != sorted(in_model):
            raise WeightsFileError(f"{path} holds weights for {', '.join(sorted(in_file)) or 'no layers'}, the "
                                   f"model has {', '.join(in_model)}: it was saved from a different model")
        for group, layer in layer_groups(model):
            if not layer.weights:
                continue
            stored = layers[group]["vars"]
            if len(stored) != len(layer.weights):
                raise WeightsFileError(f"{path}: {group} holds {len(stored)} arrays, the model's {layer.name} "
                                       f"has {len(layer.weights)}: it was saved from a different model")
            for index, weight in enumerate(layer.weights):
                array = np.asarray(stored[str(index)])
                if array.shape != weight.shape:
                    raise WeightsFileError(f"{path}: layers/{group}/vars/{index} has shape {array.shape}, the "
                                           f"model's {layer.name} needs {weight.shape}: it was saved from a "
                                           "different model")
                arrays.append((weight, array))
    for weight, array in arrays:
        weight[...] = array                  # in place, cast to the model's dtype


def _checked_path(path):
    path = Path(path)
    if not path.name.endswith(SUFFIX):
        raise ValueError(f"a weights file name must end in {SUFFIX}, as Keras requires, got {path.name}")
    return path

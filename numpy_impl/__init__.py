"""numpy_impl: a dense neural network from scratch, in NumPy and nothing else.

It answers Keras's calls under Keras's names, so a tutorial written for Keras
runs with `import numpy_impl as keras`: `keras.Sequential`, `keras.Input`,
`keras.layers.Dense`, `keras.optimizers.Adam`, `keras.losses...`,
`keras.metrics...`, `keras.utils.to_categorical`. What it leaves out (the
functional API, other layer types, tensors) raises `NotSupported` with one
line saying so.
"""
from . import activations, callbacks, initializers, layers, losses, metrics, models, optimizers, regularizers, saving, utils
from .callbacks import (Callback, CSVLogger, EarlyStopping, History, LambdaCallback, LearningRateScheduler,
                        ModelCheckpoint, ReduceLROnPlateau, TerminateOnNaN, TrainingDiverged)
from .layers import Activation, BatchNormalization, Dense, Dropout, Flatten, Input, LayerNormalization, Softmax
from .losses import CategoricalCrossentropy, SparseCategoricalCrossentropy
from .model import Sequential, build_model, layer_outputs, loss_and_gradients
from .models import Model
from .optimizers import SGD, Adam, RMSprop
from .regularizers import L1, L1L2, L2
from .utils import NotSupported, one_hot

__all__ = ["Activation", "Adam", "BatchNormalization", "CSVLogger", "Callback", "CategoricalCrossentropy", "Dense",
           "Dropout", "EarlyStopping", "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint", "ReduceLROnPlateau",
           "TerminateOnNaN",
           "Flatten", "History", "Input", "L1", "L1L2", "L2", "LayerNormalization", "Model", "NotSupported", "RMSprop",
           "SGD", "Sequential", "Softmax", "SparseCategoricalCrossentropy", "TrainingDiverged", "activations",
           "build_model", "callbacks", "initializers", "layer_outputs", "layers", "loss_and_gradients", "losses",
           "metrics", "models", "one_hot", "optimizers", "regularizers", "saving", "utils"]


def __getattr__(name):
    """`keras.ops`, `keras.backend`, `keras.datasets`, ...: one line saying numpy_impl has none."""
    if name.startswith("_"):
        raise AttributeError(name)
    raise NotSupported(utils.GAPS["module"].format(name=name))

"""numpy_impl: a dense neural network from scratch, in NumPy and nothing else.

It answers Keras's calls under Keras's names, so a tutorial written for Keras
runs with `import numpy_impl as keras`: `keras.Sequential`, `keras.Input`,
`keras.Model` (functional and subclassed), `keras.layers.Dense`,
`keras.optimizers.Adam`, `keras.losses...`, `keras.metrics...`,
`keras.callbacks...`, `keras.config.set_floatx`,
`keras.utils.to_categorical`. What it leaves out (other
layer types, tensors, models with several inputs) raises `NotSupported` with
one line saying so.
"""
from . import (activations, callbacks, config, initializers, layers, losses, metrics, models, optimizers, regularizers,
               saving, utils)
from .callbacks import (Callback, CSVLogger, EarlyStopping, History, LambdaCallback, LearningRateScheduler,
                        ModelCheckpoint, ReduceLROnPlateau, TerminateOnNaN, TrainingDiverged)
from .layers import Activation, Add, BatchNormalization, Concatenate, Dense, Dropout, Flatten, Input, LayerNormalization, Softmax
from .losses import CategoricalCrossentropy, SparseCategoricalCrossentropy
from .model import Sequential, build_model, layer_outputs, loss_and_gradients
from .functional import Model
from .optimizers import SGD, Adam, RMSprop
from .regularizers import L1, L1L2, L2
from .utils import NotSupported, one_hot

__all__ = ["Activation", "Adam", "Add", "BatchNormalization", "CSVLogger", "Callback", "CategoricalCrossentropy",
           "Concatenate", "Dense", "Dropout", "EarlyStopping", "Flatten", "History", "Input", "L1", "L1L2", "L2",
           "LambdaCallback", "LayerNormalization", "LearningRateScheduler", "Model", "ModelCheckpoint",
           "NotSupported", "RMSprop", "ReduceLROnPlateau", "SGD", "Sequential", "Softmax",
           "SparseCategoricalCrossentropy", "TerminateOnNaN", "TrainingDiverged", "activations", "build_model",
           "callbacks", "config", "initializers", "layer_outputs", "layers", "loss_and_gradients", "losses", "metrics",
           "models", "one_hot", "optimizers", "regularizers", "saving", "utils"]


def __getattr__(name):
    """`keras.ops`, `keras.backend`, `keras.datasets`, ...: one line saying numpy_impl has none."""
    if name.startswith("_"):
        raise AttributeError(name)
    raise NotSupported(utils.GAPS["module"].format(name=name))

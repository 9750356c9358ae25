"""numpy_impl: a dense neural network from scratch, in NumPy and nothing else."""
from .layers import Dense, Dropout, Flatten, Input
from .losses import CategoricalCrossentropy, SparseCategoricalCrossentropy
from .model import History, Sequential, TrainingDiverged, build_model, loss_and_gradients, one_hot
from .optimizers import SGD, Adam, RMSprop
from .regularizers import L2

__all__ = ["Adam", "CategoricalCrossentropy", "Dense", "Dropout", "Flatten", "History", "Input", "L2",
           "RMSprop", "SGD", "Sequential", "SparseCategoricalCrossentropy", "TrainingDiverged",
           "build_model", "loss_and_gradients", "one_hot"]

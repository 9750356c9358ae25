"""numpy_impl: a dense neural network from scratch, in NumPy and nothing else."""
from .layers import Dense, Input
from .model import History, Sequential, TrainingDiverged, build_model, loss_and_gradients, one_hot
from .optimizers import SGD

__all__ = ["Dense", "Input", "History", "Sequential", "SGD", "TrainingDiverged",
           "build_model", "loss_and_gradients", "one_hot"]

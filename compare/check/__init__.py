"""python -m compare check TWIN: is a learner's twin the same network as Keras's?

TWIN is a module name, a package folder or a .py file exporting the shared API
(`build_model`, `loss_and_gradients`; a model with fit, evaluate, predict,
get_weights, set_weights, optimizer.learning_rate). The pieces:

    stages.py     the stages, in the order each needs the ones before it
    reference.py  the network, batches and bounds, and what numpy_impl and Keras answer
    cache.py      those answers kept on disk, so that a warm check never imports TensorFlow
    hints.py      the plain-words hint for the first failing stage
    guard.py      every call into the twin: a time limit, its output kept aside, inputs watched
    worker.py     the process the twin runs in; remote.py, check's side of it; wire.py, what crosses
    results.py    the table's rows, the score (by row, topic or rubric), and Gradescope's results.json
    grade.py      a class at once; autograder.py, Gradescope's autograder zip

This package imports its parts when they are first asked for: the worker imports
`compare.check.worker` and must not load numpy_impl, the stages or the references.
"""
import importlib

_EXPORTS = {
    "CheckError": ("compare.twins", "TwinError"), "describe_error": ("compare.twins", "describe_error"),
    "load_twin": ("compare.twins", "load_twin"), "DEFAULT_TIMEOUT": (".guard", "DEFAULT_TIMEOUT"),
    "CLASSES": (".reference", "CLASSES"), "HIDDEN": (".reference", "HIDDEN"), "INPUT_DIM": (".reference", "INPUT_DIM"),
    "VOCABULARY": (".reference", "VOCABULARY"), "dropout_reference": (".reference", "dropout_reference"),
    "vocabulary_reference": (".reference", "vocabulary_reference"),
    "HEADER": (".results", "HEADER"), "gradescope": (".results", "gradescope"), "write_json": (".results", "write_json"),
    "STAGES": (".stages", "STAGES"), "Checker": (".stages", "Checker"), "StageFailed": (".stages", "StageFailed"),
    "run_check": (".run", "run_check"), "DEFAULT_MEMORY_MB": (".remote", "DEFAULT_MEMORY_MB"),
}


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module, __name__), attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))

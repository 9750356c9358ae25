"""python -m compare check TWIN: is a learner's twin the same network as Keras's?

TWIN is a module name, a package folder or a .py file exporting the shared API
(`build_model`, `loss_and_gradients`; a model with fit, evaluate, predict,
get_weights, set_weights, optimizer.learning_rate). The pieces:

    stages.py     the stages, in the order each needs the ones before it
    reference.py  the network, batches and bounds, and what numpy_impl and Keras answer
    hints.py      the plain-words hint for the first failing stage
    guard.py      every call into the twin: a time limit, its output kept aside, inputs watched
    results.py    the table's rows, and Gradescope's results.json
"""
import time

from ..twins import TwinError as CheckError  # noqa: F401  (the CLI's name for it)
from ..twins import describe_error, load_twin  # noqa: F401  (part of check's API)
from .guard import DEFAULT_TIMEOUT
from .reference import CLASSES, HIDDEN, INPUT_DIM, VOCABULARY, dropout_reference, reference, vocabulary_reference
from .results import HEADER, gradescope, write_json  # noqa: F401
from .stages import STAGES, Checker, StageFailed  # noqa: F401


def run_check(spec, emit=print, module=None, timeout=DEFAULT_TIMEOUT):
    """Check TWIN (or an already imported `module`); returns (passed, checker)."""
    if module is None:
        module = load_twin(spec)
    start = time.perf_counter()
    emit(f"Checking {spec}, loaded from {getattr(module, '__file__', None) or '(no file)'}")
    borrowed = getattr(getattr(module, "build_model", None), "__module__", "") or ""
    if borrowed.startswith("numpy_impl") and not (module.__name__ or "").startswith("numpy_impl"):
        emit(f"  note: its build_model is the package's own ({borrowed}), not one written in {spec}")
    emit(f"against numpy_impl and the Keras twin (TensorFlow autodiff), float64, "
         f"network {INPUT_DIM}-{'-'.join(map(str, HIDDEN))}-{CLASSES}, batch 32"
         + (f"; each call may take {timeout:g} s" if timeout else "; no time limit"))
    reference()                      # builds the references (and imports TensorFlow) before the table
    dropout_reference()
    for label in VOCABULARY:
        vocabulary_reference(label)
    emit("")
    emit(HEADER)
    checker = Checker(module, emit, timeout=timeout)
    passed = checker.run()
    checker.seconds = time.perf_counter() - start
    printed = checker.guard.printed_lines()
    if printed:
        emit("")
        emit(f"(your twin printed {len(printed)} line{'s' * (len(printed) > 1)} during the check, kept out of the "
             f"table; the first: {printed[0][:80]!r})")
    emit("")
    if passed:
        emit(f"All {len(checker.rows)} checks passed in {checker.seconds:.1f} s: "
             f"{spec} is the same network as Keras's, to float64 rounding.")
    return passed, checker

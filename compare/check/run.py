"""run_check: one twin through every stage, in a worker process (or in this one, for a module already imported)."""
import time

from . import cache as reference_cache
from .guard import DEFAULT_TIMEOUT
from .reference import CLASSES, HIDDEN, INPUT_DIM
from ..twins import TwinError
from .remote import DEFAULT_MEMORY_MB, TwinFault, WorkerLink
from .results import HEADER
from .stages import Checker


def run_check(spec, emit=print, module=None, timeout=DEFAULT_TIMEOUT, memory_mb=DEFAULT_MEMORY_MB, user=None,
              threads=None, cache_dir=reference_cache.DEFAULT):
    """Check TWIN; returns (passed, checker).

    The twin runs in a worker process of its own (worker.py), unless `module` is given: then that
    already imported module is called in this process (the tests plant bugs that way; a learner's
    code is never imported here by the command line). cache_dir: where the reference answers are
    kept (None: computed afresh). Scores are counted from its rows (results.gradescope).
    Raises TwinError when the twin cannot be loaded.
    """
    start = time.perf_counter()
    reference_cache.prepare(cache_dir)   # first: from the cache, or computed here (importing TensorFlow)
    link = None
    if module is None:
        try:
            link = WorkerLink(spec, timeout=timeout, memory_mb=memory_mb, user=user, threads=threads)
        except TwinFault as fault:            # it ended, hung or crashed while importing
            raise TwinError(f"could not import {spec}: {fault.hint}") from None
    try:
        file = link.file if link else getattr(module, "__file__", None)
        name = link.name if link else module.__name__
        borrowed = link.build_model_module if link else getattr(getattr(module, "build_model", None), "__module__", "")
        emit(f"Checking {spec}, loaded from {file or '(no file)'}")
        if (borrowed or "").startswith("numpy_impl") and not (name or "").startswith("numpy_impl"):
            emit(f"  note: its build_model is the package's own ({borrowed}), not one written in {spec}")
        emit(f"against numpy_impl and the Keras twin (TensorFlow autodiff), float64, "
             f"network {INPUT_DIM}-{'-'.join(map(str, HIDDEN))}-{CLASSES}, batch 32"
             + (f"; each call may take {timeout:g} s" if timeout else "; no time limit"))
        emit("")
        emit(HEADER)
        checker = Checker(link or module, emit, timeout=timeout)
        passed = checker.run()
    finally:
        if link is not None:
            link.close()
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

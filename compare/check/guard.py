"""Calling a learner's code without trusting it: a time limit, its printing kept aside, the
arrays it is given watched for changes, and float32 found where float64 was asked for.

Every call `check` makes into a twin goes through `Guard.call`. What can go wrong
there is said in one line that names the call, never as a traceback from check.
"""
import contextlib
import io
import signal
import sys
from pathlib import Path

import numpy as np

from ..twins import describe_error, error_location

DEFAULT_TIMEOUT = 60.0     # seconds one call may take; check numpy_impl's slowest call takes ~0.05 s


class CallTimedOut(BaseException):
    """A twin's call ran past its time limit. A BaseException, so that a learner's
    `except Exception:` inside a loop cannot swallow it."""


class GuardFailed(Exception):
    """A call misbehaved (timed out, raised, changed its inputs): `hint` says how, `what` in a row."""

    def __init__(self, hint, what):
        super().__init__(hint)
        self.hint, self.what = hint, what


@contextlib.contextmanager
def time_limit(seconds):
    """Raise CallTimedOut in the body after `seconds` (a real-time alarm; main thread only,
    elsewhere the body runs without a limit)."""
    if not seconds:
        yield
        return

    def expire(signum, frame):
        raise CallTimedOut()

    try:
        previous = signal.signal(signal.SIGALRM, expire)
    except ValueError:                    # not the main thread: signals cannot reach us here
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Guard:
    """Runs the twin's calls for one check.

    home: the twin's file or folder, so an error names the learner's own line.
    timeout: seconds per call (0: none).
    """

    def __init__(self, home=None, timeout=DEFAULT_TIMEOUT, memory_mb=None):
        self.home = Path(home).resolve() if home else None
        self.timeout = timeout
        self.memory_mb = memory_mb        # the worker's limit, named when a call runs out of it
        self.capture = True               # False in the worker, whose descriptors 1 and 2 the parent reads
        self.printed = io.StringIO()      # what the twin printed: kept out of the table
        self.given = []                   # (label, the array handed over, a pristine copy, its bytes)

    def give(self, label, array):
        """A copy of `array` to hand to the twin; check later that the twin left it as it was."""
        mine = np.array(array, copy=True)
        self.given.append((label, mine, mine.copy(), mine.tobytes()))
        return mine

    def call(self, what, function, *args, **kwargs):
        """function(*args, **kwargs) under the time limit, its output captured; then every array
        given so far must be unchanged. NotImplementedError passes through (an exercise's blank)."""
        output = self.printed if self.capture else None
        try:
            with contextlib.redirect_stdout(output or sys.stdout), contextlib.redirect_stderr(output or sys.stderr), \
                    time_limit(self.timeout):
                result = function(*args, **kwargs)
        except NotImplementedError:
            raise
        except MemoryError:
            limit = f" ({self.memory_mb} MB; allow more with --memory MB)" if self.memory_mb else ""
            raise GuardFailed(f"{what} ran out of the memory it may use{limit}: an array that grows with every "
                              "step, or one far larger than the network needs?",
                              f"{what}: out of memory") from None
        except CallTimedOut as stopped:
            where = error_location(stopped, self.home, own_only=True)      # the twin's line it was running
            raise GuardFailed(f"{what} did not return within {self.timeout:g} s"
                              + (f"; when stopped it was running {where}" if where else "")
                              + ": an endless loop, or a loop whose end condition never comes true (a while "
                              "loop over batches that never advances its index?). Allow longer with --timeout "
                              "SECONDS.", f"{what}: no answer in {self.timeout:g} s") from None
        except (Exception, SystemExit) as error:          # SystemExit: a twin calling sys.exit()
            raise GuardFailed(f"{what} raised {self.describe(error)}.",
                              f"{what} raised {type(error).__name__}") from None
        self.check_inputs(what)
        return result

    def check_inputs(self, what):
        for label, array, pristine, pristine_bytes in self.given:
            if array.shape == pristine.shape and array.tobytes() == pristine_bytes:     # fast: the same bytes
                continue
            if array.shape != pristine.shape or not np.array_equal(array, pristine, equal_nan=True):
                changed = int(np.count_nonzero(array != pristine)) if array.shape == pristine.shape else array.size
                raise GuardFailed(
                    f"{what} changed {label} in place ({changed} of {pristine.size} entries): a twin must "
                    "never write into the arrays it is given, which belong to the caller (Keras never does). "
                    "`x -= m` or `x[...] = ...` or an out= writes into the caller's array; `x = x - m` makes "
                    "a new one. If set_weights keeps the arrays it is given, copy them first.",
                    f"{what}: changed {label}")

    def printed_lines(self):
        return [line for line in self.printed.getvalue().splitlines() if line.strip()]

    def describe(self, error):
        """The error and the twin's own deepest line: 'ValueError: ... (layers.py:57, in Dense.affine)'."""
        return describe_error(error, self.home)


# ---- float32 where float64 was asked for ----------------------------------------------------

def float32_trace(value):
    """How `value` shows float32: "dtype float32", "float32 values" (float64 entries that are
    all exact float32 numbers: computed in float32, then widened), or None if it does not.

    A float64 computed in float64 is a float32 number by chance with probability about 2**-29
    per entry; zeros and whole numbers are left out, since they are float32 numbers anyway.
    """
    array = np.asarray(value)
    if array.dtype in (np.float32, np.float16):
        return f"dtype {array.dtype}"
    if array.dtype != np.float64:
        return None
    entries = array[np.isfinite(array)]
    entries = entries[entries != np.round(entries)]
    if entries.size and np.array_equal(entries, entries.astype(np.float32).astype(np.float64)):
        return "float32 values"
    return None

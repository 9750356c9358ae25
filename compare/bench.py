"""Speed: the NumPy twin and Keras on each backend, epoch by epoch, against this machine's floor.

The floor: the floating-point work a training step really does, 2 * B * in * out
for each layer's forward matmul and for its dL/dW, and again for dL/dx of every
layer but the first (whose input is data: neither twin computes it), divided by
the best large-matmul rate measured in the run on NumPy or on any engine timed.
No engine can run below it. NumPy's own limit sits above it: the epoch's matmuls
alone, timed in NumPy at the exact shapes of each batch size, in both of the twin's
BLAS settings, in every round beside the training epochs; the fastest round counts.

What ran is named: the BLAS under NumPy and its kernel (threadpoolctl), its
threads, the CPU, and any OPENBLAS_* / MKL_* / OMP_* variable set; and how busy
the machine was (CPU time of other processes during the timing, from /proc/stat).

Keras picks its backend once per process, so each backend runs in a worker
process of its own (`serve`, below) that holds its models and times its own
`fit` calls. This process holds the NumPy twin and conducts: every epoch it
asks each setting in turn for one timed epoch (one `fit(epochs=1)` as a user
runs it, shuffled, timed from the epoch's start to its end), so the workers never run at
the same time, and a slow spell on the shared machine falls on all settings
alike. Compare them as ratios: on a shared machine a ratio holds, a raw time less so.
"""
import contextlib
import multiprocessing
import os
import platform
import statistics
import time
import types

from pathlib import Path

import numpy as np

from .backends import label

# The NumPy twin's two settings: "numpy", its fit as it comes (NumPy's BLAS on every core), and
# "numpy_1thread", the same fit with NumPy's BLAS on one thread (threadpoolctl), what small batches
# want: at batch 32 each matmul is too small to share, and handing it to a second thread costs more.
NUMPY_THREADS = {"numpy": None, "numpy_1thread": 1}


def blas_threads(threads):
    """A context in which NumPy's BLAS uses `threads` threads (None: leave it as it is)."""
    from threadpoolctl import threadpool_limits
    return contextlib.nullcontext() if threads is None else threadpool_limits(limits=threads, user_api="blas")


# Per backend, the fastest CPU setting of compile() found here for this network (README, "Speed").
KERAS_FAST = {"tensorflow": dict(jit_compile=True, steps_per_execution=64),   # XLA, 64 steps per graph call
              "jax": dict(steps_per_execution=64),                            # jit is JAX's default already
              "torch": dict(jit_compile=True)}                                 # torch.compile; one step per call


def matmul_rate(dtype="float32", size=2048, repeats=5):
    """Floating-point operations per second of one large a @ b (best of `repeats`)."""
    a = np.random.default_rng(0).random((size, size)).astype(dtype)
    a @ a                                                     # warm up BLAS's threads
    best = min(_seconds(lambda: a @ a) for _ in range(repeats))
    return 2 * size ** 3 / best


def epoch_flops(n_samples, layer_sizes):
    """The matmul work of one epoch: per sample, 2 * in * out for each layer's forward pass and
    for its dL/dW, and for dL/dx of every layer but the first (its input is data)."""
    products = [a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:])]
    return 2 * n_samples * (2 * sum(products) + sum(products[1:]))


def matmul_epoch(x, layer_sizes, batch_size):
    """NumPy's own limit, as work to time: a function that makes one epoch's matmuls alone, at the
    twin's exact shapes.

    Per batch, forward a @ W for each layer, dL/dW = a.T @ g and dL/dx = g @ W.T (not for the
    first layer), every product into an array kept from batch to batch, as the twin does. (Until
    2026-11-26 the forward products and dL/dx were new arrays each batch: at batch 1024 that cost
    a fifth more time, and the twin looked closer to its limit than it was.)
    """
    rng = np.random.default_rng(0)
    kernels = [rng.random((a, b), dtype=x.dtype) for a, b in zip(layer_sizes[:-1], layer_sizes[1:])]
    grads = [np.empty_like(w) for w in kernels]
    buffers = {}

    def buffer(key, shape):
        if key not in buffers or buffers[key].shape != shape:
            buffers[key] = np.empty(shape, x.dtype)
        return buffers[key]

    def epoch():
        for start in range(0, len(x), batch_size):
            activations = [x[start:start + batch_size]]
            rows = len(activations[0])
            for index, kernel in enumerate(kernels):
                activations.append(np.matmul(activations[-1], kernel, out=buffer(("z", index), (rows, kernel.shape[1]))))
            upstream = activations[-1]
            for index in range(len(kernels) - 1, -1, -1):
                np.matmul(activations[index].T, upstream, out=grads[index])
                if index:
                    upstream = np.matmul(upstream, kernels[index].T,
                                         out=buffer(("dx", index), (rows, kernels[index].shape[0])))
    return epoch


def _seconds(work):
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def epoch_breakdown(model, x, y, order, batch_size, threads=None):
    """Where one epoch of the NumPy twin's fit goes, in seconds: {"matmul", "elementwise",
    "optimizer", "python", "total"}.

    matmul: inside np.matmul in numpy_impl.layers (timed by a stand-in for the layers' `np` whose
        matmul is np.matmul with a stopwatch); elementwise: the rest of forward, loss and
        backward (compute_gradients), bias adds, activations, the loss's softmax, with the Python
        that calls them; optimizer: optimizer.apply; python: the rest of fit (its loop, the batch
        gathers, the running loss and accuracy). The stopwatches add about 1 us a step.
    """
    from numpy_impl import layers

    spent = {"matmul": 0.0, "compute": 0.0, "optimizer": 0.0}

    def stopwatch(function, key):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - start
        return timed

    timed_numpy = types.ModuleType("numpy")                   # numpy itself, but for a timed matmul
    timed_numpy.__dict__.update(np.__dict__)
    timed_numpy.matmul = stopwatch(np.matmul, "matmul")
    model.compute_gradients = stopwatch(model.compute_gradients, "compute")          # shadows the method
    model.optimizer.apply = stopwatch(model.optimizer.apply, "optimizer")
    layers.np = timed_numpy
    try:
        total = _threaded_epoch(model, x, y, order, batch_size, threads)
    finally:
        layers.np = np
        del model.compute_gradients, model.optimizer.apply
    return {"matmul": spent["matmul"], "elementwise": spent["compute"] - spent["matmul"],
            "optimizer": spent["optimizer"], "python": total - spent["compute"] - spent["optimizer"],
            "total": total}


def epoch_stopwatch(callback_class):
    """A callback, made from `callback_class` (numpy_impl's Callback or Keras's), that times an
    epoch as Keras's progress bar does: from on_epoch_begin to on_epoch_end. `seconds`: the last."""
    class EpochStopwatch(callback_class):
        seconds = None

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.started
    return EpochStopwatch()


def timed_epoch(model, x, y, order, batch_size, stopwatch):
    """Seconds of one epoch of `model.fit(..., epochs=1)` as a user runs it: shuffled (fit's
    default, so each engine's own shuffling is timed), timed by `stopwatch` (epoch_stopwatch) from
    the epoch's start to its end. What fit does once per call (the twin's check that x is finite,
    Keras's data adapter) is left out: a user's fit(epochs=N) pays it once, not every epoch.
    (Until 2026-11-27 the whole call was timed, on data permuted beforehand, unshuffled.)

    order: the samples to train on (None: all of x), taken outside the stopwatch.
    """
    if order is not None:
        x, y = x[order], y[order]
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, callbacks=[stopwatch])
    return stopwatch.seconds


# ---- the worker: one process per Keras backend ----------------------------------------------

def bench_models(keras_impl, backend, options):
    """{"keras": the Keras twin with compile's defaults, "keras_fast": the same network compiled
    again with KERAS_FAST[backend]}: the twin's own loss and optimizer (on JAX and PyTorch its loss
    takes logits), only the execution settings changed."""
    fast = keras_impl.build_model(**options)
    fast.compile(optimizer=fast.optimizer, loss=fast.loss, metrics=["accuracy"], **KERAS_FAST[backend])
    return {"keras": keras_impl.build_model(**options), "keras_fast": fast}


def serve(backend, connection):
    """A worker's loop: Keras on `backend`, answering (command, ...) messages until "stop".

    ("data", x, y) -> None; ("build", options) -> None (builds "keras" with compile's
    defaults and "keras_fast" with KERAS_FAST); ("fit", name, order, batch_size) -> an epoch's
    seconds (timed_epoch; order None: all of x);
    ("versions",) -> {package: version}, once Keras is seen to run on `backend`. A failure answers
    ("error", text).
    """
    os.environ["KERAS_BACKEND"] = backend
    from .quiet import import_keras_quietly
    import_keras_quietly()
    import keras
    import keras_impl

    x = y = None
    models = {}
    while True:
        message = connection.recv()
        command, arguments = message[0], message[1:]
        try:
            if command == "stop":
                break
            if command == "data":
                x, y = arguments
                answer = None
            elif command == "build":
                options, = arguments
                models = bench_models(keras_impl, backend, options)
                answer = None
            elif command == "fit":
                name, order, batch_size = arguments
                answer = timed_epoch(models[name], x, y, order, batch_size, epoch_stopwatch(keras.callbacks.Callback))
            elif command == "matmul_rate":
                answer = engine_matmul_rate(str(x.dtype))
            elif command == "versions":
                if keras.backend.backend() != backend:     # else its figures would be another engine's, named this one's
                    raise RuntimeError(f"Keras runs on {keras.backend.backend()} here, not {backend}")
                module = __import__(backend)
                answer = {"keras": keras.__version__, backend: module.__version__}
            else:
                raise ValueError(f"unknown command {command!r}")
        except Exception as error:                  # said to the conductor, which stops the run
            answer = ("error", f"{type(error).__name__}: {error}")
        connection.send(answer)


def engine_matmul_rate(dtype="float32", size=2048, repeats=5):
    """Floating-point operations per second of one large matmul on Keras's current backend."""
    import keras
    a = keras.ops.convert_to_tensor(np.random.default_rng(0).random((size, size)).astype(dtype))

    def product():
        keras.ops.convert_to_numpy(keras.ops.matmul(a, a))   # waits for the result (JAX is asynchronous)
    product()
    # the copy back to NumPy is counted in; at 2048^2 it is under 1% of the product
    return 2 * size ** 3 / min(_seconds(product) for _ in range(repeats))


class WorkerError(RuntimeError):
    """A backend's worker process failed or ended: said in one line, the run stops."""


class Worker:
    """The conductor's handle on one backend's worker process."""

    def __init__(self, backend):
        self.backend = backend
        context = multiprocessing.get_context("spawn")        # a fresh interpreter: Keras not yet imported
        self.connection, child = context.Pipe()
        self.process = context.Process(target=serve, args=(backend, child), daemon=True)
        self.process.start()
        child.close()

    def ask(self, *message):
        try:
            self.connection.send(message)
            answer = self.connection.recv()
        except (EOFError, OSError):                         # the process died: closed or reset pipe
            raise WorkerError(f"the {self.backend} worker process ended unexpectedly "
                              f"(exit code {self.process.exitcode})") from None
        if isinstance(answer, tuple) and answer and answer[0] == "error":
            raise WorkerError(f"Keras on {self.backend}: {answer[1]}")
        return answer

    def close(self):
        if self.process.is_alive():
            try:
                self.connection.send(("stop",))
            except OSError:
                pass
            self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()


def _summary(seconds, n_samples):
    steady_epochs = seconds[1:] or seconds
    steady = statistics.median(steady_epochs)
    # the median resists a slow spell of the shared machine; the fastest epoch and the spread
    # ((slowest - fastest) / median of the steady epochs) are kept beside it
    return {"epoch_seconds": seconds, "first_epoch_seconds": seconds[0],
            "seconds_per_epoch": steady, "fastest_epoch_seconds": min(steady_epochs),
            "spread": (max(steady_epochs) - min(steady_epochs)) / steady,
            "samples_per_second": n_samples / steady}


# ---- how busy the machine was -----------------------------------------------------------------

BUSY_SHARE = 0.15        # other processes using more than this share of all cores: the figures are suspect
NOISY_SPREAD = 0.25      # the settings' steady epochs spreading by more than this, in the median: likewise
SPREAD_MIN_SECONDS = 0.2  # settings whose epochs last this long count: shorter ones spread from timer jitter alone


class CpuMeter:
    """The share of all cores that processes other than the bench used while it ran.

    /proc/stat counts the machine's busy time, /proc/<pid>/stat each process's (both in clock
    ticks); the bench's own processes (this one and its workers) are taken out of the total.
    None where /proc is not there.
    """

    def __init__(self, pids=()):
        self.pids = {os.getpid(), *pids}
        self.start = self._read()

    @staticmethod
    def _machine():
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
        idle = fields[3] + fields[4]                          # idle, iowait
        return sum(fields[:8]) - idle, sum(fields[:8])        # busy, total (guest time is inside user)

    @staticmethod
    def _process(pid):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])          # utime, stime
        except (OSError, IndexError, ValueError):
            return 0

    def _read(self):
        try:
            busy, total = self._machine()
        except (OSError, ValueError, IndexError):
            return None
        return busy, total, {pid: self._process(pid) for pid in self.pids}

    def add(self, pid):
        self.pids.add(pid)
        if self.start is not None:
            self.start[2][pid] = self._process(pid)

    def others_share(self):
        end = self._read()
        if self.start is None or end is None or end[1] == self.start[1]:
            return None
        ours = sum(end[2].get(pid, 0) - self.start[2].get(pid, 0) for pid in self.pids)
        return max(0.0, (end[0] - self.start[0] - ours) / (end[1] - self.start[1]))


def noise_warning(others_share, results):
    """One line if the machine was busy or noisy; None on a quiet run.

    Busy: other processes used more than BUSY_SHARE of the cores. Noisy: the settings' spreads
    ((slowest - fastest) / median of each one's steady epochs), in the median over the settings,
    exceed NOISY_SPREAD. A slow spell of the machine or a neighbour widens every setting's
    spread, as the settings take turns epoch by epoch; one engine's own hiccup (a garbage
    collection, a retrace) widens its own alone and says nothing of the machine. (Until
    2026-11-27 the widest single spread was judged: of 24 settings one always passed 25%, and
    the warning fired on every run of this machine, the quietest included.)
    """
    spreads = sorted((row[name]["spread"], row["batch_size"], name) for row in results
                     for name in row if isinstance(row[name], dict) and "spread" in row[name]
                     and row[name]["seconds_per_epoch"] >= SPREAD_MIN_SECONDS)
    reasons = []
    if others_share is not None and others_share > BUSY_SHARE:
        reasons.append(f"other processes used {100 * others_share:.0f}% of the cores while it ran")
    typical = statistics.median(spread for spread, _, _ in spreads) if spreads else 0.0
    if typical > NOISY_SPREAD:
        widest, batch_size, name = spreads[-1]
        reasons.append(f"the {len(spreads)} settings' epochs spread by {100 * typical:.0f}% in the median, "
                       f"up to {100 * widest:.0f}% ({name} at batch {batch_size})")
    if not reasons:
        return None
    return ("warning: the machine was busy (" + "; ".join(reasons) + "): these figures are slower "
            "and noisier than a quiet machine's. Re-run with nothing else running, or with more --epochs.")


def setting_names(backends):
    """'numpy', 'numpy_1thread', then 'keras/<backend>' and 'keras_fast/<backend>' per backend."""
    return list(NUMPY_THREADS) + [f"{kind}/{backend}" for backend in backends for kind in ("keras", "keras_fast")]


def _threaded_epoch(model, x, y, order, batch_size, threads):
    """The NumPy twin's timed_epoch, with NumPy's BLAS on `threads` threads (None: as it is)."""
    from numpy_impl.callbacks import Callback
    with blas_threads(threads):
        return timed_epoch(model, x, y, order, batch_size, epoch_stopwatch(Callback))


def settings_text(settings):
    """{'jit_compile': True, 'steps_per_execution': 64} -> 'jit_compile=True, steps_per_execution=64'."""
    return ", ".join(f"{key}={value}" for key, value in settings.items())


def run_bench(x, y, backends=("tensorflow",), batch_sizes=(32, 128, 1024), epochs=4, hidden=(128, 128),
              learning_rate=0.01, seed=0, log=print):
    """Time the NumPy twin and Keras on each backend at each batch size; a dict ready for bench.json.

    Settings: "numpy" is the NumPy twin's fit; "numpy_1thread" the same with NumPy's BLAS on one
    thread; "keras/B" is Keras's model.fit on backend B as users run it (compile's defaults);
    "keras_fast/B" is the fastest CPU setting found for it here (KERAS_FAST). The first epoch
    is reported apart (Keras traces and compiles there); seconds_per_epoch is the median of the
    rest. The NumPy twin's best setting at each batch size ("numpy_best") is the one the floor,
    its matmuls and the Keras settings are compared with, and whose epoch is broken down.
    """
    import numpy_impl
    sizes = [x.shape[1], *hidden, y.shape[1]]
    environment = blas_info()
    log(f"  {describe_environment(environment)}")
    rates = {"numpy": matmul_rate(x.dtype)}
    options = dict(input_dim=x.shape[1], hidden=tuple(hidden), num_classes=y.shape[1],
                   learning_rate=learning_rate, seed=seed, dtype=str(x.dtype))
    workers = {}
    meter = CpuMeter()
    try:
        for backend in backends:
            log(f"  starting Keras on {label(backend)} in its own process")
            workers[backend] = Worker(backend)
            meter.add(workers[backend].process.pid)
            workers[backend].ask("data", x, y)
            rates[backend] = workers[backend].ask("matmul_rate")
        versions = {name: version for worker in workers.values() for name, version in worker.ask("versions").items()}
        best = max(rates, key=rates.get)
        floor = epoch_flops(len(x), sizes) / rates[best]
        log("  large-matmul rate, GFLOP/s: " + ", ".join(f"{label(name) if name != 'numpy' else 'NumPy'} "
                                                        f"{rate / 1e9:.0f}" for name, rate in rates.items())
            + f" -> floor {floor:.3f} s per epoch (the work a step does, at the best rate)")
        results = []
        for batch_size in batch_sizes:
            numpy_models = {name: numpy_impl.build_model(**options) for name in NUMPY_THREADS}
            for worker in workers.values():
                worker.ask("build", options)
            timers = {name: lambda order, name=name: _threaded_epoch(numpy_models[name], x, y, order, batch_size,
                                                                     NUMPY_THREADS[name])
                      for name in NUMPY_THREADS}
            for name in setting_names(workers)[len(NUMPY_THREADS):]:    # "keras/jax": that worker's "keras"
                kind, backend = name.split("/")
                timers[name] = lambda order, worker=workers[backend], kind=kind: worker.ask("fit", kind, order,
                                                                                           batch_size)
            seconds = {name: [] for name in timers}
            # NumPy's own limit takes its turn in every round too, in each BLAS setting, so that a
            # slow spell of the machine cannot fall on it alone; its fastest round is the limit.
            limit_epoch, limit_seconds = matmul_epoch(x, sizes, batch_size), {name: [] for name in NUMPY_THREADS}
            for name, threads in NUMPY_THREADS.items():
                with blas_threads(threads):
                    limit_epoch()                       # warm up
            breakdowns = {name: [] for name in NUMPY_THREADS}
            for _ in range(epochs):
                for name, timer in timers.items():
                    seconds[name].append(timer(None))     # all of x, each engine shuffling it itself
                for name, threads in NUMPY_THREADS.items():
                    with blas_threads(threads):
                        limit_seconds[name].append(_seconds(limit_epoch))
                    # and one more epoch of each NumPy setting with stopwatches in place (epoch_breakdown)
                    breakdowns[name].append(epoch_breakdown(numpy_models[name], x, y, None, batch_size, threads))
            row = {"batch_size": batch_size, **{name: _summary(seconds[name], len(x)) for name in timers}}
            faster = row["numpy_best"] = min(NUMPY_THREADS, key=lambda name: row[name]["seconds_per_epoch"])
            numpy_seconds = row[faster]["seconds_per_epoch"]
            # NumPy's own limit: its matmuls alone, in the faster of NumPy's two BLAS settings, and in
            # the setting the twin ran fastest in (the twin's own matmuls cannot beat that one)
            row["numpy_matmul_epoch_seconds"] = limit_seconds
            limits = row["numpy_matmul_seconds_by_setting"] = {name: min(limit_seconds[name]) for name in limit_seconds}
            row["numpy_matmul_seconds"] = min(limits.values())
            row["numpy_over_matmul"] = numpy_seconds / row["numpy_matmul_seconds"]
            row["numpy_over_matmul_same_threads"] = numpy_seconds / limits[faster]
            row["numpy_over_floor"] = numpy_seconds / floor
            row["keras_over_numpy"] = {name: row[name]["seconds_per_epoch"] / numpy_seconds
                                       for name in timers if name not in NUMPY_THREADS}
            # the faster setting's fastest timed-by-parts epoch: one per round, so a slow spell of the
            # machine falls on one of them, not on all
            row["numpy_breakdown"] = min(breakdowns[faster], key=lambda parts: parts["total"])
            log(f"  batch {batch_size:>5}: NumPy {row['numpy']['seconds_per_epoch']:.3f} s, with one BLAS thread "
                f"{row['numpy_1thread']['seconds_per_epoch']:.3f} s; the faster ({numpy_seconds:.3f} s) is "
                f"{row['numpy_over_floor']:.2f}x the floor and {row['numpy_over_matmul']:.2f}x its matmuls alone "
                f"({row['numpy_matmul_seconds']:.3f} s; {row['numpy_over_matmul_same_threads']:.2f}x those in its "
                f"own BLAS setting, {limits[faster]:.3f} s); "
                + "; ".join(f"{name} {row[name]['seconds_per_epoch']:.3f} s ({row['keras_over_numpy'][name]:.1f}x)"
                            for name in row["keras_over_numpy"]))
            results.append(row)
        others = meter.others_share()
    finally:
        for worker in workers.values():
            worker.close()
    warning = noise_warning(others, results)
    if warning:
        log(f"  {warning}")
    return {"machine": {**machine_info(), **versions}, "environment": environment,
            "others_cpu_share": others, "noise_warning": warning,
            "n_samples": len(x), "layer_sizes": sizes,
            "dtype": str(x.dtype), "epochs_timed": epochs, "matmul_flops_per_second": rates[best],
            "matmul_rates": rates, "floor_flops_per_epoch": epoch_flops(len(x), sizes),
            "floor_seconds_per_epoch": floor, "backends": list(backends),
            "keras_fast_settings": {backend: KERAS_FAST[backend] for backend in backends},
            "settings": setting_names(backends), "results": results}


def machine_info():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__}


def is_numpys(pool):
    """Whether a threadpoolctl pool is NumPy's own library: in numpy.libs beside NumPy (its wheels ship
    OpenBLAS there) or inside NumPy's folder, not merely on a path that says "numpy" somewhere (a
    checkout named numpy-vs-keras puts that in every library's path of its virtual environment)."""
    path = Path(pool.get("filepath") or "/").resolve()
    home = Path(np.__file__).resolve().parent
    return path.parent == home.parent / "numpy.libs" or home in path.parents


def blas_info():
    """The BLAS under NumPy, its version, kernel and threads (threadpoolctl), and any variable set
    that steers it (OPENBLAS_CORETYPE forces a kernel: see docs/speed.md)."""
    from threadpoolctl import threadpool_info
    pools = [pool for pool in threadpool_info() if pool.get("user_api") == "blas"]
    # other libraries (PyTorch, SciPy) may have loaded a BLAS of their own into this process: NumPy's
    # is its own (a NumPy built against a system BLAS: every one found)
    pools = [pool for pool in pools if is_numpys(pool)] or pools
    blas = [{key: pool.get(key) for key in ("internal_api", "version", "architecture", "num_threads", "filepath")}
            for pool in pools]
    variables = {name: value for name, value in sorted(os.environ.items())
                 if name.startswith(("OPENBLAS_", "MKL_", "OMP_", "GOTO_", "BLIS_"))}
    return {"blas": blas, "variables": variables}


def describe_environment(environment):
    """'NumPy's BLAS: openblas 0.3.31, kernel Haswell, 2 threads; variables set: none'."""
    blas = "; ".join(f"{pool['internal_api']} {pool['version']}, kernel {pool['architecture']}, "
                     f"{pool['num_threads']} threads" for pool in environment["blas"]) or "none found"
    variables = ", ".join(f"{k}={v}" for k, v in environment["variables"].items()) or "none"
    return f"NumPy's BLAS: {blas}; variables set: {variables}"

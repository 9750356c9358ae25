"""Speed: the NumPy twin and Keras on each backend, epoch by epoch, against this machine's floor.

The floor: an epoch needs about 6 * n * sum(in * out) floating-point operations
(2 for the forward matmul of each weight, 4 for its two backward matmuls), so at
the machine's large-matmul rate it cannot take less than that many flops / rate.

Keras picks its backend once per process, so each backend runs in a worker
process of its own (`serve`, below) that holds its models and times its own
`fit` calls. This process holds the NumPy twin and conducts: every epoch it
asks each setting in turn for one timed epoch, so the workers never run at
the same time, and a slow spell on the shared machine falls on all settings
alike. Compare them as ratios: on a shared machine a ratio holds, a raw time less so.
"""
import multiprocessing
import os
import platform
import statistics
import time

import numpy as np

from .backends import label

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
    """6 * n * sum(in * out): forward 2, backward 4 per weight and sample."""
    return 6 * n_samples * sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))


def _seconds(work):
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def timed_epoch(model, x, y, order, batch_size):
    """Seconds of one `model.fit(..., epochs=1)` on the samples in `order`: the data is
    permuted outside the timer and fed with shuffle=False, so only training is timed."""
    x_epoch, y_epoch = x[order], y[order]
    return _seconds(lambda: model.fit(x_epoch, y_epoch, batch_size=batch_size, epochs=1, shuffle=False, verbose=0))


# ---- the worker: one process per Keras backend ----------------------------------------------

def serve(backend, connection):
    """A worker's loop: Keras on `backend`, answering (command, ...) messages until "stop".

    ("data", x, y) -> None; ("build", options) -> None (builds "keras" with compile's
    defaults and "keras_fast" with KERAS_FAST); ("fit", name, order, batch_size) -> seconds;
    ("versions",) -> {package: version}. A failure answers ("error", text).
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
                fast = keras_impl.build_model(**options)
                # compiled again with the twin's own loss and optimizer (on JAX and PyTorch its loss
                # takes logits), only the execution settings changed
                fast.compile(optimizer=fast.optimizer, loss=fast.loss, metrics=["accuracy"], **KERAS_FAST[backend])
                models = {"keras": keras_impl.build_model(**options), "keras_fast": fast}
                answer = None
            elif command == "fit":
                name, order, batch_size = arguments
                answer = timed_epoch(models[name], x, y, order, batch_size)
            elif command == "versions":
                module = __import__(backend)
                answer = {"keras": keras.__version__, backend: module.__version__}
            else:
                raise ValueError(f"unknown command {command!r}")
        except Exception as error:                  # said to the conductor, which stops the run
            answer = ("error", f"{type(error).__name__}: {error}")
        connection.send(answer)


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
    steady = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
    # the median resists a slow spell of the shared machine; the fastest epoch is kept beside it
    return {"epoch_seconds": seconds, "first_epoch_seconds": seconds[0],
            "seconds_per_epoch": steady, "fastest_epoch_seconds": min(seconds[1:] or seconds),
            "samples_per_second": n_samples / steady}


def setting_names(backends):
    """'numpy', then 'keras/<backend>' and 'keras_fast/<backend>' per backend."""
    return ["numpy"] + [f"{kind}/{backend}" for backend in backends for kind in ("keras", "keras_fast")]


def settings_text(settings):
    """{'jit_compile': True, 'steps_per_execution': 64} -> 'jit_compile=True, steps_per_execution=64'."""
    return ", ".join(f"{key}={value}" for key, value in settings.items())


def run_bench(x, y, backends=("tensorflow",), batch_sizes=(32, 128, 1024), epochs=4, hidden=(128, 128),
              learning_rate=0.01, seed=0, log=print):
    """Time the NumPy twin and Keras on each backend at each batch size; a dict ready for bench.json.

    Settings: "numpy" is the NumPy twin's fit; "keras/B" is Keras's model.fit on backend B
    as users run it (compile's defaults); "keras_fast/B" is the fastest CPU setting found for
    it here (KERAS_FAST). The first epoch is reported apart (Keras traces and compiles
    there); seconds_per_epoch is the median of the rest.
    """
    import numpy_impl
    sizes = [x.shape[1], *hidden, y.shape[1]]
    rate = matmul_rate(x.dtype)
    floor = epoch_flops(len(x), sizes) / rate
    log(f"  matmul rate {rate / 1e9:.0f} GFLOP/s -> floor {floor:.3f} s per epoch")
    options = dict(input_dim=x.shape[1], hidden=tuple(hidden), num_classes=y.shape[1],
                   learning_rate=learning_rate, seed=seed, dtype=str(x.dtype))
    workers = {}
    try:
        for backend in backends:
            log(f"  starting Keras on {label(backend)} in its own process")
            workers[backend] = Worker(backend)
            workers[backend].ask("data", x, y)
        versions = {name: version for worker in workers.values() for name, version in worker.ask("versions").items()}
        results = []
        rng = np.random.default_rng(seed)
        for batch_size in batch_sizes:
            numpy_model = numpy_impl.build_model(**options)
            for worker in workers.values():
                worker.ask("build", options)
            timers = {"numpy": lambda order: timed_epoch(numpy_model, x, y, order, batch_size)}
            for name in setting_names(workers)[1:]:                     # "keras/jax": that worker's "keras"
                kind, backend = name.split("/")
                timers[name] = lambda order, worker=workers[backend], kind=kind: worker.ask("fit", kind, order,
                                                                                           batch_size)
            seconds = {name: [] for name in timers}
            for _ in range(epochs):
                order = rng.permutation(len(x))         # one order per epoch, the same for every setting
                for name, timer in timers.items():
                    seconds[name].append(timer(order))
            row = {"batch_size": batch_size, **{name: _summary(seconds[name], len(x)) for name in timers}}
            numpy_seconds = row["numpy"]["seconds_per_epoch"]
            row["numpy_over_floor"] = numpy_seconds / floor
            row["keras_over_numpy"] = {name: row[name]["seconds_per_epoch"] / numpy_seconds
                                       for name in timers if name != "numpy"}
            log(f"  batch {batch_size:>5}: NumPy {numpy_seconds:.3f} s ({row['numpy_over_floor']:.2f}x floor); "
                + "; ".join(f"{name} {row[name]['seconds_per_epoch']:.3f} s ({row['keras_over_numpy'][name]:.1f}x)"
                            for name in timers if name != "numpy"))
            results.append(row)
    finally:
        for worker in workers.values():
            worker.close()
    return {"machine": {**machine_info(), **versions}, "n_samples": len(x), "layer_sizes": sizes,
            "dtype": str(x.dtype), "epochs_timed": epochs, "matmul_flops_per_second": rate,
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

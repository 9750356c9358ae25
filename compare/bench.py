"""Speed: both twins' training epochs across batch sizes, against this machine's floor.

The floor: an epoch needs about 6 * n * sum(in * out) floating-point operations
(2 for the forward matmul of each weight, 4 for its two backward matmuls), so at
the machine's large-matmul rate it cannot take less than that many flops / rate.
Both twins are timed in this one process, one after the other, with the same
threads, and compared as ratios: on a shared machine a ratio holds, a raw time less so.
"""
import os
import platform
import statistics
import time

import numpy as np

import numpy_impl

KERAS_FAST = dict(jit_compile=True, steps_per_execution=64)   # XLA, 64 steps per graph call


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


def time_epochs(models, x, y, batch_size, epochs, seed=0):
    """Seconds of each `model.fit(..., epochs=1)` call, per model: training only.

    The models take turns epoch by epoch, so a slow spell on a shared machine
    falls on all of them alike rather than on whichever ran then. As in the
    lockstep comparison, each epoch's permutation is drawn and applied outside
    the timer and fed with shuffle=False: every model is timed on training
    alone, on the same batches, with no evaluation inside.
    """
    rng = np.random.default_rng(seed)
    seconds = {name: [] for name in models}
    for _ in range(epochs):
        order = rng.permutation(len(x))
        x_epoch, y_epoch = x[order], y[order]
        for name, model in models.items():
            seconds[name].append(_seconds(lambda: model.fit(x_epoch, y_epoch, batch_size=batch_size,
                                                            epochs=1, shuffle=False, verbose=0)))
    return seconds


def _summary(seconds, n_samples):
    steady = statistics.median(seconds[1:]) if len(seconds) > 1 else seconds[0]
    return {"epoch_seconds": seconds, "first_epoch_seconds": seconds[0],
            "seconds_per_epoch": steady, "samples_per_second": n_samples / steady}


def run_bench(x, y, batch_sizes=(32, 128, 1024), epochs=4, hidden=(128, 128), learning_rate=0.01,
              seed=0, log=print):
    """Time each twin at each batch size; returns a dict ready for bench.json.

    Settings: "numpy" is the NumPy twin's fit; "keras" is Keras's model.fit as users
    run it (the defaults); "keras_fast" is the fastest CPU setting found for it here
    (jit_compile=True, steps_per_execution=64). The first epoch is reported apart
    (Keras builds its graph there); seconds_per_epoch is the median of the rest.
    """
    import keras
    import keras_impl
    sizes = [x.shape[1], *hidden, y.shape[1]]
    rate = matmul_rate(x.dtype)
    floor = epoch_flops(len(x), sizes) / rate
    log(f"  matmul rate {rate / 1e9:.0f} GFLOP/s -> floor {floor:.3f} s per epoch")
    kwargs = dict(input_dim=x.shape[1], hidden=tuple(hidden), num_classes=y.shape[1],
                  learning_rate=learning_rate, seed=seed, dtype=str(x.dtype))
    results = []
    for batch_size in batch_sizes:
        fast = keras_impl.build_model(**kwargs)
        fast.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="categorical_crossentropy",
                     metrics=["accuracy"], **KERAS_FAST)
        models = {"numpy": numpy_impl.build_model(**kwargs), "keras": keras_impl.build_model(**kwargs),
                  "keras_fast": fast}
        timings = time_epochs(models, x, y, batch_size, epochs, seed)
        row = {"batch_size": batch_size, **{name: _summary(timings[name], len(x)) for name in models}}
        numpy_seconds = row["numpy"]["seconds_per_epoch"]
        row["speedup_vs_keras"] = row["keras"]["seconds_per_epoch"] / numpy_seconds
        row["speedup_vs_keras_fast"] = row["keras_fast"]["seconds_per_epoch"] / numpy_seconds
        row["numpy_over_floor"] = numpy_seconds / floor
        log(f"  batch {batch_size:>5}: NumPy {numpy_seconds:.3f} s ({row['numpy_over_floor']:.2f}x floor), "
            f"Keras fit {row['keras']['seconds_per_epoch']:.3f} s ({row['speedup_vs_keras']:.1f}x slower), "
            f"Keras fast {row['keras_fast']['seconds_per_epoch']:.3f} s ({row['speedup_vs_keras_fast']:.1f}x)")
        results.append(row)
    return {"machine": machine_info(), "n_samples": len(x), "layer_sizes": sizes, "dtype": str(x.dtype),
            "epochs_timed": epochs, "matmul_flops_per_second": rate, "floor_seconds_per_epoch": floor,
            "keras_fast_settings": KERAS_FAST, "results": results}


def machine_info():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import tensorflow as tf
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "tensorflow": tf.__version__}

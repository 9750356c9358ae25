"""The run's figures (matplotlib, headless). Each function writes one PNG and returns its path."""
import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .backends import label as engine_name  # noqa: E402
from .bench import settings_text  # noqa: E402

COLOURS = {"numpy": "tab:blue", "keras": "tab:orange"}
# The Keras speed lines: one colour and marker per engine.
BACKEND_STYLE = {"tensorflow": ("tab:orange", "s"), "jax": ("tab:green", "^"), "torch": ("tab:red", "D")}
LABELS = {"numpy": "NumPy twin", "keras": "Keras twin"}


def twin_labels(backend):
    """Legend names of the twins, the Keras twin's with the engine under it."""
    return {**LABELS, "keras": f"Keras twin on {engine_name(backend)}"}
DPI = 110


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def training_curves(records, path, accuracy_floor=None, legend=LABELS):
    """Accuracy and loss per epoch, train and test, both twins overlaid.

    accuracy_floor: start the accuracy axis there (e.g. 97) to show the last tenths apart.
    """
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, record in records.items():
        history = record["history"]
        epochs = np.arange(1, len(history["loss"]) + 1)
        style = dict(color=COLOURS[name], marker="o", markersize=4)
        # The twins' curves lie on top of each other: Keras's dashed and thinner so both show.
        width = 2.6 if name == "numpy" else 1.2
        ax_acc.plot(epochs, 100 * np.array(history["accuracy"]), lw=width, label=f"{legend[name]}, train", **style)
        ax_acc.plot(epochs, 100 * np.array(history["test_accuracy"]), lw=width, ls="--",
                    label=f"{legend[name]}, test", **style)
        ax_loss.plot(epochs, history["loss"], lw=width, label=f"{legend[name]}, train", **style)
        ax_loss.plot(epochs, history["test_loss"], lw=width, ls="--", label=f"{legend[name]}, test", **style)
        if "val_loss" in history:             # --validation-split: the held-out digits, dotted
            ax_acc.plot(epochs, 100 * np.array(history["val_accuracy"]), lw=width, ls=":",
                        label=f"{legend[name]}, validation", **style)
            ax_loss.plot(epochs, history["val_loss"], lw=width, ls=":", label=f"{legend[name]}, validation", **style)
    ax_acc.set(title="Accuracy per epoch", xlabel="epoch", ylabel="accuracy (%)")
    if accuracy_floor is not None:
        ax_acc.set_ylim(accuracy_floor, 100)
        ax_acc.set_title(f"Accuracy per epoch (from {accuracy_floor:g}%)")
    ax_loss.set(title="Cross-entropy loss per epoch", xlabel="epoch", ylabel="loss")
    for ax in (ax_acc, ax_loss):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if len(epochs) == 1:
            ax.set_xticks([1])                  # one epoch: one tick, not 0.96 ... 1.04
    return _save(fig, path)


def epoch_timing(records, path, legend=LABELS):
    """Seconds per training epoch for each twin, and how many times faster NumPy is."""
    names = list(records)
    fig, axes = plt.subplots(1, 2 if len(names) == 2 else 1, figsize=(11 if len(names) == 2 else 6, 4))
    axes = np.atleast_1d(axes)
    epochs = np.arange(1, len(records[names[0]]["epoch_seconds"]) + 1)
    width = 0.8 / len(names)
    for offset, name in enumerate(names):
        seconds = records[name]["epoch_seconds"]
        bars = axes[0].bar(epochs + (offset - (len(names) - 1) / 2) * width, seconds, width,
                           color=COLOURS[name], label=legend[name])
        axes[0].bar_label(bars, fmt="%.2f", fontsize=7)
    axes[0].set(title="Training time per epoch (evaluation excluded)", xlabel="epoch", ylabel="seconds")
    axes[0].set_xticks(epochs)
    axes[0].legend(fontsize=8)
    if len(names) == 2:
        ratio = np.array(records["keras"]["epoch_seconds"]) / np.array(records["numpy"]["epoch_seconds"])
        axes[1].plot(epochs, ratio, "o-", color="tab:green")
        axes[1].axhline(1.0, color="grey", ls=":", label="same speed")
        axes[1].set(title="Speed ratio: Keras seconds / NumPy seconds", xlabel="epoch",
                    ylabel="times faster (NumPy)", ylim=(0, max(1.5, ratio.max() * 1.15)))
        axes[1].set_xticks(epochs)
        axes[1].annotate("epoch 1 includes Keras's graph build", (1, ratio[0]), fontsize=8,
                         textcoords="offset points", xytext=(8, 6))
        axes[1].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def weight_agreement(weight_differences, dtype, path, output_difference=None):
    """The twins' largest weight difference after each epoch, on a log scale.

    output_difference: with dropout, the largest difference of the twins' outputs (dropout
    off) after the Keras twin was given the NumPy twin's weights: drawn as its own marker.
    """
    fig, ax = plt.subplots(figsize=(6.5, 4))
    epochs = np.arange(1, len(weight_differences) + 1)
    dropout = output_difference is not None
    ax.semilogy(epochs, np.maximum(weight_differences, 1e-18), "o-", color="tab:purple",
                label="max |w_numpy - w_keras|" + (" (own dropout masks: apart by design)" if dropout else ""))
    if dropout:
        ax.semilogy([epochs[-1]], [max(output_difference, 1e-18)], "D", color="tab:green", markersize=9,
                    label="after training, at equal weights: max |outputs| difference, dropout off")
    eps = np.finfo(dtype).eps
    ax.axhline(eps, color="grey", ls=":", label=f"{dtype} machine epsilon ({eps:.1e})")
    title = ("Dropout: the weights drift apart by design;\nat equal weights the outputs agree" if dropout
             else f"How far apart the twins' weights drift ({dtype})")
    ax.set(title=title, xlabel="epoch", ylabel="largest difference")
    ax.set_xticks(epochs)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7 if dropout else 8)
    return _save(fig, path)


def prediction_grid(images, labels, predictions, path, count=32):
    """Test digits with each twin's prediction: disagreements first, then mistakes, then others."""
    names = list(predictions)
    first = predictions[names[0]]
    disagree = np.flatnonzero(np.any([p != first for p in predictions.values()], axis=0))
    wrong = np.flatnonzero(np.any([p != labels for p in predictions.values()], axis=0))
    chosen = list(dict.fromkeys([*disagree[:8], *wrong[:12], *range(count)]))[:count]
    columns = 8
    rows = int(np.ceil(len(chosen) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.45, rows * 1.75))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, index in zip(np.ravel(axes), chosen):
        ax.imshow(images[index], cmap="gray_r")
        guesses = " ".join(f"{name[0].upper()}:{predictions[name][index]}" for name in names)
        mistake = any(predictions[name][index] != labels[index] for name in names)
        ax.set_title(f"true {labels[index]}\n{guesses}", fontsize=8, color="tab:red" if mistake else "black")
        if index in set(disagree):
            for spine in ax.spines.values():
                spine.set(visible=True, color="magenta", linewidth=3)
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle("Test digits: N = NumPy twin, K = Keras twin. Red title: a mistake; "
                 "magenta frame: the twins disagree", fontsize=9)
    return _save(fig, path)


def confusion_matrices(labels, predictions, path, num_classes=10, legend=LABELS):
    """One confusion matrix per twin, side by side, with counts."""
    names = list(predictions)
    fig, axes = plt.subplots(1, len(names), figsize=(5.4 * len(names), 4.8))
    for ax, name in zip(np.atleast_1d(axes), names):
        matrix = np.zeros((num_classes, num_classes), int)
        np.add.at(matrix, (labels, predictions[name]), 1)
        ax.imshow(np.log1p(matrix), cmap="Blues")
        for (row, col), count in np.ndenumerate(matrix):
            if count:
                ax.text(col, row, count, ha="center", va="center", fontsize=6.5,
                        color="white" if row == col else "black")
        accuracy = np.trace(matrix) / matrix.sum()
        ax.set(title=f"{legend[name]}: {100 * accuracy:.2f}% correct", xlabel="predicted digit",
               ylabel="true digit", xticks=range(num_classes), yticks=range(num_classes))
    return _save(fig, path)


def gradient_errors(gradcheck, path):
    """Largest error per weight tensor: backprop vs finite differences, NumPy vs Keras's autodiff."""
    names = gradcheck["tensor_names"]
    engine = engine_name(gradcheck.get("keras_backend", "tensorflow"))
    series = [("finite_difference_per_tensor", "backprop vs finite differences (float64)", "tab:blue"),
              ("numpy_vs_keras_per_tensor", f"NumPy vs Keras on {engine} autodiff (float32)", "tab:orange"),
              ("numpy_vs_keras_per_tensor_float64", f"NumPy vs Keras on {engine} autodiff (float64)", "tab:green")]
    series = [s for s in series if s[0] in gradcheck]
    if gradcheck.get("dropout_masks_fixed"):
        # finite differences hold the masks fixed; the twins cannot share masks, so they are compared without
        series = [(key, label + (", masks fixed" if key.startswith("finite") else ", dropout off"), colour)
                  for key, label, colour in series]
    fig, ax = plt.subplots(figsize=(10.5, 4.2))
    positions = np.arange(len(names))
    width = 0.8 / len(series)
    for offset, (key, label, colour) in enumerate(series):
        values = np.maximum(gradcheck[key], 1e-18)
        ax.bar(positions + (offset - (len(series) - 1) / 2) * width, values, width, color=colour, label=label)
    ax.set_yscale("log")
    ax.axhline(1e-6, color="tab:blue", ls=":", lw=1, label="acceptance bound 1e-6 (finite differences)")
    ax.axhline(1e-4, color="tab:orange", ls=":", lw=1, label="acceptance bound 1e-4 (float32 twins)")
    ax.set_xticks(positions, names)
    ax.set(title="Gradient checks: largest relative error per weight tensor (lower is better)",
           ylabel="relative error (log scale)", xlabel="weight tensor, in get_weights() order")
    ax.grid(alpha=0.3, axis="y", which="both")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _save(fig, path)


def speed_sweep(bench, path):
    """Samples per second against batch size for each twin, with the machine's floor."""
    rows = bench["results"]
    batch_sizes = [row["batch_size"] for row in rows]
    fig, ax = plt.subplots(figsize=(8, 5.2))
    series = [("numpy", "NumPy twin (fit)", COLOURS["numpy"], "-", "o")]
    for backend in bench["backends"]:
        engine, (colour, marker) = engine_name(backend), BACKEND_STYLE[backend]
        fast = settings_text(bench["keras_fast_settings"][backend])
        series += [(f"keras/{backend}", f"Keras on {engine}, fit defaults", colour, "-", marker),
                   (f"keras_fast/{backend}", f"Keras on {engine}, {fast}", colour, "--", marker)]
    for key, label, colour, style, marker in series:
        speeds = [row[key]["samples_per_second"] for row in rows]
        ax.plot(batch_sizes, speeds, style, marker=marker, color=colour, label=label)
        for size, speed in zip(batch_sizes, speeds):
            ax.annotate(f"{speed / 1000:.0f}k", (size, speed), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ceiling = bench["n_samples"] / bench["floor_seconds_per_epoch"]
    best = max(bench["matmul_rates"], key=bench["matmul_rates"].get)
    ax.axhline(ceiling, color="black", ls=":", label=f"the floor: matmul work at {bench['matmul_flops_per_second'] / 1e9:.0f} "
                                                    f"GFLOP/s ({'NumPy' if best == 'numpy' else engine_name(best)})")
    limits = [bench["n_samples"] / row["numpy_matmul_seconds"] for row in rows]
    ax.plot(batch_sizes, limits, ":", marker="x", color=COLOURS["numpy"], label="NumPy's matmuls alone")
    ax.set_xscale("log", base=2)
    ax.set_xticks(batch_sizes, [str(b) for b in batch_sizes])
    ax.set_ylim(0, ceiling * 1.15)
    layers = "-".join(str(s) for s in bench["layer_sizes"])
    ax.set(title=f"Training speed, {layers} on {bench['n_samples']:,} digits ({bench['machine']['cores']} cores)",
           xlabel="batch size", ylabel="training samples per second")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v / 1000:.0f}k"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    return _save(fig, path)

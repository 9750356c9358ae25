"""The run's figures (matplotlib, headless). Each function writes one PNG and returns its path."""
import math

import matplotlib
import matplotlib.lines
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


def twin_labels(backend, first=None):
    """Legend names of the twins, the Keras twin's with the engine under it; `first` names the twin in
    numpy_impl's place (a learner's, with --twin)."""
    return {**LABELS, **({"numpy": first} if first else {}), "keras": f"Keras twin on {engine_name(backend)}"}
DPI = 110


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def training_curves(records, path, accuracy_floor=None, legend=LABELS, loss_name="categorical_crossentropy"):
    """Accuracy and loss per epoch, train and test, both twins overlaid.

    accuracy_floor: start the accuracy axis there (e.g. 97) to show the last tenths apart.
    loss_name: the run's loss, Keras's name, for the loss panel's title.
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
    titles = {"mean_squared_error": "Mean squared error", "mean_absolute_error": "Mean absolute error",
              "binary_crossentropy": "Binary cross-entropy"}
    ax_loss.set(title=f"{titles.get(loss_name, 'Cross-entropy')} loss per epoch", xlabel="epoch", ylabel="loss")
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
    """Left: samples per second against batch size for each twin, with the machine's floor and
    NumPy's matmuls alone. Right: where the NumPy twin's epoch goes at each batch size."""
    rows = bench["results"]
    batch_sizes = [row["batch_size"] for row in rows]
    fig, (ax, parts_ax) = plt.subplots(1, 2, figsize=(13, 5.6), gridspec_kw={"width_ratios": [1.6, 1]})
    series = [("numpy", "NumPy twin (fit)", COLOURS["numpy"], "-", "o"),
              ("numpy_1thread", "NumPy twin, NumPy's BLAS on 1 thread", COLOURS["numpy"], "--", "o")]
    for backend in bench["backends"]:
        engine, (colour, marker) = engine_name(backend), BACKEND_STYLE[backend]
        fast = settings_text(bench["keras_fast_settings"][backend])
        series += [(f"keras/{backend}", f"Keras on {engine}, fit defaults", colour, "-", marker),
                   (f"keras_fast/{backend}", f"Keras on {engine}, {fast}", colour, "--", marker)]
    values = {size: [] for size in batch_sizes}                # each point's value, labelled once all are known
    for key, label, colour, style, marker in series:
        speeds = [row[key]["samples_per_second"] for row in rows]
        ax.plot(batch_sizes, speeds, style, marker=marker, color=colour, label=label)
        for size, speed in zip(batch_sizes, speeds):
            values[size].append((speed, colour))
    ceiling = bench["n_samples"] / bench["floor_seconds_per_epoch"]
    # The labels beside each batch size, lowest first, each at least `gap` above the one below it,
    # in its line's colour: points that nearly coincide keep readable labels.
    gap = ceiling * 1.15 * 0.045
    for size, points in values.items():
        placed = -gap
        for speed, colour in sorted(points, key=lambda point: point[0]):
            placed = max(speed, placed + gap)
            ax.annotate(f"{speed / 1000:.0f}k", (size, speed), xytext=(size * 1.07, placed), textcoords="data",
                        fontsize=7, color=colour, va="center")
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
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    _epoch_parts(parts_ax, rows)
    return _save(fig, path)


PART_STYLE = {"matmul": ("matmuls", "tab:blue"), "elementwise": ("elementwise and loss", "tab:cyan"),
              "optimizer": ("optimizer (SGD)", "tab:green"), "python": ("fit's loop and its batch gathers", "tab:grey")}


def _epoch_parts(ax, rows):
    """Stacked bars, one per batch size: the share of the NumPy twin's epoch in each part."""
    positions = np.arange(len(rows))
    bottom = np.zeros(len(rows))
    for key, (name, colour) in PART_STYLE.items():
        shares = np.array([100 * row["numpy_breakdown"][key] / row["numpy_breakdown"]["total"] for row in rows])
        ax.bar(positions, shares, 0.6, bottom=bottom, color=colour, label=name)
        for position, share, base in zip(positions, shares, bottom):
            if share >= 4:
                ax.text(position, base + share / 2, f"{share:.0f}%", ha="center", va="center", fontsize=8)
        bottom += shares
    for position, row in zip(positions, rows):
        ax.text(position, 101, f"{row['numpy_breakdown']['total']:.2f} s", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(positions, [str(row["batch_size"]) for row in rows])
    ax.set(title="Where the NumPy twin's epoch goes", xlabel="batch size", ylabel="share of one epoch (%)",
           ylim=(0, 112))
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)


def inside_network(inside, path, legend=LABELS):
    """Inside the network, both twins overlaid (NumPy solid, Keras dashed; one colour per layer):
    activation and gradient histograms at initialisation and after training, the idle share (dead ReLU
    units, saturated sigmoid or tanh outputs)
    and the update-to-weight ratio over training, gradient norms, and the initial loss against ln(10)."""
    twins = list(inside["twins"])
    styles = {name: style for name, style in zip(twins, ("-", "--", ":"))}
    layer_colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(2, 4, figsize=(17, 8.2))
    histogram_panels = [("activations", "initial", axes[0, 0]), ("activations", "final", axes[0, 1]),
                        ("gradients", "initial", axes[1, 0]), ("gradients", "final", axes[1, 1])]
    names = {"activations": inside["layers"], "gradients": inside["kernels"]}
    for kind, moment, ax in histogram_panels:
        for index, entry in enumerate(inside["histograms"].get(moment, {}).get(kind, [])):
            edges = np.asarray(entry["edges"])
            for name in twins:
                ax.stairs(np.maximum(entry[name], 0.5), edges, color=layer_colours[index % 10], ls=styles[name],
                          lw=1.6 if name == twins[0] else 1.1, label=names[kind][index] if name == twins[0] else None)
        ax.set_yscale("log")
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
        what = "hidden layers' outputs" if kind == "activations" else "dL/dW entries"
        ax.set(title=f"{kind.capitalize()} {'at initialisation' if moment == 'initial' else 'after training'}",
               xlabel=what, ylabel="count (log scale)")
        _layer_legend(ax)
    idle = set(inside.get("idle") or ["dead"])
    idle_title = {frozenset({"dead"}): "Dead units (zero for every probe digit)",
                  frozenset({"saturated"}): "Saturated outputs (within 0.01 of a bound)"}.get(
        frozenset(idle), "Idle: dead units, or saturated outputs")
    steps_panels = [("dead_share", "steps", axes[0, 2], idle_title,
                     "share of the layer's units" if idle == {"dead"} else "share", inside["layers"]),
                    ("update_ratio", "update_steps", axes[1, 2], "Update-to-weight ratio ||dW|| / ||W||",
                     "ratio (log scale)", inside["kernels"]),
                    ("gradient_norm", "steps", axes[1, 3], "Gradient norm ||dL/dW|| on the probe batch",
                     "norm (log scale)", inside["kernels"])]
    for key, step_key, ax, title, ylabel, layer_names in steps_panels:
        highest = 0.0
        for name in twins:
            record = inside["twins"][name]
            values = np.asarray(record[key], dtype=float)
            if values.size == 0:
                continue
            highest = max(highest, float(np.nanmax(values, initial=0.0)))
            for index in range(values.shape[1]):
                ax.plot(record[step_key], values[:, index], styles[name], color=layer_colours[index % 10],
                        lw=1.6 if name == twins[0] else 1.1, label=layer_names[index] if name == twins[0] else None)
        if highest == 0.0 and key != "dead_share":      # e.g. no step after a probe: a run of a few steps
            ax.text(0.5, 0.5, "not measured in this run:\nit ended before the step after a probe",
                    transform=ax.transAxes, ha="center", va="center", fontsize=9, color="dimgrey")
            ax.set(title=title, xlabel="training step", ylabel=ylabel.replace(" (log scale)", ""), yticks=[])
            continue
        if key != "dead_share":
            ax.set_yscale("log")
        if key == "update_ratio":
            ax.axhline(1e-3, color="black", ls=":", lw=1, label="1e-3, the rule of thumb")
        elif key == "dead_share":         # a share: from 0, and room above even when no unit has died
            ax.set_ylim(0, min(1.05, max(0.1, highest * 1.15)))
        ax.set(title=title, xlabel="training step", ylabel=ylabel)
        ax.grid(alpha=0.3)
        _layer_legend(ax)
    ax = axes[0, 3]
    losses = [inside["initial_loss"][name] for name in twins]
    bars = ax.bar([legend.get(name, name) for name in twins], losses,
                  color=[COLOURS.get(name, "tab:grey") for name in twins], width=0.5)
    for bar, loss in zip(bars, losses):
        ax.text(bar.get_x() + bar.get_width() / 2, loss, f"{loss:.4f}", ha="center", va="bottom", fontsize=8)
    expected = inside.get("expected_initial_loss")
    if expected:
        ax.axhline(expected, color="black", ls=":", label=f"ln(10) = {expected:.4f}")
        ax.legend(fontsize=8, loc="lower right")
    ax.set(title="Loss at initialisation, probe batch", ylabel="cross-entropy" if expected else "loss",
           ylim=(0, max(max(losses), expected or 0) * 1.25))
    # which line is which twin, once for every panel: one colour per layer, one line style per twin
    fig.legend([matplotlib.lines.Line2D([], [], color="black", ls=styles[name]) for name in twins],
               [f"{legend.get(name, name)} ({'solid' if styles[name] == '-' else 'dashed'})" for name in twins],
               loc="upper center", ncol=len(twins), fontsize=10, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _layer_legend(ax):
    """A small legend of the layers (colours), in two columns when there are many."""
    entries = len(ax.get_legend_handles_labels()[1])
    ax.legend(fontsize=6.5, ncol=2 if entries > 5 else 1, framealpha=0.6)


def first_layer_weights(models, path, legend=LABELS, units=16):
    """The first kernel's first `units` columns, each as an image of the input (28 x 28 for
    MNIST), one mosaic per twin, on one shared colour scale (red positive, blue negative)."""
    kernels = {name: next(w for w in model.get_weights() if np.ndim(w) == 2) for name, model in models.items()}
    rows = next(iter(kernels.values())).shape[0]
    side = int(round(math.sqrt(rows)))
    if side * side != rows:
        return None                                     # inputs that are not square images
    units = min(units, next(iter(kernels.values())).shape[1])
    grid = int(math.ceil(math.sqrt(units)))
    limit = max(float(np.abs(kernel[:, :units]).max()) for kernel in kernels.values())
    ratios = ([1] * grid + [0.35]) * (len(kernels) - 1) + [1] * grid          # a narrow gap between twins
    fig, axes = plt.subplots(grid, len(ratios), figsize=(3.6 * len(kernels) + 1.2, 4.1),
                             gridspec_kw={"width_ratios": ratios, "wspace": 0.08, "hspace": 0.08})
    for ax in axes.flat:
        ax.set_axis_off()
    for column, (name, kernel) in enumerate(kernels.items()):
        block = axes[:, column * (grid + 1):column * (grid + 1) + grid]
        for unit, ax in enumerate(block.flat):
            if unit < units:
                image = ax.imshow(kernel[:, unit].reshape(side, side), cmap="RdBu_r", vmin=-limit, vmax=limit)
        block[0, 0].set_title(f"{legend.get(name, name)}: first layer, units 0-{units - 1}", fontsize=9, loc="left")
    fig.colorbar(image, ax=axes, shrink=0.7, label="weight")
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path

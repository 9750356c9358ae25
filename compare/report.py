"""Results on disk: a run folder with metrics.json, epochs.csv, figures and report.html.

Nothing half-written: the run is assembled in a hidden temporary folder and
renamed into place only when complete; a failed run removes it.
"""
import ast
import base64
import csv
import datetime
import html
import importlib.util
import inspect
import json
import os
import shutil
import tempfile
import textwrap
from pathlib import Path

from .backends import label
from .bench import settings_text


class RunFolder:
    """`with RunFolder(out) as run:` write into run.path; it appears under `out` only on success."""

    def __init__(self, out, prefix="run"):
        self.out = Path(out)
        self.prefix = prefix

    def __enter__(self):
        self.out.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now().strftime(f"{self.prefix}-%Y%m%d-%H%M%S")
        self.path = Path(tempfile.mkdtemp(prefix=f".{stamp}-", suffix=".partial", dir=self.out))
        os.chmod(self.path, 0o777 & ~_umask())           # mkdtemp makes it private; results are not
        self.final = self.out / stamp
        return self

    def __exit__(self, kind, error, traceback):
        if kind is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            return False
        suffix = 1
        while self.final.exists():                       # never overwrite an earlier run
            suffix += 1
            self.final = self.out / f"{self.final.name.split('_')[0]}_{suffix}"
        os.rename(self.path, self.final)
        return False


def write_atomic(path, text):
    """Write to a temporary name beside `path`, then rename: readers never see half a file."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.chmod(temporary, 0o666 & ~_umask())
    os.replace(temporary, path)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_metrics(path, metrics):
    write_atomic(path, json.dumps(metrics, indent=2, default=float) + "\n")


def write_epochs_csv(path, records, weight_differences):
    """One row per epoch: each twin's train/test loss and accuracy and seconds."""
    names = list(records)
    keys = list(records[names[0]]["history"])          # loss, accuracy, test_..., and val_... with a split
    columns = ["epoch"] + [f"{name}_{key}" for name in names for key in keys + ["seconds"]]
    if weight_differences:
        columns.append("max_weight_difference")
    rows = []
    for epoch in range(len(records[names[0]]["epoch_seconds"])):
        row = {"epoch": epoch + 1}
        for name in names:
            history = records[name]["history"]
            for key in keys:
                row[f"{name}_{key}"] = history[key][epoch]
            row[f"{name}_seconds"] = records[name]["epoch_seconds"][epoch]
        if weight_differences:
            row["max_weight_difference"] = weight_differences[epoch]
        rows.append(row)
    temporary = Path(path).with_name(f".{Path(path).name}.tmp")
    with open(temporary, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(temporary, path)


# ---- the summary, as rows shared by the terminal table and the HTML report -------------

def summary_rows(metrics):
    """[(label, numpy value, keras value)] for the summary table."""
    rows = []
    twins = [name for name in ("numpy", "keras") if metrics.get(name)]

    def add(label, key, fmt):
        rows.append((label, *[fmt(metrics[name][key]) if metrics.get(name) else "-" for name in ("numpy", "keras")]))

    add("test accuracy", "test_accuracy", lambda v: f"{100 * v:.2f}%")
    add("test loss", "test_loss", lambda v: f"{v:.4f}")
    if any("val_loss" in (metrics[name].get("history") or {}) for name in twins):
        rows.append(("validation loss / accuracy (last epoch)",
                     *[f"{metrics[name]['history']['val_loss'][-1]:.4f} / "
                       f"{100 * metrics[name]['history']['val_accuracy'][-1]:.2f}%" if metrics.get(name) else "-"
                       for name in ("numpy", "keras")]))
    if any("stopped_epoch" in metrics[name] for name in twins):
        rows.append(("early stopping: stops after epoch",
                     *[str(metrics[name].get("stopped_epoch") or "would go on") if metrics.get(name) else "-"
                       for name in ("numpy", "keras")]))
    add("first epoch (s)", "first_epoch_seconds", lambda v: f"{v:.2f}")
    add("seconds per epoch (steady)", "seconds_per_epoch", lambda v: f"{v:.2f}")
    add("samples per second", "samples_per_second", lambda v: f"{v:,.0f}")
    for target in ("0.97", "0.98"):
        rows.append((f"training seconds to {float(target):.0%} test accuracy",
                     *[_seconds_or_never(metrics[name]["time_to_accuracy"][target]) if metrics.get(name) else "-"
                       for name in ("numpy", "keras")]))
    agreement = metrics.get("agreement")
    if agreement:
        rows.append(("speed ratio (Keras s / NumPy s)", f"{agreement['speed_ratio']:.2f}x", ""))
        rows.append(("prediction agreement", f"{100 * agreement['prediction_agreement']:.2f}%", ""))
        rows.append(("largest weight difference", f"{agreement['max_weight_difference'][-1]:.2e}", ""))
        if agreement.get("output_difference_at_equal_weights") is not None:
            rows.append(("outputs at equal weights, dropout off", f"{agreement['output_difference_at_equal_weights']:.1e}", ""))
    gradcheck = metrics.get("gradcheck") or {}
    if "finite_difference_max_rel_error" in gradcheck:
        rows.append(("gradcheck: backprop vs finite diff.", f"{gradcheck['finite_difference_max_rel_error']:.1e}", ""))
    for suffix, dtype in (("", "float32"), ("_float64", "float64")):
        key = f"numpy_vs_keras_max_rel_error{suffix}"
        if key in gradcheck:
            backend = gradcheck.get("keras_backend", "tensorflow")
            rows.append((f"gradcheck: NumPy vs Keras/{backend} ({dtype})", f"{gradcheck[key]:.1e}", ""))
    return rows, twins


def _seconds_or_never(seconds):
    return "not reached" if seconds is None else f"{seconds:.1f}"


def summary_table(metrics):
    rows, _ = summary_rows(metrics)
    header = ("", metrics.get("first_twin") or "NumPy twin", "Keras twin")
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(3)]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(header, widths))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) for row in rows]
    return "\n".join(lines)


# ---- report.html --------------------------------------------------------------------------

def _function_source(package, filename, name):
    """A function's source, read from its file without importing it (keras_impl imports Keras)."""
    text = (Path(importlib.util.find_spec(package).origin).parent / filename).read_text()
    node = next(n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.FunctionDef) and n.name == name)
    return ast.get_source_segment(text, node) + "\n"


# How each engine is asked for the gradients numpy_impl computes by hand.
AUTODIFF_CALLS = {
    "tensorflow": "with tf.GradientTape() as tape:\n    ...\n"
                  "gradients = tape.gradient(loss, model.trainable_variables)",
    "jax": "loss, gradients = jax.value_and_grad(loss_of)(weights)\n# loss_of: the loss as a pure function "
           "of the weights\n# (Keras's stateless_call)",
    "torch": "loss.backward()   # walks the recorded graph back\n"
             "gradients = [v.value.grad for v in model.trainable_variables]",
}
DROPOUT_CALLS = {"tensorflow": "tf.nn.experimental.stateless_dropout(x, rate, seed)",
                 "jax": "jax.random.bernoulli(seed, 1 - rate, shape): kept x / (1 - rate)",
                 "torch": "torch.bernoulli(1 - rate, generator): kept x / (1 - rate)"}


def _code_pairs(config=None):
    """The heart of each twin, read from the code itself so it can never drift; the run's
    optimizer and any dropout beside Keras's call that does the same."""
    from numpy_impl import layers, losses, optimizers
    config = config or {}
    backend = config.get("backend", "tensorflow")
    pairs = [
        ("Dense, forward", textwrap.dedent(inspect.getsource(layers.Dense.affine)),
         'keras.layers.Dense(units, activation="relu")   # z = x @ kernel + bias, then relu\n'
         "probabilities = model(x, training=True)"),
        ("Dense, backward", textwrap.dedent(inspect.getsource(layers.Dense.backward_affine)),
         AUTODIFF_CALLS[backend]),
        (f"Loss and its gradient ({label(backend)} autodiff on the Keras side)",
         inspect.getsource(losses.categorical_crossentropy_from_logits),
         _function_source("keras_impl", "autodiff.py", f"{backend}_loss_and_gradients")),
    ]
    optimizer = config.get("optimizer", "sgd")
    keras_call = {"sgd": "keras.optimizers.SGD(learning_rate, momentum=momentum, nesterov=nesterov)",
                  "adam": "keras.optimizers.Adam(learning_rate)   # beta_1=0.9, beta_2=0.999, epsilon=1e-7",
                  "adamw": "keras.optimizers.AdamW(learning_rate)   # weight_decay=0.004, as Adam otherwise",
                  "rmsprop": "keras.optimizers.RMSprop(learning_rate)   # rho=0.9, epsilon=1e-7",
                  "adagrad": "keras.optimizers.Adagrad(learning_rate)   # initial_accumulator_value=0.1"}[optimizer]
    numpy_class = {"sgd": optimizers.SGD, "adam": optimizers.Adam, "adamw": optimizers.AdamW,
                   "rmsprop": optimizers.RMSprop, "adagrad": optimizers.Adagrad}[optimizer]
    pairs.append((f"{numpy_class.__name__} step", textwrap.dedent(inspect.getsource(numpy_class.update)),
                  f"model.compile(optimizer={keras_call}, ...)\n# model.fit(...) then calls, for each weight,\n"
                  f"# optimizer.update_step(gradient, variable, learning_rate)"))
    if any(rate > 0 for rate in config.get("dropout") or ()):
        pairs.append(("Dropout, forward and backward",
                      textwrap.dedent(inspect.getsource(layers.Dropout.forward))
                      + textwrap.dedent(inspect.getsource(layers.Dropout.backward)),
                      "keras.layers.Dropout(rate)\n# training: " + DROPOUT_CALLS[backend]
                      + "\n# evaluate / predict: the identity"))
    if config.get("batchnorm") or config.get("layernorm"):
        kind = layers.BatchNormalization if config.get("batchnorm") else layers.LayerNormalization
        pairs.append((f"{kind.__name__}, forward and backward",
                      textwrap.dedent(inspect.getsource(kind.forward))
                      + textwrap.dedent(inspect.getsource(layers.Normalization.normalize))
                      + textwrap.dedent(inspect.getsource(layers.Normalization.backward)),
                      f"keras.layers.{kind.__name__}()   # epsilon=1e-3"
                      + (", momentum=0.99" if config.get("batchnorm") else "")
                      + "\n# backward: " + AUTODIFF_CALLS[backend].splitlines()[-1]))
    return pairs


def _figures_html(figures):
    return "".join(
        f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,'
        f'{base64.b64encode(Path(file).read_bytes()).decode()}"><figcaption>{html.escape(title)}</figcaption></figure>'
        for title, file in figures)


def inside_section(inside, figures):
    """The report's "Inside the network": what was probed, the initial loss, how far apart the
    twins' statistics are, and the figures."""
    if not inside:
        return ""
    twins = list(inside["initial_loss"])
    losses = ", ".join(f"{html.escape(name)} twin {loss:.4f}" for name, loss in inside["initial_loss"].items())
    rows = ""
    for name, differences in inside.get("at_equal_weights", {}).items():
        during = inside.get("during_run", {})
        for key, value in differences.items():
            later = during.get(key)
            rows += (f"<tr><th>{html.escape(key.replace('_', ' '))}</th><td>{value:.1e}</td>"
                     f"<td>{'' if later is None else f'{later:.1e}'}</td></tr>")
    table = (f"<table id='inside'><tr><th>largest difference, {html.escape(twins[0])} vs "
             f"{html.escape(', '.join(twins[1:]))}</th><th>at equal weights (after training)</th>"
             f"<th>over every probe of the run</th></tr>{rows}</table>") if rows else ""
    cost = ""
    if inside.get("probe_share"):
        cost = (" The probes ran inside the timed epochs and took " + ", ".join(
            f"{100 * share:.1f}% ({html.escape(name)} twin)" for name, share in inside["probe_share"].items())
            + " of the training time (--inside-every 0 turns them off).")
    landmark = (f", against ln(10) = {inside['expected_initial_loss']:.4f} for a uniform first guess over ten "
                "classes" if inside.get("expected_initial_loss") else "")
    return f"""<h2>Inside the network</h2>
<p>Every {inside['every']} steps, each twin was probed on the same {inside['probe_size']} training digits with
its own code (the NumPy twin's forward and backward passes; the Keras twin's layers and its engine's
autodiff): each hidden layer's activations (mean, standard deviation, and the idle share: dead units, zero
for every probe digit, or for sigmoid and tanh the outputs within 0.01 of a bound), each kernel's gradient
norm, and after the next step the update-to-weight ratio
||&Delta;W|| / ||W||, which sits near 10<sup>-3</sup> when the learning rate suits the network. The loss at
initialisation was {losses}{landmark}.{cost}</p>
{table}
{_figures_html(figures)}
"""


def write_report(path, metrics, figures, inside_figures=()):
    """A self-contained HTML page: tables, plain-words explanation, figures inline, code side by side."""
    rows, _ = summary_rows(metrics)
    data, config = metrics["data"], metrics["config"]
    table = "".join(f"<tr><th>{html.escape(label)}</th><td>{html.escape(a)}</td><td>{html.escape(b)}</td></tr>"
                    for label, a, b in rows)
    config_rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                          for k, v in config.items())
    images = _figures_html(figures)
    code = "".join(
        f"<h3>{html.escape(title)}</h3><div class='pair'><div><h4>NumPy twin</h4><pre>{html.escape(np_code)}</pre></div>"
        f"<div><h4>Keras twin</h4><pre>{html.escape(keras_code)}</pre></div></div>"
        for title, np_code, keras_code in _code_pairs(config))
    drift_note = ""
    agreement = metrics.get("agreement")
    if agreement and agreement["max_weight_difference"][-1] > 1e-3 and config.get("activation", "relu") == "relu":
        drift_note = (" Here the weights ended further apart than one rounding: when a ReLU unit's input lies "
                      "within rounding of zero, one twin passes that sample's gradient and the other does not, "
                      "which moves some weights by about learning rate x activation / batch size in one step; "
                      "a large learning rate with momentum then amplifies such differences. The twins still "
                      "reach the same accuracy; in float64 they stay together to about 1e-12.")
    elif agreement and agreement["max_weight_difference"][-1] > 1e-3:
        drift_note = (" Here the weights ended further apart than one rounding: at a large learning rate every step "
                      "is large, and a float32 rounding that moves one saturated unit is amplified step after step "
                      "(two equally good networks result). In float64 the same run stays one network, to about "
                      "1e-15 (docs/backends.md).")
    if agreement and agreement.get("output_difference_at_equal_weights") is not None:
        drift_note = (" <strong>This run uses dropout.</strong> Each twin draws its own random dropout masks "
                      "(NumPy's generator and TensorFlow's Philox cannot be made to agree), so their weights drift "
                      "apart by design and the weight difference above is not a rounding measure. What must still "
                      "hold does: after training, the Keras twin was given the NumPy twin's weights and both "
                      "predicted the test set with dropout off; their outputs differ by at most "
                      f"{agreement['output_difference_at_equal_weights']:.1e}. The accuracy of the two twins "
                      "differs as much as two seeds of one twin do (the README gives the measured seed-to-seed "
                      "spread), and the test suite proves the NumPy Dropout equal to Keras's on Keras's own mask.")
    notice = f"<p class='notice'>{html.escape(data['notice'])}</p>" if data.get("notice") else ""
    engine = label(config.get("backend", "tensorflow"))
    whose, first_twin = "", html.escape(metrics.get("first_twin") or "NumPy twin")
    if metrics.get("first_twin"):
        whose = (f"<p class='notice'>In numpy_impl's place: {html.escape(metrics['first_twin'])}, loaded from "
                 f"<code>{html.escape(str(config.get('twin')))}</code>. Wherever this page says the NumPy twin, "
                 "it means that twin.</p>")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>numpy-vs-keras: run report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.8em; text-align: left; }}
th {{ background: #f4f4f4; font-weight: 600; }}
figure {{ margin: 1em 0; }} img {{ max-width: 100%; border: 1px solid #eee; }}
figcaption {{ color: #555; font-size: 0.9em; }}
.pair {{ display: flex; gap: 1em; }} .pair > div {{ flex: 1; min-width: 0; }}
pre {{ background: #f7f7f9; padding: 0.7em; overflow-x: auto; font-size: 0.8em; }}
.notice {{ background: #fff3cd; padding: 0.6em; border-left: 4px solid #e0a800; }}
</style></head><body>
<h1>numpy-vs-keras: one network, two twins</h1>
<p>Data: {html.escape(data['source'])}, {data['n_train']:,} training and {data['n_test']:,} test digits.</p>
{notice}
<h2>Summary</h2>
{whose}<table id="summary"><tr><th></th><th>{first_twin}</th><th>Keras twin (on {engine})</th></tr>{table}</table>
<h2>What the agreement figures mean</h2>
<p>Both twins start from the same weights and see the same batches in the same order, so if they are
the same network their weights can only drift apart by floating-point rounding. The largest weight
difference measures that drift; prediction agreement is the share of test digits that both twins
classify alike. The gradient checks compare the hand-written backward pass with finite differences
and with the automatic differentiation of {engine} (the engine under Keras in this run) on the same weights
and batch.{drift_note}</p>
<h2>Configuration</h2>
<table id="config">{config_rows}</table>
<h2>Figures</h2>
{images}
{inside_section(metrics.get("inside"), inside_figures)}<h2>The two twins side by side</h2>
{code}
</body></html>
"""
    write_atomic(path, page)


def bench_table(bench):
    """Markdown tables of a speed sweep, seconds per epoch (they read well in a terminal too):
    the NumPy twin with NumPy's BLAS as it comes and on one thread, then per backend Keras fit
    with its defaults and with the fastest setting found, each with how many times the NumPy
    twin's faster time it takes; then where the NumPy twin's epoch goes."""
    from .bench import NUMPY_THREADS, describe_environment
    floor = bench["floor_seconds_per_epoch"]
    names = [name for name in bench["settings"] if name not in NUMPY_THREADS]
    heads = [f"{'Keras fit' if name.startswith('keras/') else 'fastest'} {label(name.split('/')[1])}"
             for name in names]
    lines = [f"Floor: {floor:.3f} s per epoch (a step's matmul work at {bench['matmul_flops_per_second'] / 1e9:.0f} "
             f"GFLOP/s, the best large-matmul rate measured; {bench['machine']['cores']} cores, "
             f"{bench['machine']['cpu']})", describe_environment(bench["environment"]), "",
             "| batch | NumPy s/epoch | NumPy, 1 BLAS thread | x floor | NumPy matmuls alone | x matmuls | "
             "x matmuls in its BLAS setting | " + " | ".join(heads) + " |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |" + " ---: |" * len(names)]
    for row in bench["results"]:
        numpy_cells = [f"**{row[name]['seconds_per_epoch']:.3f}**" if name == row["numpy_best"]
                       else f"{row[name]['seconds_per_epoch']:.3f}" for name in NUMPY_THREADS]
        cells = [f"{row[name]['seconds_per_epoch']:.3f} ({row['keras_over_numpy'][name]:.1f}x)" for name in names]
        lines.append(f"| {row['batch_size']} | " + " | ".join(numpy_cells) + f" | {row['numpy_over_floor']:.2f}x | "
                     f"{row['numpy_matmul_seconds']:.3f} | {row['numpy_over_matmul']:.2f}x | "
                     f"{row['numpy_over_matmul_same_threads']:.2f}x | " + " | ".join(cells) + " |")
    lines.append("")
    if bench.get("noise_warning"):
        lines += [bench["noise_warning"], ""]
    lines.append("NumPy: the faster of its two settings in bold; the x columns and the Keras cells' ratios are "
                 "to it. NumPy matmuls alone: the faster of NumPy's two BLAS settings; the next column divides by "
                 "those matmuls in the setting the twin ran fastest in. "
                 "Keras cells: seconds per epoch (times the NumPy twin's). Fastest setting per backend: "
                 + "; ".join(f"{label(backend)} {settings_text(settings)}"
                             for backend, settings in bench["keras_fast_settings"].items()))
    lines += ["", "Where the NumPy twin's epoch goes (its faster setting, the fastest of one more epoch per round, seconds):", "",
              "| batch | matmul | elementwise and loss | optimizer | fit's loop and its batch gathers | total |",
              "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in bench["results"]:
        parts = row["numpy_breakdown"]
        shares = [f"{parts[key]:.3f} ({100 * parts[key] / parts['total']:.0f}%)" for key in BREAKDOWN]
        lines.append(f"| {row['batch_size']} | " + " | ".join(shares) + f" | {parts['total']:.3f} |")
    return "\n".join(lines)


# The parts of an epoch of the NumPy twin (bench.epoch_breakdown), in order.
BREAKDOWN = ("matmul", "elementwise", "optimizer", "python")

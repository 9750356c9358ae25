"""`model.summary()`: Keras's table of layers, output shapes and parameter counts."""
import textwrap


def summary_table(model, name):
    """Keras's summary: one row per layer with its output shape and parameter count, then totals."""
    total = model.count_params()                                 # refuses a model not yet built
    rows = []
    for layer in model.layers:
        kind = type(layer).__name__
        layer_name = layer.name
        shape = f"({model.batch_dimension}, " + ", ".join(map(str, layer.output_shape)) + ")"
        rows.append((f"{layer_name} ({kind})", shape, f"{layer.count_params():,}"))
    trainable = sum(w.size for w in model.trainable_weights)     # all but BatchNormalization's moving statistics

    def size(count):
        return _size(count * model.dtype.itemsize)
    widths = (31, 22, 13)                 # Keras's column widths on an 80-column console
    rule = "┏" + "┳".join("━" * (w + 2) for w in widths) + "┓"
    def line(cells, left, middle, right):
        return left + middle.join(f" {c:<{w}} " if i < 2 else f" {c:>{w}} "
                                  for i, (c, w) in enumerate(zip(cells, widths))) + right
    table = [f'Model: "{name}"', rule, line(("Layer (type)", "Output Shape", "Param #"), "┃", "┃", "┃"),
             "┡" + "╇".join("━" * (w + 2) for w in widths) + "┩"]
    for index, (layer, shape, params) in enumerate(rows):
        # a name too long for its column wraps at its spaces, and a word still too long ends in "…", as Keras's
        cells = [piece if len(piece) <= widths[0] else piece[:widths[0] - 1] + "…"
                 for piece in textwrap.wrap(layer, widths[0], break_long_words=False)]
        for number, cell in enumerate(cells):
            table.append(line((cell, shape, params) if number == 0 else (cell, "", ""), "│", "│", "│"))
        if index < len(rows) - 1:
            table.append("├" + "┼".join("─" * (w + 2) for w in widths) + "┤")
    table.append("└" + "┴".join("─" * (w + 2) for w in widths) + "┘")
    table += [f" Total params: {total:,} ({size(total)})", f" Trainable params: {trainable:,} ({size(trainable)})",
              f" Non-trainable params: {total - trainable:,} ({size(total - trainable)})"]
    return "\n".join(table)


def _size(nbytes):
    """Keras's readable size: B, KB, MB, ... in steps of 1024, with two decimals."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes < 1024:
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} PB"

"""`model.summary()`: Keras's table of layers, output shapes and parameter counts."""
import textwrap


def summary_table(model, name, connected=None):
    """Keras's summary: one row per layer with its output shape and parameter count, then totals.

    A functional model's table starts with its InputLayer's row (model.layers[0]), and where its graph branches
    adds Keras's "Connected to" column: `connected`, one list of "layer[0][0]" names per layer ("-" for the input)."""
    total = model.count_params()                                 # refuses a model not yet built
    batch = model.batch_dimension
    rows = []
    for index, layer in enumerate(model.layers):
        kind = type(layer).__name__
        shape = f"({batch}, " + ", ".join(map(str, layer.output_shape)) + ")"
        rows.append((f"{layer.name} ({kind})", shape, f"{layer.count_params():,}",
                     connected[index] if connected else []))
    trainable = sum(w.size for w in model.trainable_weights)     # all but BatchNormalization's moving statistics

    def size(count):
        return _size(count * model.dtype.itemsize)
    # Keras's column widths on an 80-column console: three columns, or four with "Connected to"
    widths = (19, 17, 10, 17) if connected else (31, 22, 13)
    rule = "┏" + "┳".join("━" * (w + 2) for w in widths) + "┓"
    def line(cells, left, middle, right):
        return left + middle.join(f" {c:<{w}} " if i != 2 else f" {c:>{w}} "
                                  for i, (c, w) in enumerate(zip(cells, widths))) + right
    header = ("Layer (type)", "Output Shape", "Param #") + (("Connected to",) if connected else ())
    table = [f'Model: "{name}"', rule, line(header, "┃", "┃", "┃"),
             "┡" + "╇".join("━" * (w + 2) for w in widths) + "┩"]
    for index, (layer, shape, params, sources) in enumerate(rows):
        # a name too long for its column wraps at its spaces, and a word still too long ends in "…", as Keras's
        cells = [piece if len(piece) <= widths[0] else piece[:widths[0] - 1] + "…"
                 for piece in textwrap.wrap(layer, widths[0], break_long_words=False)]
        links = [f"{source}," if number < len(sources) - 1 else source for number, source in enumerate(sources)]
        for number in range(max(len(cells), len(links) if connected else 0)):
            cell = cells[number] if number < len(cells) else ""
            first = (shape, params) if number == 0 else ("", "")
            extra = ((links[number] if number < len(links) else ""),) if connected else ()
            table.append(line((cell, *first, *extra), "│", "│", "│"))
        if index < len(rows) - 1:
            table.append("├" + "┼".join("─" * (w + 2) for w in widths) + "┤")
    table.append("└" + "┴".join("─" * (w + 2) for w in widths) + "┘")
    optimizer = optimizer_params(model)
    count, nbytes = optimizer or (0, 0)
    table += [f" Total params: {total + count:,} ({_size(total * model.dtype.itemsize + nbytes)})",
              f" Trainable params: {trainable:,} ({size(trainable)})",
              f" Non-trainable params: {total - trainable:,} ({size(total - trainable)})"]
    if optimizer:
        table.append(f" Optimizer params: {count:,} ({_size(nbytes)})")
    return "\n".join(table)


def optimizer_params(model):
    """(how many numbers, how many bytes) the optimizer keeps once it has taken a step, as Keras counts them
    for its summary: its step count (int64), its rate (float32; none with a schedule) and its state arrays
    (momentums, velocities, ...); None before the first step, when Keras prints no such line."""
    from .saving import KERAS_STATE
    optimizer = model.optimizer
    if optimizer is None or not optimizer.iterations:
        return None
    slots = KERAS_STATE.get(type(optimizer).__name__, [])
    names = [name for slot in slots for name in (slot if isinstance(slot, tuple) else (slot,))]
    arrays = [array for name in names for array in (getattr(optimizer, name, None) or [])]
    scalars = (1, 8) if optimizer.schedule else (2, 12)          # iteration int64, learning_rate float32
    return scalars[0] + sum(a.size for a in arrays), scalars[1] + sum(a.nbytes for a in arrays)


def _size(nbytes):
    """Keras's readable size: B, KB, MB, ... in steps of 1024, with two decimals."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes < 1024:
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} PB"

"""Keras's functional API and subclassed models: a graph of layers, and backpropagation through it.

Calling a layer on `Input(shape)` (or on what such a call returned) does not compute anything: it
records a node, (layer, its input tensors, its output tensor), and returns the output as a symbolic
`KerasTensor` that knows its shape. `Model(inputs, outputs)` collects the nodes between them. A
subclassed model (`class MLP(Model)` with a `call`) is the same graph: the first time the model meets
data, its `call` runs once on an `Input` of the data's shape, and the layer calls it makes are recorded.

Forward: the nodes in order (inputs first), each layer's forward pass on its input tensors' values.
Backward: the same nodes in reverse, each layer's backward pass, with one rule more than a chain has.
A tensor that feeds several layers (a fan-out, as a residual connection's x in Add()([x, Dense(x)]))
gets the gradient of each, and they add:

    dL/dx = sum over the layers c that read x of  dL/dx through c

because x moves L along every path out of it (the multivariable chain rule; micrograd's `+=`). A chain
has no fan-out, so it runs exactly the operations Sequential runs, bit for bit.

One input and one output, each layer called once in the graph: numpy_impl leaves shared layers and
several inputs or outputs out, and says so in one line.
"""
import numpy as np

from . import utils
from .layers import Input, InputLayer
from .model import Sequential


class KerasTensor:
    """A layer's output in a graph: its shape per sample, and the node that makes it. It holds no numbers:
    NumPy arithmetic on it is refused, naming the layer that does the same inside a model."""

    def __init__(self, shape, node, name):
        self.shape, self.node, self.name = tuple(shape), node, name

    def __repr__(self):
        return f"<KerasTensor shape=(None, {', '.join(map(str, self.shape))}), name={self.name}>"

    def _refuse(self, *args, **kwargs):
        raise utils.NotSupported("NumPy arithmetic on a layer's output inside a model is not recorded, so it would "
                                 "be left out of the backward pass: use a layer for it (layers.Add for +, "
                                 "layers.Concatenate to join, layers.Activation for a function)")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __matmul__ = __neg__ = _refuse
    __array__ = __array_ufunc__ = __array_function__ = __getitem__ = _refuse


class Node:
    """One layer call in a graph: the layer, the tensors it read (in order), the tensor it made."""

    def __init__(self, layer, inputs, output):
        self.layer, self.inputs, self.output = layer, inputs, output


def is_symbolic(inputs):
    """An Input or a KerasTensor, or a list of them (what a merge layer takes)."""
    if isinstance(inputs, (list, tuple)):
        return bool(inputs) and all(isinstance(x, (Input, KerasTensor)) for x in inputs)
    return isinstance(inputs, (Input, KerasTensor))


def call_symbolic(layer, inputs):
    """layer(inputs) on symbolic tensors: record the node, return its output tensor (nothing is computed)."""
    if getattr(layer, "_node", None) is not None:
        raise utils.NotSupported(f"layer {layer.name!r} is called a second time: numpy_impl's graphs use each "
                                 "layer once (no shared weights); make a second layer")
    tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    shapes = [tuple(t.shape) for t in tensors]
    shape = layer.compute_output_shape(shapes if isinstance(inputs, (list, tuple)) else shapes[0])
    node = Node(layer, tensors, None)
    node.output = KerasTensor(shape, node, f"{layer.name}_output")
    node.merges = isinstance(inputs, (list, tuple))
    layer._node = node
    return node.output


def graph_between(inputs, output):
    """The nodes that lead from `inputs` to `output`, in Keras's order: by depth from the output, deepest
    first, ties by the order a depth-first walk from the output first meets each layer (so model.layers and
    get_weights() come in Keras's order)."""
    order, finished, indices = [], set(), {}

    def visit(tensor):
        node = getattr(tensor, "node", None)
        if node is None or id(node) in finished:
            return
        indices.setdefault(id(node), len(indices))
        for parent in node.inputs:
            visit(parent)
        finished.add(id(node))
        order.append(node)
    visit(output)
    reached = {id(t) for node in order for t in node.inputs if isinstance(t, Input)}
    if id(inputs) not in reached and order:
        raise ValueError("the model's output does not depend on its input: call the layers on the Input "
                         "given to Model(inputs, outputs)")
    if not order:
        raise ValueError("the model's output is its input: call at least one layer on it")
    depth = {id(order[-1]): 0}
    for node in reversed(order):                          # from the output back: a node's depth is its longest
        for parent in node.inputs:                        # path to the output
            if getattr(parent, "node", None) is not None:
                depth[id(parent.node)] = max(depth.get(id(parent.node), 0), depth[id(node)] + 1)
    return sorted(order, key=lambda node: (-depth[id(node)], indices[id(node)]))


class Model(Sequential):
    """Keras's `Model`: `Model(inputs, outputs)` from a graph of layer calls (the functional API), or a
    subclass that makes its layers in __init__ and applies them in `call(inputs, training=None)`.

    Everything else is Sequential's (compile, fit, evaluate, predict, weights, saving); the graph changes
    only the forward and backward passes. model.save writes Keras's "Functional" config (each layer with
    the tensors it was called on), or a subclass's class name and get_config(), as Keras does. The output
    must be a Dense layer's, as in a Sequential here. model.layers lists the layers in Keras's order, a
    functional model's InputLayer first.
    """

    def __init__(self, inputs=None, outputs=None, name=None, seed=None, dtype=None, **kwargs):
        if kwargs:
            raise TypeError(f"Model got unexpected arguments {sorted(kwargs)}")
        super().__init__((), seed=seed, dtype=dtype, name=name or utils.unique_name(
            "functional" if inputs is not None else type(self).__name__))
        self._compiled_with = None
        if inputs is None and outputs is None:
            self._subclassed = True                      # the graph comes from call(), at the first data
            return
        self._subclassed = False
        self._set_graph(_single(inputs, "input", Input), _single(outputs, "output", KerasTensor))

    def _set_graph(self, inputs, output):
        self.inputs, self.outputs_tensors = [inputs], [output]
        self.nodes = graph_between(inputs, output)
        # Keras's model.layers: a functional model's starts with the InputLayer behind its Input; a subclass's
        # holds only the layers its call() used
        made = [node.layer for node in self.nodes]
        self.layers = made if self._subclassed else [InputLayer(inputs.shape, name=inputs.layer_name)] + made
        names = [layer.name for layer in self.layers]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"the layer name {name!r} is used twice in the model: layer names must be unique")
        self.input_shape = inputs.shape
        self._input_tensor, self._output_tensor = inputs, output
        # how many layers read each tensor: a tensor read twice is copied for all but its last reader (a layer
        # may work in place on its input, as an Activation's ReLU does), and its gradients are summed
        self._readers = {}
        for node in self.nodes:
            for tensor in node.inputs:
                self._readers[id(tensor)] = self._readers.get(id(tensor), 0) + 1
        self._build_layers()

    @property
    def outputs(self):
        """Keras's model.outputs: the output tensors (a list of one). (The forward pass is `run`.)"""
        return self.outputs_tensors if not self._subclassed or self.built else []

    # ---- building ------------------------------------------------------------------------------------

    def add(self, layer):
        raise utils.NotSupported("a functional or subclassed Model has no add(): its layers are the graph's")

    def pop(self):
        raise utils.NotSupported("a functional or subclassed Model has no pop(): its layers are the graph's")

    def _build_for(self, sample_shape, batch=None):
        if self._subclassed and not self.layers:
            self._trace(tuple(int(n) for n in sample_shape))
        if tuple(sample_shape) != tuple(self.input_shape or ()):
            raise ValueError(f"the model takes samples of shape {self.input_shape}, got {tuple(sample_shape)}")
        self.batch_dimension = batch

    def _trace(self, sample_shape):
        """A subclassed model's graph: its call() run once on an Input of the data's shape, recording the
        layer calls it makes (and refusing any NumPy arithmetic on their outputs)."""
        import inspect
        inputs = Input(shape=sample_shape)
        takes_training = "training" in inspect.signature(self.call).parameters     # Keras's call(inputs) too
        output = self.call(inputs, training=None) if takes_training else self.call(inputs)
        if not isinstance(output, KerasTensor):
            raise ValueError(f"{type(self).__name__}.call must return what its last layer returns, got "
                             f"{type(output).__name__}")
        self._set_graph(inputs, output)
        if self._compiled_with is not None:
            Sequential.compile(self, **self._compiled_with)

    def _build_layers(self):
        """Build each layer for the shape(s) of the tensors it reads, in the graph's order."""
        if not getattr(self, "nodes", None):
            self.built = False
            return
        for node in self.nodes:
            shapes = [tuple(t.shape) for t in node.inputs]
            node.layer.build_once(shapes if node.merges else shapes[0], self.rng, self.dtype)
        self._weights = [w for layer in self.layers for w in layer.weights]
        self._trainable = [w for layer in self.layers for w in layer.trainable_weights]
        # needs_gradient[t]: does any layer before tensor t have weights? Only then is dL/dt of use.
        self._needs_gradient = {id(self._input_tensor): False}
        for node in self.nodes:
            below = any(self._needs_gradient.get(id(t), False) for t in node.inputs)
            self._needs_gradient[id(node.output)] = below or bool(node.layer.weights)
        self.weights_below = [any(self._needs_gradient[id(t)] for t in node.inputs) for node in self.nodes]
        self.built = True

    def compile(self, optimizer="sgd", loss="categorical_crossentropy", metrics=None):
        """As Sequential's; a subclassed model not yet built keeps the arguments until its first data."""
        if self._subclassed and not self.layers:
            self._compiled_with = dict(optimizer=optimizer, loss=loss, metrics=metrics)
            from . import losses, optimizers
            self.loss = losses.get(loss)
            self.optimizer = optimizers.get(optimizer) if isinstance(optimizer, str) else optimizer
            return
        super().compile(optimizer, loss, metrics)

    def summary(self, print_fn=print):
        """Keras's table for a functional model: its input layer first, and where the graph branches (a layer
        reads two tensors, or a tensor feeds two layers) the "Connected to" column."""
        from .summary import summary_table
        if not self.built:
            raise ValueError(f"the model {self.name!r} is not built yet: call it on data, or build((None, ...)), first")
        branches = any(node.merges for node in self.nodes) or any(count > 1 for count in self._readers.values())
        connected = ([] if self._subclassed else [["-"]]) + [
            [(t.layer_name if isinstance(t, Input) else t.node.layer.name) + "[0][0]" for t in node.inputs]
            for node in self.nodes] if branches else None
        print_fn(summary_table(self, self.name, connected=connected))

    def get_config(self):
        """A subclass's constructor arguments, for model.save: Keras rebuilds it as cls.from_config(config),
        cls(**config) unless the subclass says otherwise. A subclass whose __init__ takes arguments returns
        them here, as Keras's guide does; the base's are Keras's, trainable and dtype."""
        return {"trainable": True, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config):
        """The model get_config() describes, as Keras makes it: cls(**config) (trainable and dtype handed on
        only to an __init__ that takes them)."""
        import inspect
        config = dict(config)
        trainable, dtype = config.pop("trainable", True), config.pop("dtype", None)
        if not trainable:
            raise utils.NotSupported("numpy_impl trains every model it makes: trainable=False is left out")
        parameters = inspect.signature(cls.__init__).parameters
        if dtype is not None and ("dtype" in parameters or any(p.kind == p.VAR_KEYWORD for p in parameters.values())):
            config["dtype"] = dtype
        return cls(**config)

    def call(self, inputs, training=None):
        """A subclass applies its layers here; a functional model's call is its graph."""
        if self._subclassed:
            raise NotImplementedError(f"{type(self).__name__} subclasses Model: define call(self, inputs, "
                                      "training=None), applying the layers made in __init__")
        return self.run(inputs, training=bool(training))

    # ---- forward and backward through the graph --------------------------------------------------------

    def _values(self, x, training, logits, every=False):
        """Every node's output for inputs x, in order; the output node's logits if `logits`, else its
        activated outputs. A tensor read by more than one layer is handed to all but the last a copy.
        Returns the output, or with `every` [(layer name, a copy of its output)] for each node."""
        values, reads, kept = {id(self._input_tensor): x}, {}, []
        last = self.nodes[-1]
        for node in self.nodes:
            args = []
            for tensor in node.inputs:
                reads[id(tensor)] = reads.get(id(tensor), 0) + 1
                value = values[id(tensor)]
                args.append(value.copy() if reads[id(tensor)] < self._readers[id(tensor)] else value)
            arg = args if node.merges else args[0]
            if node is last and logits:
                values[id(node.output)] = node.layer.affine(arg)
            else:
                values[id(node.output)] = node.layer.forward(arg, training)
            if every:
                kept.append((node.layer.name, np.array(values[id(node.output)])))
        return kept if every else values[id(last.output)]

    def forward(self, x, training=False):
        """The output layer's logits (its activation is in the loss's head)."""
        return self._values(x, training, logits=True)


    def backward(self, grad_logits):
        """From dL/dlogits back through the nodes in reverse; a tensor read by several layers gets the
        sum of their gradients (the fan-out rule), and the layer that made it gets that sum."""
        grads = {id(self.nodes[-1].output): grad_logits}
        last = len(self.nodes) - 1
        for index in range(last, -1, -1):
            node = self.nodes[index]
            g = grads.pop(id(node.output), None)
            if g is None:
                continue                                     # nothing below needs it (no weights there)
            need = self.weights_below[index]
            if index == last:
                result = node.layer.backward_affine(g, need_grad_inputs=need)
            else:
                result = node.layer.backward(g, need_grad_inputs=need)
            if not need:
                continue
            results = result if node.merges else [result]
            for tensor, gradient in zip(node.inputs, results):
                if not self._needs_gradient.get(id(tensor), False):
                    continue
                key = id(tensor)
                grads[key] = gradient if key not in grads else grads[key] + gradient   # the fan-out sum

    def run(self, x, training=False):
        """Every node's forward pass, the output's activation included: what predict and model(x) give."""
        return self._values(x, training, logits=False)

    def __call__(self, x, training=False):
        """model(x) on an array: the outputs, as a new array; on a symbolic tensor: refused (no nesting)."""
        if is_symbolic(x):
            raise utils.NotSupported("a Model called on an Input (a model inside a model) is not supported: "
                                     "call its layers on the Input instead")
        return super().__call__(x, training)


def _single(tensors, what, kind):
    """One Input or output tensor (alone or in a list of one); several are refused in one line."""
    if isinstance(tensors, (list, tuple)):
        if len(tensors) != 1:
            raise utils.NotSupported(f"numpy_impl's Model takes one {what}, got {len(tensors)}: a model with "
                                     f"several inputs or outputs is left out (see docs/keras-tutorials.md)")
        tensors = tensors[0]
    if isinstance(tensors, dict):
        raise utils.NotSupported(f"numpy_impl's Model takes one {what}, not a dict of them")
    if not isinstance(tensors, kind) and not (what == "output" and isinstance(tensors, Input)):
        raise ValueError(f"Model's {what}s must be {'an Input' if kind is Input else 'the tensor a layer call returned'}"
                         f", got {type(tensors).__name__}")
    return tensors


__all__ = ["KerasTensor", "Model", "Node"]

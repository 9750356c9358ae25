"""The worker: the process in which `check` runs a learner's twin. It never sees a reference answer.

    python -I -B -c BOOT CONFIG_JSON      (remote.BOOT: check's import path, then this module as __main__)

It imports NumPy, the standard library, the codec (wire.py) and the guard (guard.py), then sets
its limits (memory, no file writes, no core dump), starts watching imports (a twin must be NumPy:
TensorFlow, Keras, JAX, PyTorch and autograd are refused and remembered), and imports the twin.
Then it answers the parent's requests, one frame each way on two pipes: get an attribute, call,
give a Dropout layer a fixed mask. The twin's objects stay here, named by handles; what goes back
is plain data (wire.py). Every call runs under guard.py's Guard, as it did in-process: a time limit,
the arrays handed over watched for changes. If the twin ends this process, hangs past the time
limit or crashes, the parent sees the pipe close or its deadline pass, and says so in a row.
"""
import faulthandler
import importlib.abc
import inspect
import json
import os
import sys
from pathlib import Path

from compare.check import wire
from compare.check.guard import Guard, GuardFailed
from compare.twins import TwinError, load_twin, raising_function

# Engines whose autodiff would hand back gradients the twin did not compute.
FORBIDDEN = ("tensorflow", "keras", "tf_keras", "jax", "jaxlib", "flax", "torch", "autograd")


class ImportWatch(importlib.abc.MetaPathFinder):
    """Refuses the engines in `forbidden` and remembers who asked: [(module, "file.py:line")]."""

    def __init__(self, forbidden=FORBIDDEN):
        self.forbidden, self.seen = tuple(forbidden), []

    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top not in self.forbidden:
            return None
        where = _importer()
        if not any(module == top for module, _ in self.seen):
            self.seen.append((top, where))
        raise ImportError(f"{top} may not be imported by a twin under check: a twin computes its own "
                          "gradients, with NumPy")


    def look(self):
        """Engines loaded past the watch (a twin that took it off sys.meta_path): found in sys.modules."""
        for top in self.forbidden:
            if top in sys.modules and not any(module == top for module, _ in self.seen):
                self.seen.append((top, "loaded past check's import watch"))


def _importer():
    """'model.py:3': the first frame outside the import machinery, the line with the import."""
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith("<frozen") and "importlib" not in filename and filename != __file__:
            return f"{Path(filename).name}:{frame.f_lineno}"
        frame = frame.f_back
    return "(unknown)"


class Dispatcher:
    """Answers check's requests about one twin module, in the worker; every call into it goes
    through `guard`. (run_check(module=...) calls a module imported in check's own process directly.)"""

    def __init__(self, module, guard, watch=None):
        self.objects = [module]            # handle id -> object; 0 is the twin module
        self.guard, self.watch = guard, watch
        self.given = {}                    # gid -> the array handed to the twin (guard.give's copy)

    def handle_of(self, item):
        self.objects.append(item)
        names = [kind.__name__ for kind in type(item).__mro__]
        return wire.Handle(len(self.objects) - 1, names, callable(item))

    def serve(self, request):
        """The reply to one request: {"value": ...} or {"error": {...}}."""
        try:
            value = self._serve(request)
        except GuardFailed as failure:
            return self._with_imports({"error": {"kind": "guard", "hint": failure.hint, "what": failure.what}})
        except NotImplementedError as error:
            frame = _deepest(error)
            return self._with_imports({"error": {
                "kind": "not_written", "name": raising_function(error) or "a function", "task": str(error),
                "file": Path(frame.tb_frame.f_code.co_filename).name if frame else "?",
                "line": frame.tb_lineno if frame else 0}})
        except _Missing:
            return self._with_imports({"error": {"kind": "attribute", "name": request.get("name")}})
        return self._with_imports({"value": value})

    def _with_imports(self, reply):
        if self.watch is not None:
            self.watch.look()
        if self.watch is not None and self.watch.seen:
            reply["forbidden"] = [list(each) for each in self.watch.seen]
        return reply

    def _serve(self, request):
        op, what = request["op"], request.get("what", "a call")
        self.guard.timeout = request.get("timeout", self.guard.timeout)
        target = self.objects[request["target"]] if "target" in request else None
        if op == "getattr":
            def get(name=request["name"]):
                try:
                    return getattr(target, name)
                except AttributeError:
                    return _MISSING
            value = self.guard.call(what, get)
            if value is _MISSING:
                raise _Missing()
            return value
        if op == "call":
            args = self._local(request["args"])
            kwargs = self._local(request["kwargs"])
            return self.guard.call(what, target, *args, **kwargs)
        if op == "float":
            return self.guard.call(what, float, target)
        if op == "list":
            return self.guard.call(what, list, target)
        if op == "parameters":
            try:
                return [[p.name, p.kind.name] for p in inspect.signature(target).parameters.values()]
            except (TypeError, ValueError):
                return None
        if op == "fixed_mask":          # a Dropout layer draws this mask (check's dropout stage)
            mask = request["mask"]
            self.guard.call(what, setattr, target, "draw_mask", lambda shape: mask.copy())
            return None
        raise ValueError(f"unknown request {op!r}")

    def _local(self, item):
        """Arguments as the twin receives them: handles back to objects, given arrays watched."""
        if isinstance(item, wire.Handle):
            return self.objects[item.id]
        if isinstance(item, wire.Given):
            if item.gid not in self.given:
                self.given[item.gid] = self.guard.give(item.label, item.array)
            return self.given[item.gid]
        if isinstance(item, list):
            return [self._local(each) for each in item]
        if isinstance(item, dict):
            return {key: self._local(each) for key, each in item.items()}
        return item


class _Missing(Exception):
    pass


_MISSING = object()


def _deepest(error):
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb


def twin_home(module):
    """The twin's own folder (a package) or file, so an error can name the learner's own line."""
    path = getattr(module, "__file__", None)
    if not path:
        return None
    path = Path(path)
    return path.parent if path.name == "__init__.py" else path


def limit(memory_mb):
    """This process's limits, hard as well as soft (not raised again without root): `memory_mb` of
    address space, no byte written to a regular file, no core dump. Linux and macOS; elsewhere none."""
    try:
        import resource
    except ImportError:
        return
    limits = [(resource.RLIMIT_FSIZE, 0), (resource.RLIMIT_CORE, 0)]
    if memory_mb:
        limits.append((resource.RLIMIT_AS, int(memory_mb) << 20))
    for which, value in limits:
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):      # macOS refuses RLIMIT_AS below what is mapped: go on without it
            pass


def main(argv):
    config = json.loads(argv[1])
    requests, replies = config["requests"], config["replies"]
    dump = os.fdopen(config["dump"], "w")
    faulthandler.enable(file=dump)     # a crash's traceback (or a stuck call's, on the parent's SIGABRT) goes to the parent
    limit(config.get("memory_mb"))
    watch = ImportWatch()
    sys.meta_path.insert(0, watch)
    if config.get("path"):
        sys.path.insert(0, config["path"])           # a module named from the folder check was run in
    try:
        module = load_twin(config["spec"])
    except TwinError as error:
        wire.send(replies, wire.encode({"error": {"kind": "load", "text": str(error)}}))
        return 0
    guard = Guard(home=twin_home(module), timeout=config.get("timeout", 0), memory_mb=config.get("memory_mb"))
    guard.capture = False                            # the parent reads this process's descriptors 1 and 2
    dispatcher = Dispatcher(module, guard, watch)
    borrowed = getattr(getattr(module, "build_model", None), "__module__", "") or ""
    hello = {"value": dispatcher.handle_of(module), "file": getattr(module, "__file__", None) or "",
             "name": module.__name__, "build_model_module": borrowed}
    wire.send(replies, wire.encode(dispatcher._with_imports(hello)))
    while True:
        try:
            request = wire.decode(wire.receive(requests), given=dispatcher.given)
        except wire.Closed:
            return 0
        reply = dispatcher.serve(request)
        try:
            payload = wire.encode(reply, handle_of=dispatcher.handle_of)
        except MemoryError:
            payload = wire.encode({"error": {"kind": "memory"}})
        wire.send(replies, payload)


if __name__ == "__main__":
    sys.exit(main(sys.argv))

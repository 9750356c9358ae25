"""check's side of the worker process (worker.py): start it, reach the twin's objects through it,
and turn whatever it does (returns, raises, hangs, crashes, exits) into a row, never a pass.

`WorkerLink(spec)` starts `python -I -B` running compare.check.worker (on check's own import path) with:
- a working folder of its own (a fresh temporary one, removed at the end);
- its own process group, ended with all it started before the verdict is written;
- two pipes for requests and replies, a third for a crash's traceback, and its descriptors 1 and 2
  read here and kept out of the table;
- limits it sets on itself before importing the twin: --memory MB of address space, no file written;
- with --user NAME (check run as root), that user's uid and gid, so it cannot write check's files.

The twin's objects stay in the worker; here they are `Remote` proxies whose attributes and calls
are requests. Only plain data comes back (wire.py). A request has a deadline: the worker's own time
limit (guard.py) plus WORKER_GRACE; past it the worker is ended here and the call named.
"""
import inspect
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import wire
from .guard import DEFAULT_TIMEOUT, GuardFailed

DEFAULT_MEMORY_MB = 4096       # the worker's address space; check numpy_impl's peaks at 211 MB (68 MB resident)
WORKER_GRACE = 2.0             # seconds past a call's time limit before the worker is ended from here
KEPT_OUTPUT_LINES = 200        # of what the twin prints, the first lines kept (the count goes on)


# The worker starts isolated (-I: no user site, no PYTHON* variables, not the working folder on its path), then
# takes check's own import path, so that it runs the same compare and numpy_impl as check (a wheel on PYTHONPATH too).
BOOT = ("import json, runpy, sys; sys.path[:0] = json.loads(sys.argv[1])['sys_path']; "
        "runpy.run_module('compare.check.worker', run_name='__main__', alter_sys=True)")


class TwinFault(Exception):
    """Something went wrong on the twin's side: `hint` for the learner, `what` for the row."""

    def __init__(self, hint, what):
        super().__init__(hint)
        self.hint, self.what = hint, what


class NotWritten(NotImplementedError):
    """An exercise's blank, raised in the worker: the function's name, file, line and task."""

    def __init__(self, name, file, line, task):
        super().__init__(task)
        self.name, self.file, self.line, self.task = name, file, line, task


# ---- proxies ----------------------------------------------------------------------------------

class Remote:
    """An object of the twin's, held by the worker: attribute reads are requests."""

    def __init__(self, link, handle):
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_handle", handle)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        methods = self._link.methods
        key = (self._handle.id, name)
        if key in methods:                  # a bound method read before: one request fewer per call
            return methods[key]
        value = self._link.request({"op": "getattr", "target": self._handle.id, "name": name})
        if isinstance(value, Remote) and object.__getattribute__(value, "_handle").type_names[0] == "method":
            methods[key] = value
        return value

    def __setattr__(self, name, value):
        raise TypeError("a twin's objects are read, never written, from check's side")

    def __float__(self):
        return float(self._link.request({"op": "float", "target": self._handle.id}))

    def __iter__(self):
        return iter(self._link.request({"op": "list", "target": self._handle.id}))

    def __repr__(self):
        return f"<the twin's {self._handle.type_names[0]} (handle {self._handle.id})>"


class RemoteCallable(Remote):
    """A function, method or class of the twin's: a call is a request."""

    def __call__(self, *args, **kwargs):
        return self._link.request({"op": "call", "target": self._handle.id, "args": list(args), "kwargs": kwargs})

    @property
    def __signature__(self):       # so that quiet() passes verbose=0 only where the twin's method takes it
        parameters = self._link.request({"op": "parameters", "target": self._handle.id})
        if parameters is None:
            raise ValueError("no signature")
        return inspect.Signature([inspect.Parameter(name, getattr(inspect.Parameter, kind))
                                  for name, kind in parameters])


def _handle_of(item):
    """A proxy crosses back as its handle; nothing else that is not plain data crosses at all."""
    if isinstance(item, Remote):
        return object.__getattribute__(item, "_handle")
    raise wire.WireError(f"{type(item).__name__} is not plain data")


def type_names(item):
    """The names of item's class and its bases, most derived first, for a proxy or a local object."""
    if isinstance(item, Remote):
        return list(object.__getattribute__(item, "_handle").type_names)
    return [kind.__name__ for kind in type(item).__mro__]


def set_fixed_mask(layer, mask):
    """Make a Dropout layer draw `mask` at its next training calls (check's dropout stage)."""
    if isinstance(layer, Remote):
        link, handle = object.__getattribute__(layer, "_link"), object.__getattribute__(layer, "_handle")
        link.request({"op": "fixed_mask", "target": handle.id, "mask": mask})
    else:
        layer.draw_mask = lambda shape, mask=mask: mask.copy()


# ---- the worker process ----------------------------------------------------------------------

class WorkerLink:
    """One learner's twin in a worker process. `root` is the twin module's proxy."""

    def __init__(self, spec, timeout=DEFAULT_TIMEOUT, memory_mb=DEFAULT_MEMORY_MB, user=None, threads=None):
        self.spec, self.timeout, self.memory_mb = spec, timeout, memory_mb
        self.what = f"importing {spec}"
        self.sent, self.forbidden, self.ended = set(), None, None
        self.methods = {}                  # (handle, name) -> a bound method's proxy
        self.output, self.output_lines, self.dump = [], 0, b""
        self.workdir = tempfile.mkdtemp(prefix="check-worker-")
        try:
            options = _as_user(user, self.workdir) if user is not None else {}
        except PermissionError:
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise
        requests_read, self._requests = os.pipe()
        self._replies, replies_write = os.pipe()
        dump_read, dump_write = os.pipe()
        output_read, output_write = os.pipe()
        path = Path(spec)
        named = spec if not (spec.endswith(".py") or "/" in spec or path.exists()) else str(path.resolve())
        config = {"spec": named, "requests": requests_read, "replies": replies_write, "dump": dump_write,
                  "memory_mb": memory_mb, "timeout": timeout, "path": os.getcwd(),
                  "sys_path": [entry for entry in sys.path if entry]}
        env = dict(os.environ)
        if threads:
            env.update(OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-B", "-c", BOOT, json.dumps(config)],
                stdin=subprocess.DEVNULL, stdout=output_write, stderr=output_write, cwd=self.workdir, env=env,
                pass_fds=(requests_read, replies_write, dump_write), start_new_session=True, **options)
        except PermissionError:
            for fd in (self._requests, self._replies, dump_read, output_read):
                os.close(fd)
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise PermissionError(f"--user {user} may not run {sys.executable}: install Python, this package and "
                                  "the twin where that user can read them (not under /root)") from None
        finally:
            for fd in (requests_read, replies_write, dump_write, output_write):
                os.close(fd)
        os.set_blocking(self._requests, False)
        self._readers = [threading.Thread(target=self._drain_output, args=(output_read,), daemon=True),
                         threading.Thread(target=self._drain_dump, args=(dump_read,), daemon=True)]
        for reader in self._readers:
            reader.start()
        try:
            hello = self._receive(self._deadline())
        except TwinFault:                  # it ended, hung or crashed while importing the twin
            self.close()
            raise
        if "error" in hello:
            self.close()
            from ..twins import TwinError
            raise TwinError(hello["error"].get("text", "the twin could not be loaded"))
        self.file, self.name = hello["file"], hello["name"]
        self.build_model_module = hello["build_model_module"]
        self.forbidden = hello.get("forbidden")
        self.root = self._proxy(hello["value"])

    # -- requests --

    def request(self, message):
        """Send one request and return the reply's value; raise TwinFault, NotWritten or AttributeError."""
        if self.ended:
            raise TwinFault(self.ended, f"{self.what}: the twin's process had ended")
        message = {**message, "what": self.what, "timeout": self.timeout}
        deadline = self._deadline()
        try:
            wire.send(self._requests, wire.encode(message, handle_of=_handle_of, sent=self.sent), deadline)
        except wire.Closed:
            self._fault(self._ended_hint())
        except wire.TimedOut:
            self._fault(self._timed_out_hint())
        reply = self._receive(deadline)
        if reply.get("forbidden"):
            self.forbidden = reply["forbidden"]
        if self.forbidden:
            module, where = self.forbidden[0]
            raise TwinFault(f"your twin imported {module} ({where}): a twin must compute with NumPy, its own "
                            f"gradients by its own backward pass; TensorFlow, Keras, JAX, PyTorch and autograd "
                            "are not allowed in a twin under check, at import or in any call. Remove the import.",
                            f"{self.what}: imported {module}")
        error = reply.get("error")
        if error is None:
            return self._local(reply["value"])
        kind = error.get("kind")
        if kind == "guard":
            raise TwinFault(str(error["hint"]), str(error["what"]))
        if kind == "not_written":
            raise NotWritten(str(error["name"]), str(error["file"]), int(error["line"]), str(error["task"]))
        if kind == "attribute":
            raise AttributeError(str(error.get("name")))
        if kind == "memory":
            raise TwinFault(f"{self.what} ran out of the {self.memory_mb} MB it may use (allow more with "
                            "--memory MB)", f"{self.what}: out of memory")
        raise TwinFault(f"{self.what}: the worker answered {kind!r}", f"{self.what}: no answer")

    def _receive(self, deadline):
        try:
            return wire.decode(wire.receive(self._replies, deadline))
        except wire.Closed:
            self._fault(self._ended_hint())
        except wire.TimedOut:
            self._fault(self._timed_out_hint())
        except wire.WireError as error:
            self._fault(f"{self.what}: the twin's process sent something that is not an answer ({error}); its "
                        "process was ended")

    def _fault(self, hint):
        self.ended = hint
        self._end()
        raise TwinFault(hint, f"{self.what}: " + ("no answer" if "did not return" in hint else "process ended"))

    def _deadline(self):
        return time.monotonic() + self.timeout + WORKER_GRACE if self.timeout else None

    def _local(self, item):
        if isinstance(item, wire.Handle):
            return self._proxy(item)
        if isinstance(item, list):
            return [self._local(each) for each in item]
        if isinstance(item, dict):
            return {key: self._local(each) for key, each in item.items()}
        return item

    def _proxy(self, handle):
        return (RemoteCallable if handle.callable else Remote)(self, handle)

    # -- how it ended --

    def _ended_hint(self):
        try:
            status = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            status = None
        where = self._where()
        how = describe_status(status)
        return (f"the twin's process ended with {how} during {self.what}"
                + (f"; it was running {where}" if where else "")
                + ". A twin must return from every call: os._exit, sys.exit at import, a crash in C code or a "
                "signal ends the whole process, and check cannot go on")

    def _timed_out_hint(self):
        self._end(dump_first=True)
        where = self._where()
        return (f"{self.what} did not return within {self.timeout:g} s, and did not stop when asked; its "
                "process was ended" + (f". When stopped it was running {where}" if where else "")
                + ". An endless loop, or a loop whose end condition never comes true? Allow longer with "
                "--timeout SECONDS.")

    def _where(self):
        """'model.py:42, in fit': the twin's innermost line in the traceback faulthandler wrote, if any."""
        for reader in self._readers[1:]:
            reader.join(timeout=1)
        lines = self.dump.decode(errors="replace").splitlines()
        frames = [line.strip() for line in lines if line.strip().startswith("File ")]
        for frame in frames:          # faulthandler writes the innermost frame first
            try:
                filename = frame.split('"')[1]
                line = frame.split("line ")[1].split()[0]
                function = frame.rsplit(" in ", 1)[1]
            except IndexError:
                continue
            if "/compare/" in filename or "/numpy/" in filename or filename.startswith("<"):
                continue
            return f"{Path(filename).name}:{line}, in {function}"
        return None

    # -- output --

    def _drain_output(self, fd):
        pending = b""
        with os.fdopen(fd, "rb", buffering=0) as stream:
            while chunk := stream.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                self._keep(lines)
        self._keep([pending] if pending else [])

    def _keep(self, lines):
        for line in lines:
            text = line.decode(errors="replace").rstrip()
            if text.strip():
                self.output_lines += 1
                if len(self.output) < KEPT_OUTPUT_LINES:
                    self.output.append(text[:500])

    def _drain_dump(self, fd):
        with os.fdopen(fd, "rb", buffering=0) as stream:
            while chunk := stream.read(65536):
                if len(self.dump) < 1 << 20:
                    self.dump += chunk

    def printed_lines(self):
        return list(self.output)

    # -- the end --

    def _end(self, dump_first=False):
        """End the worker's whole process group."""
        if dump_first and self.process.poll() is None:
            try:
                os.kill(self.process.pid, signal.SIGABRT)    # faulthandler writes the stack, then it ends
                self.process.wait(timeout=2)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()

    def close(self):
        """Ask the worker to end (its requests pipe closes), then end its group and remove its folder."""
        try:
            os.close(self._requests)
        except OSError:
            pass
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        self._end()
        os.close(self._replies)
        for reader in self._readers:
            reader.join(timeout=2)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def describe_status(status):
    """'exit status 0', 'a segmentation fault (SIGSEGV)', 'signal SIGKILL (killed ...)'."""
    if status is None:
        return "no exit status (it would not end)"
    if status >= 0:
        return f"exit status {status}"
    try:
        name = signal.Signals(-status).name
    except ValueError:
        return f"signal {-status}"
    said = {"SIGSEGV": "a segmentation fault (SIGSEGV)", "SIGBUS": "a bus error (SIGBUS)",
            "SIGABRT": "an abort (SIGABRT)", "SIGFPE": "a floating-point trap (SIGFPE)",
            "SIGKILL": "signal SIGKILL (killed from outside: out of memory, or by another process)"}
    return said.get(name, f"signal {name}")


def _as_user(user, workdir):
    """Popen's options to run the worker as `user` (check must be root), its folder made theirs."""
    import pwd
    if os.geteuid() != 0:
        raise PermissionError(f"--user {user} needs check to run as root (it drops the worker to that user)")
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise PermissionError(f"--user {user}: no such user on this machine") from None
    os.chown(workdir, entry.pw_uid, entry.pw_gid)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


class RemoteGuard:
    """The Guard for a twin in a worker: the worker's own Guard times each call and watches the arrays
    it is given; here a fault of the worker becomes GuardFailed for the row."""

    def __init__(self, link):
        self.link = link
        self.home = None
        self._gids = iter(range(1, 1 << 62))

    @property
    def timeout(self):
        return self.link.timeout

    def give(self, label, array):
        import numpy as np
        return wire.Given(next(self._gids), label, np.array(array, copy=True))

    def call(self, what, function, *args, **kwargs):
        self.link.what = what
        try:
            return function(*args, **kwargs)
        except TwinFault as fault:
            raise GuardFailed(fault.hint, fault.what) from None

    def printed_lines(self):
        return self.link.printed_lines()

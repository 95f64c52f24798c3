"""Client of the generator process (standard library and numpy only: it runs inside Blender's Python).

Starts `python -m server` with a chosen interpreter, checks the protocol version, sends requests and
routes the process's events to them. Callbacks run on the reader thread; Blender code polls
`Request.events()` from a timer (or calls `Request.wait()` headless) so bpy is touched on the main
thread only. A process that dies fails every pending request with its last stderr lines, and the
next request starts a new one."""

import collections
import itertools
import json
import os
import queue
import subprocess
import threading
import time
import traceback
from pathlib import Path

import numpy as np

from ..server import protocol

EXTENSION_ROOT = Path(__file__).resolve().parents[1]


class GeneratorError(RuntimeError):
    """The generator refused or failed a request; `code` is the protocol error code."""

    def __init__(self, message, code="internal", field=None, allowed=None):
        super().__init__(message)
        self.code, self.field, self.allowed = code, field, allowed


class Request:
    """A request in flight: its events in arrival order, and the outcome once it has one."""

    def __init__(self, request_id, op, on_progress=None, on_result=None, on_error=None):
        self.id, self.op = request_id, op
        self._events = queue.Queue()
        self._done = threading.Event()
        self.result = self.error = None
        self.progress = (0, 0)
        self._callbacks = (on_progress, on_result, on_error)

    def _deliver(self, event):
        kind = event.get("event")
        on_progress, on_result, on_error = self._callbacks
        if kind == "progress":
            self.progress = (event["step"], event["steps"])
            self._call(on_progress, *self.progress)
        elif kind in ("result", "ack", "hello"):
            self.result = event
            self._call(on_result, event)
        elif kind == "error":
            self.error = GeneratorError(event.get("message", "unknown error"), event.get("code", "internal"),
                                        event.get("field"), event.get("allowed"))
            self._call(on_error, self.error)
        self._events.put(event)
        if kind != "progress":
            self._done.set()

    @staticmethod
    def _call(callback, *args):
        """A failing callback is reported, never allowed to kill the reader thread (which would leave every
        later request waiting forever)."""
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:  # noqa: BLE001 - the caller's code; report it and keep reading
            traceback.print_exc()

    @property
    def done(self):
        return self._done.is_set()

    def events(self):
        """Events received since the last call (non-blocking), for polling from Blender's main thread."""
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out

    def wait(self, timeout=None):
        """Block until the outcome; return the result event or raise GeneratorError."""
        if not self._done.wait(timeout):
            raise GeneratorError(f"no answer to request {self.id} within {timeout} s", "timeout")
        if self.error is not None:
            raise self.error
        return self.result


class GeneratorClient:
    def __init__(self, python, args=(), env=None, hello_timeout=120.0):
        self.python = str(python)
        self.args = list(args)
        self.env = env
        self.hello_timeout = hello_timeout
        self.process = None
        self.info = None  # the hello event of the running process
        self._pending = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._stderr = collections.deque(maxlen=40)

    # ---------------------------------------------------------------------------------- lifecycle
    @property
    def alive(self):
        return self.process is not None and self.process.poll() is None

    def start(self):
        """Start the process (if needed) and check its protocol version; returns the hello event."""
        if self.alive:
            return self.info
        if not Path(self.python).exists():
            raise GeneratorError(f"the generator Python {self.python} does not exist; choose one with torch in "
                                 f"the add-on preferences", "model_unavailable")
        env = dict(os.environ if self.env is None else self.env)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(EXTENSION_ROOT), env.get("PYTHONPATH")]))
        env.setdefault("HF_HUB_OFFLINE", "1")
        env.setdefault("TRANSFORMERS_OFFLINE", "1")
        self._stderr.clear()
        self.process = subprocess.Popen([self.python, "-m", "server", *self.args], cwd=str(EXTENSION_ROOT),
                                        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, bufsize=0)
        threading.Thread(target=self._read_stdout, args=(self.process,), daemon=True).start()
        threading.Thread(target=self._read_stderr, args=(self.process,), daemon=True).start()
        hello = self._send("hello", {})
        try:
            self.info = hello.wait(self.hello_timeout)
        except GeneratorError:
            self.kill()
            raise
        if self.info.get("protocol") != protocol.VERSION:
            self.kill()
            raise GeneratorError(f"the generator speaks protocol {self.info.get('protocol')}, this extension "
                                 f"{protocol.VERSION}: update the extension and its generator together", "bad_request")
        return self.info

    def stop(self, timeout=10.0):
        """Ask the process to shut down; kill it if it does not."""
        if not self.alive:
            return
        try:
            self._send("shutdown", {}).wait(timeout)
            self.process.wait(timeout)
        except (GeneratorError, subprocess.TimeoutExpired):
            self.kill()

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    # ----------------------------------------------------------------------------------- requests
    def request(self, op, on_progress=None, on_result=None, on_error=None, **fields):
        """Send a request, starting the process first if it is not running."""
        self.start()
        return self._send(op, fields, on_progress, on_result, on_error)

    def generate(self, prompt, **fields):
        return self.request("generate", prompt=prompt, **fields)

    def react(self, prompt, given_positions, **fields):
        return self.request("react", prompt=prompt, given=protocol.encode_array(given_positions), **fields)

    def inpaint(self, prompt, motion_positions, start_frame, end_frame, persons=(0, 1), **fields):
        return self.request("inpaint", prompt=prompt, motion=protocol.encode_array(motion_positions),
                            start_frame=start_frame, end_frame=end_frame, persons=list(persons), **fields)

    def cancel(self, request):
        if self.alive:
            return self._send("cancel", {"target": request.id if isinstance(request, Request) else request})
        return None

    def release(self):
        """Unload the model (the process stays up, warm imports kept); frees GPU memory."""
        if self.alive:
            return self._send("release", {}).wait(60)
        return None

    def _send(self, op, fields, on_progress=None, on_result=None, on_error=None):
        request_id = f"{op}-{next(self._ids)}"
        req = Request(request_id, op, on_progress, on_result, on_error)
        line = json.dumps({"op": op, "id": request_id, **fields}, allow_nan=False) + "\n"
        with self._lock:
            self._pending[request_id] = req
        try:
            self.process.stdin.write(line.encode("utf-8"))
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, AttributeError):
            self._process_died(self.process)
        return req

    # ------------------------------------------------------------------------------------ readers
    def _read_stdout(self, process):
        for raw in process.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                self._stderr.append(f"(unparsable output) {raw[:200]!r}")
                continue
            with self._lock:
                req = self._pending.get(event.get("id"))
                if req is not None and event.get("event") != "progress":
                    del self._pending[req.id]
            if req is not None:
                req._deliver(event)
        self._process_died(process)

    def _read_stderr(self, process):
        for raw in process.stderr:
            self._stderr.append(raw.decode("utf-8", "replace").rstrip())

    def _process_died(self, process):
        code = process.wait() if process is not None else None
        time.sleep(0.05)  # let the stderr reader catch the last lines
        tail = "\n".join(list(self._stderr)[-8:])
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        for req in pending:
            req._deliver({"event": "error", "id": req.id, "code": "internal",
                          "message": f"the generator process exited (code {code}) during the request"
                                     + (f":\n{tail}" if tail else "")})

    @property
    def stderr_tail(self):
        return list(self._stderr)


def decode_motion(result):
    """A result event -> list over candidates of (positions (2, T, 22, 3), contacts (2, T, 4)) arrays."""
    out = []
    for candidate in result["candidates"]:
        positions, contacts = [], []
        for person in candidate["persons"]:
            positions.append(protocol.decode_array(person["positions"], "positions", (None, 22, 3), 10 ** 7))
            contacts.append(protocol.decode_array(person["contacts"], "contacts", (None, 4), 10 ** 6))
        out.append((np.stack(positions), np.stack(contacts)))
    return out

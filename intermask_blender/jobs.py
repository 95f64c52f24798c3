"""A request in flight from the panel: its progress, and its outcome applied on the main thread.

Blender polls `Job.poll()` from a modal operator's timer (or `Job.finish()` blocks, in background mode).
Nothing in the scene changes until the result is applied, so a cancelled or failed job leaves the scene
exactly as it was."""

import threading

from .client import GeneratorError


class Job:
    def __init__(self, plan, client):
        self.plan, self.client = plan, client
        self.step = self.steps = 0
        self.state = "running"  # -> done | failed | cancelled
        self.error = None
        self.takes = []
        self.understood_as = None  # the training caption the model answered the prompt as, if it says
        self.reader_note = None  # why the generator read the prompt without its prompt reader, if it did
        self.request = None
        self._cancel_asked = False
        # the first request starts the generator (seconds of imports): off the main thread
        self._sender = threading.Thread(target=self._send, daemon=True)
        self._sender.start()

    def _send(self):
        try:
            self.request = self.plan.request(self.client, on_progress=None)
        except GeneratorError as e:
            self.error = str(e)
        if self._cancel_asked and self.request is not None:
            self.client.cancel(self.request)

    @property
    def fraction(self):
        return self.step / self.steps if self.steps else 0.0

    def poll(self):
        """Take the events that arrived; apply a result. Returns the state."""
        if self.state != "running" or self._sender.is_alive():
            return self.state
        if self.request is None:
            self.state = "cancelled" if self._cancel_asked else "failed"
            return self.state
        for event in self.request.events():
            kind = event.get("event")
            if kind == "progress":
                self.step, self.steps = event["step"], event["steps"]
            elif kind == "result" and self.state == "running":
                try:
                    self.takes = self.plan.apply(event)
                    self.understood_as = event.get("understood_as")
                    self.reader_note = event.get("reader_note")
                    self.state = "done"
                except Exception as e:  # noqa: BLE001 - reported to the user, never a half-applied silence
                    self.state, self.error = "failed", f"applying the result failed: {e}"
            elif kind == "error":
                code = event.get("code", "internal")
                self.state = "cancelled" if code == "cancelled" else "failed"
                self.error = event.get("message", "unknown error")
                if event.get("allowed") is not None:
                    self.error += f" (allowed: {event['allowed']})"
        return self.state

    def finish(self, timeout=3600):
        """Block until the outcome (background mode): wait for the request, then poll it."""
        self._sender.join(timeout)
        if self.request is not None:
            try:
                self.request.wait(timeout)
            except GeneratorError:
                pass  # the error event is in the queue too; poll() reports it
        return self.poll()

    def cancel(self):
        self._cancel_asked = True
        if self.state == "running" and self.request is not None:
            self.client.cancel(self.request)

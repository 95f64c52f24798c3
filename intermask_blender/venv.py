"""Creating the generator's Python environment from the preferences: a venv with the pinned generator
requirements and the prompt reader's weights (`server/reader.py`), built in a background thread whose
progress and outcome the UI polls (standard library)."""

import subprocess
import sys
import threading
from pathlib import Path

from .client import EXTENSION_ROOT
from .generator import REQUIREMENTS, venv_python


class EnvBuilder:
    def __init__(self, folder, requirements=REQUIREMENTS, python=None, reader=True):
        """`reader`: also prepare the prompt reader (a 400 MB download) once the packages are in."""
        self.folder, self.requirements, self.reader = Path(folder), Path(requirements), reader
        self.python = python or sys.executable
        self.lines = []
        self.stage = "waiting"
        self.state = "running"  # -> done | failed
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def join(self, timeout=None):
        self._thread.join(timeout)
        return self.state

    @property
    def outcome(self):
        """A line for the user: where the environment is, or why it failed (pip's last words)."""
        if self.state == "done":
            return f"Generator environment ready: {venv_python(self.folder)}"
        if self.state == "failed":
            tail = " | ".join(line for line in self.lines[-3:] if line)
            return f"Creating the generator environment failed while {self.stage}: {tail}"
        return f"{self.stage} ..."

    def _step(self, stage, command):
        self.stage = stage
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   cwd=str(EXTENSION_ROOT))
        for line in process.stdout:
            self.lines.append(line.rstrip())
        return process.wait() == 0

    def _run(self):
        python = str(venv_python(self.folder))
        ok = self._step("creating the environment", [self.python, "-m", "venv", str(self.folder)]) and \
            self._step("installing torch and the model's packages",
                       [python, "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off",
                        "-r", str(self.requirements)]) and \
            (not self.reader or self._step("preparing the prompt reader", [python, "-m", "server.reader", "prepare"]))
        self.stage = "done" if ok else self.stage
        self.state = "done" if ok else "failed"

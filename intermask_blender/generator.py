"""The one generator process of a Blender session, configured from the add-on preferences: which Python
runs it, on which device, with which model. Started lazily on the first request; restarted when the
settings change. Standard library only (runs in Blender's Python)."""

import importlib.util
import os
import sys
from pathlib import Path

from .addon_id import ADDON_ID
from .client import GeneratorClient, GeneratorError

VENV_NAME = "generator-venv"
REQUIREMENTS = Path(__file__).resolve().parents[1] / "server" / "requirements.txt"

_client = None
_key = None


def venv_python(folder):
    folder = Path(folder)
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def default_venv():
    """Where the preferences' button creates the generator environment: the extension's user folder."""
    import bpy
    if ADDON_ID.startswith("bl_ext."):
        return Path(bpy.utils.extension_path_user(ADDON_ID, create=True)) / VENV_NAME
    return Path(bpy.utils.user_resource("DATAFILES", path="intermask", create=True)) / VENV_NAME


def find_python(chosen=""):
    """The generator's Python: the one chosen in the preferences, else the environment made by the
    preferences' button, else $INTERMASK_PYTHON, else this very Python when it has torch (bpy as a module
    in the project's environment). Raises GeneratorError with what to do when there is none."""
    if chosen:
        path = Path(bpy_abspath(chosen))
        if not path.exists():
            raise GeneratorError(f"the generator Python '{path}' does not exist: choose another one in the "
                                 "add-on preferences", "model_unavailable")
        return path
    for candidate in (venv_python(default_venv()), os.environ.get("INTERMASK_PYTHON")):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    if importlib.util.find_spec("torch") is not None:
        return Path(sys.executable)
    raise GeneratorError("no Python with torch was found for the generator: press 'Create generator "
                         "environment' in the add-on preferences, or choose a Python that has torch",
                         "model_unavailable")


def bpy_abspath(path):
    try:
        import bpy
        return bpy.path.abspath(path)
    except ImportError:
        return path


def server_args(prefs):
    """Command-line arguments of `python -m server` from the preferences."""
    args = ["--device", prefs.device.lower(), "--threads", str(prefs.threads)]
    if prefs.model_source != "EMBEDDED":
        folder = bpy_abspath(prefs.model_path)
        if not folder or not Path(folder).is_dir():
            raise GeneratorError(f"the model folder '{folder}' does not exist: choose one in the add-on "
                                 "preferences or pick the embedded default model", "model_unavailable")
        args += ["--official" if prefs.model_source == "OFFICIAL" else "--model", folder]
    return args


def client(prefs):
    """The session's client for these preferences (a changed setting stops the old process)."""
    global _client, _key
    key = (str(find_python(prefs.generator_python)), tuple(server_args(prefs)))
    if _client is None or key != _key:
        stop()
        _client, _key = GeneratorClient(key[0], list(key[1])), key
    return _client


def current():
    """The client if one exists (running or not), without starting anything."""
    return _client


def status():
    """A line for the panel and the preferences."""
    if _client is None or not _client.alive:
        return "Generator stopped"
    info = _client.info or {}
    return f"Generator running: {info.get('model_id', '?')} on {info.get('device', '?')}"


def release():
    if _client is not None and _client.alive:
        _client.release()


def stop():
    global _client, _key
    if _client is not None:
        _client.stop()
    _client = _key = None

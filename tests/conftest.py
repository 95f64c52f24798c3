"""Test harness: real bpy, hermetic Blender state, shared reference data read in place.

Before bpy is imported anywhere, Blender's user folders are pointed at a temporary directory so tests
never touch the user's config, and model hubs are switched off."""

import atexit
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REFERENCE = SHARED / "reference"

_USER_RESOURCES = tempfile.mkdtemp(prefix="intermask-blender-user-")
atexit.register(shutil.rmtree, _USER_RESOURCES, ignore_errors=True)
os.environ["BLENDER_USER_RESOURCES"] = _USER_RESOURCES
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _load_extension_package():
    """Import the repository root as the package `intermask`, the way Blender loads the extension
    (as `bl_ext.<repo>.intermask`), so the extension's relative imports resolve the same way."""
    if "intermask" in sys.modules:
        return sys.modules["intermask"]
    spec = importlib.util.spec_from_file_location(
        "intermask", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["intermask"] = module
    spec.loader.exec_module(module)
    return module


_load_extension_package()


def reference_file(*parts):
    """A file under ../shared/reference, or skip the test with a clear message when it is absent."""
    path = REFERENCE.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared reference data not found: {path} (clone ../shared beside the repository)")
    return path


class BlenderSession:
    """Real bpy with a factory-fresh empty scene. Classes registered through `register` are unregistered
    at teardown: a class left registered crashes 4.2 and hangs 4.5 at interpreter exit."""

    def __init__(self, bpy):
        self.bpy = bpy
        self._registered = []

    def register(self, cls):
        self.bpy.utils.register_class(cls)
        self._registered.append(cls)
        return cls

    def close(self):
        for cls in reversed(self._registered):
            if getattr(cls, "is_registered", False):
                self.bpy.utils.unregister_class(cls)
        self._registered.clear()


@pytest.fixture
def blender():
    bpy = pytest.importorskip("bpy")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    session = BlenderSession(bpy)
    try:
        yield session
    finally:
        session.close()
        bpy.ops.wm.read_factory_settings(use_empty=True)


def bpy_version_tag():
    import bpy
    return ".".join(map(str, bpy.app.version[:2]))


def pytest_ignore_collect(collection_path, config):
    """With `-m legacy` (the bpy 4.2 environment, which has no torch), skip collecting test files that
    hold no legacy test instead of importing them."""
    if config.option.markexpr == "legacy" and collection_path.suffix == ".py" \
            and collection_path.name.startswith("test_"):
        return "pytest.mark.legacy" not in collection_path.read_text()
    return None


@pytest.fixture(scope="session")
def repo_root():
    return ROOT

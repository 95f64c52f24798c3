"""The extension as Blender sees it: the manifest passes Blender's own validator, the built zip holds
only what users need, and it installs, enables and disables in real bpy with a clean interpreter exit."""

import importlib.util
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.legacy


def blender_ext_script():
    """Blender's extension CLI, as shipped inside the installed bpy wheel (never vendored)."""
    spec = importlib.util.find_spec("bpy")
    if spec is None:
        pytest.skip("bpy is not installed in this environment")
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob(
        "*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
    assert found, "blender_ext.py not found inside the bpy wheel"
    return found[0]


def run_blender_ext(*args):
    return subprocess.run([sys.executable, str(blender_ext_script()), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    result = run_blender_ext("build", "--source-dir", ROOT, "--output-dir", out)
    assert result.returncode == 0, result.stdout + result.stderr
    (zip_path,) = out.glob("*.zip")
    return zip_path


def test_manifest_passes_blenders_validator():
    result = run_blender_ext("validate", ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_validator_rejects_a_broken_manifest(tmp_path):
    """The validator really checks: a tagline ending in a period is refused."""
    manifest = (ROOT / "blender_manifest.toml").read_text()
    tagline = next(line for line in manifest.splitlines() if line.startswith("tagline"))
    (tmp_path / "blender_manifest.toml").write_text(manifest.replace(tagline, tagline[:-1] + '."'))
    (tmp_path / "__init__.py").write_text("")
    result = run_blender_ext("validate", tmp_path)
    assert result.returncode != 0


def test_built_zip_holds_the_extension_and_nothing_else(built_zip):
    names = zipfile.ZipFile(built_zip).namelist()
    for needed in ("__init__.py", "blender_manifest.toml", "intermask_blender/addon.py",
                   "server/motion/features.py", "LICENSE"):
        assert needed in names, f"{needed} missing from {built_zip.name}"
    for name in names:
        top = name.split("/")[0]
        assert top not in {"tests", "bench", ".venv", ".venv-bpy42", ".git", ".ci", "dist", "runs"}, name
        assert "__pycache__" not in name, name
    run = run_blender_ext("validate", built_zip)
    assert run.returncode == 0, run.stdout + run.stderr


INSTALL_SCRIPT = textwrap.dedent("""
    import sys
    import bpy
    import addon_utils  # importable only once bpy is

    zip_path = sys.argv[1]
    module = "bl_ext.user_default.intermask"
    result = bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True)
    assert result == {"FINISHED"}, result
    assert module in bpy.context.preferences.addons, list(bpy.context.preferences.addons.keys())
    prefs = bpy.context.preferences.addons[module].preferences
    assert prefs is not None and prefs.device == "AUTO", "preferences class not registered"
    prefs.threads = 2
    if len(sys.argv) > 2:  # a generator Python with torch: generate through the installed extension
        prefs.generator_python = sys.argv[2]
        assert bpy.ops.intermask.create_rigs() == {"FINISHED"}
        s = bpy.context.scene.intermask
        s.prompt, s.seconds, s.steps = "two people hug", 1.5, 2
        assert bpy.ops.intermask.generate() == {"FINISHED"}, s.last_error
        for rig in (s.rig_a, s.rig_b):
            assert rig.animation_data.action.name.startswith("IM two people hug"), rig.animation_data.action
        print("EXTENSION-GENERATE-OK")
    addon_utils.disable(module, default_set=True)
    assert module not in bpy.context.preferences.addons
    print("EXTENSION-CYCLE-OK", bpy.app.version_string)
""")


def test_zip_installs_enables_disables_and_exits_cleanly(built_zip, tmp_path):
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    script = tmp_path / "cycle.py"
    script.write_text(INSTALL_SCRIPT)
    python = ROOT / ".venv" / "bin" / "python"  # the generator's Python (the bpy 4.2 environment has no torch)
    extra = [str(python)] if python.exists() else []
    result = subprocess.run([sys.executable, str(script), str(built_zip), *extra], env=env,
                            capture_output=True, text=True, timeout=300)
    assert "EXTENSION-CYCLE-OK" in result.stdout, result.stdout + result.stderr
    assert not extra or "EXTENSION-GENERATE-OK" in result.stdout, result.stdout + result.stderr
    assert result.returncode == 0, f"interpreter exit code {result.returncode}\n{result.stderr}"
    assert (tmp_path / "user").exists(), "Blender did not use the temporary user folder"

"""Batch baking end to end: the real bpy module, the real generator with the embedded default model, the
command line a render node runs. FBX and BVH outputs are read back with Blender's own importers."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT

EMBEDDED = ROOT / "server" / "weights" / "default" / "config.json"
BOOT = """
import importlib.util, sys
from pathlib import Path
root = Path(sys.argv.pop(1))
spec = importlib.util.spec_from_file_location("intermask", root / "__init__.py", submodule_search_locations=[str(root)])
sys.modules["intermask"] = m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
from intermask.intermask_blender.batch import main
sys.exit(main(sys.argv[1:]))
"""

pytestmark = pytest.mark.skipif(not EMBEDDED.exists(), reason="the embedded default model is not in this checkout")


def prompts(tmp_path, lines, name="prompts.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def items(n, seconds=1.5):
    return [json.dumps({"prompt": p, "seconds": seconds, "seed": k}) for k, p in enumerate(
        ["two people shake hands", "one pushes the other", "they hug", "a high five", "one waves, the other bows",
         "they bow to each other"][:n])]


def bake(path, out, *args, wait=True):
    pytest.importorskip("bpy")
    command = [sys.executable, "-c", BOOT, str(ROOT), str(path), "--out", str(out), "--steps", "2", *args]
    env = dict(os.environ, OMP_NUM_THREADS="2")
    if not wait:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    return subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)


def test_bake_writes_every_output_reports_bad_lines_and_reimports(tmp_path, blender):
    path = prompts(tmp_path, items(2) + ['{"prompt": "hug", "seconds": "long"}'])
    run = bake(path, tmp_path / "out")
    assert run.returncode == 1, run.stdout + run.stderr  # one invalid line -> a non-zero exit
    assert "prompts.jsonl line 3: 'seconds' must be a number" in run.stdout
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert [e["line"] for e in manifest["items"]] == [1, 2] and manifest["model_hash"]
    assert manifest["errors"] and manifest["items"][0]["physics"]["foot_skate"] >= 0
    entry = manifest["items"][0]
    assert "hands" in entry["understood_as"]  # "two people shake hands", as the model read it
    folder = tmp_path / "out" / entry["name"]
    assert not list(folder.glob(".*partial*")), "temporary files left behind"
    bpy = blender.bpy
    frames = entry["frames"]
    for tag in "AB":
        bpy.ops.wm.read_factory_settings(use_empty=True)
        bpy.ops.import_scene.fbx(filepath=str(folder / entry["files"][f"fbx_{tag}"]))
        (arm,) = [o for o in bpy.data.objects if o.type == "ARMATURE"]
        assert len(arm.data.bones) == 22
        start, end = arm.animation_data.action.frame_range
        assert round(end - start) + 1 == frames
        bpy.ops.wm.read_factory_settings(use_empty=True)
        bpy.ops.import_anim.bvh(filepath=str(folder / entry["files"][f"bvh_{tag}"]))
        (arm,) = [o for o in bpy.data.objects if o.type == "ARMATURE"]
        start, end = arm.animation_data.action.frame_range
        assert len(arm.data.bones) == 22 and round(end - start) + 1 == frames
    bpy.ops.wm.open_mainfile(filepath=str(folder / entry["files"]["blend"]))
    keyed = [o for o in bpy.data.objects if o.type == "ARMATURE" and o.animation_data and o.animation_data.action]
    assert len(keyed) == 2
    assert (folder / entry["files"]["movie"]).read_bytes()[37:41] == b"acTL"  # an animated PNG


def test_killed_run_resumes_with_only_the_remaining_items(tmp_path):
    path = prompts(tmp_path, items(4))
    out = tmp_path / "out"
    process = bake(path, out, "--batch", "1", "--formats", "blend", wait=False)
    deadline = time.time() + 600
    while len(list(out.glob("*/item.json"))) < 1 and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("*/item.json")}
    assert 1 <= len(done) < 4
    rerun = bake(path, out, "--batch", "1", "--formats", "blend")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{len(done)} already done, {4 - len(done)} to bake" in rerun.stdout
    assert len(list(out.glob("*/item.json"))) == 4
    for name, mtime in done.items():
        assert (out / name / "item.json").stat().st_mtime_ns == mtime, f"{name} was baked again"


def test_two_shards_together_equal_one_run(tmp_path):
    path = prompts(tmp_path, items(5))
    for shard in ("1/2", "2/2"):
        assert bake(path, tmp_path / "sharded", "--shard", shard, "--formats", "blend").returncode == 0
    assert bake(path, tmp_path / "single", "--formats", "blend").returncode == 0

    def summary(folder):
        data = json.loads((folder / "manifest.json").read_text())
        return [(e["name"], e["prompt"], e["seed"], e["frames"], sorted(e["files"])) for e in data["items"]]
    assert summary(tmp_path / "sharded") == summary(tmp_path / "single") and len(summary(tmp_path / "single")) == 5


def test_template_rigs_at_the_template_frame_rate(tmp_path, blender):
    """With a template .blend, the named armatures are keyed, one key per scene frame at its own rate."""
    bpy = blender.bpy
    from intermask.intermask_blender import builtin_rig
    for name in ("Alice", "Bob"):
        builtin_rig.create(name)
    bpy.context.scene.render.fps = 24
    template = tmp_path / "rigs.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(template))
    path = prompts(tmp_path, ['{"prompt": "they hug", "seconds": 2, "name": "hug"}'])
    run = bake(path, tmp_path / "out", "--template", str(template), "--rig-a", "Bob", "--rig-b", "Alice",
               "--formats", "blend")
    assert run.returncode == 0, run.stdout + run.stderr
    entry = json.loads((tmp_path / "out" / "manifest.json").read_text())["items"][0]
    assert entry["rigs"] == ["Bob", "Alice"]
    bpy.ops.wm.open_mainfile(filepath=str(tmp_path / "out" / "hug" / "hug.blend"))
    start, end = bpy.data.objects["Bob"].animation_data.action.frame_range
    assert abs((end - start + 1) - entry["frames"] * 24 / 30) <= 1
    assert bpy.data.objects["Alice"].animation_data.action.name.startswith("IM they hug (Alice)")

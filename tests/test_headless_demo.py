"""The README's main job end to end on the embedded default model: a prompt -> a .blend with two keyed rigs
and a preview picture. The real generator process, the real model and real bpy, each in its own process
(the job saves a file; a second interpreter opens it, as a user would)."""

import json
import subprocess
import sys
import textwrap

import pytest

from server.engine import EMBEDDED_MODEL

LOADER = textwrap.dedent("""
    import importlib.util, sys
    from pathlib import Path
    root = Path({root!r})
    spec = importlib.util.spec_from_file_location("intermask", root / "__init__.py",
                                                  submodule_search_locations=[str(root)])
    sys.modules["intermask"] = module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
""")

READ_BACK = textwrap.dedent("""
    import json, sys, bpy
    bpy.ops.wm.open_mainfile(filepath=sys.argv[1])
    out = {}
    for obj in bpy.data.objects:
        if obj.type == "ARMATURE":
            action = obj.animation_data.action if obj.animation_data else None
            out[obj.name] = {"action": action.name if action else None,
                             "range": list(action.frame_range) if action else None}
    out["scene"] = [bpy.context.scene.frame_start, bpy.context.scene.frame_end, bpy.context.scene.render.fps,
                    bpy.context.scene.get("intermask_prompt")]
    print("RESULT" + json.dumps(out))
""")


@pytest.mark.skipif(not (EMBEDDED_MODEL / "config.json").exists(), reason="the embedded default model is absent")
def test_prompt_to_blend_with_two_keyed_rigs_and_a_preview(tmp_path, repo_root):
    blend, png = tmp_path / "scene.blend", tmp_path / "scene.png"
    job = LOADER.format(root=str(repo_root)) + textwrap.dedent("""
        from intermask.intermask_blender.headless import main
        main(sys.argv[1:])
    """)
    run = subprocess.run([sys.executable, "-c", job, "two people shake hands", "--out", str(blend),
                          "--seconds", "3", "--seed", "7"], capture_output=True, text=True, timeout=900,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert blend.exists() and not (tmp_path / "scene.partial.blend").exists()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 2000

    read = subprocess.run([sys.executable, "-c", READ_BACK, str(blend)], capture_output=True, text=True,
                          timeout=300)
    assert read.returncode == 0, read.stderr[-3000:]
    result = json.loads(read.stdout.split("RESULT", 1)[1].strip().splitlines()[0])
    start, end, fps, prompt = result.pop("scene")
    assert prompt == "two people shake hands" and fps == 30 and start == 1
    assert end >= 80  # about 3 s at 30 fps, rounded down to whole tokens
    assert set(result) == {"Person A", "Person B"}
    for rig in result.values():
        assert rig["action"] and "shake hands" in rig["action"].lower()
        assert rig["range"][0] == 1 and rig["range"][1] >= end - 1

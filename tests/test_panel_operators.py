"""The extension as an animator uses it: the N-panel's operators in real bpy against the real generator
process running the embedded default model. Generation is synchronous in background mode; the
asynchronous path (what the timer polls) is driven directly through the job it creates."""

import importlib.util
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import ROOT

pytestmark = pytest.mark.legacy

EMBEDDED = ROOT / "server" / "weights" / "default" / "config.json"
FAST = dict(seconds=2.0, steps=3, guidance=2.0)


def generator_python():
    if importlib.util.find_spec("torch") is not None:
        return sys.executable
    python = ROOT / ".venv" / "bin" / "python"  # the bpy 4.2 environment has no torch: use the project's
    if not python.exists():
        pytest.skip("no Python with torch for the generator")
    return str(python)


@pytest.fixture(scope="module")
def ext():
    bpy = pytest.importorskip("bpy")
    if not EMBEDDED.exists():
        pytest.skip("the embedded default model is not in this checkout")
    import intermask
    from intermask.intermask_blender import generator
    from intermask.intermask_blender.ui import operators
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon = bpy.context.preferences.addons.new()
    addon.module = "intermask"  # what addon_utils.enable does, so the preferences resolve
    intermask.register()
    prefs = bpy.context.preferences.addons["intermask"].preferences
    prefs.generator_python, prefs.threads = generator_python(), 2
    try:
        yield bpy, operators, generator
    finally:
        intermask.unregister()
        bpy.context.preferences.addons.remove(addon)
        bpy.ops.wm.read_factory_settings(use_empty=True)


@pytest.fixture
def scene(ext):
    """A scene with two fresh built-in rigs and the panel's settings at fast values."""
    bpy = ext[0]
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj)
    for action in list(bpy.data.actions):
        bpy.data.actions.remove(action)
    s = bpy.context.scene.intermask
    s.takes.clear()
    s.last_error, s.status, s.mode, s.candidates, s.seed, s.as_worded = "", "", "GENERATE", 1, 0, False
    for k, v in FAST.items():
        setattr(s, k, v)
    s.prompt = "two people shake hands"
    assert bpy.ops.intermask.create_rigs() == {"FINISHED"}
    bpy.context.scene.render.fps = 30
    return s


def keys(action, obj):
    from intermask.intermask_blender.actions import action_curves
    out = {}
    for fc in action_curves(action, obj):
        co = np.empty(2 * len(fc.keyframe_points), np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out[(fc.data_path, fc.array_index)] = co
    return out


def evaluated(action, obj, frames):
    from intermask.intermask_blender.actions import action_curves
    return {(fc.data_path, fc.array_index): np.array([fc.evaluate(f) for f in frames])
            for fc in action_curves(action, obj)}


def generate(bpy, s, **settings):
    for k, v in settings.items():
        setattr(s, k, v)
    result = bpy.ops.intermask.generate()
    assert result == {"FINISHED"}, s.last_error
    return s.rig_a.animation_data.action, s.rig_b.animation_data.action


def test_generate_keys_both_rigs_and_candidates_switch(ext, scene):
    bpy = ext[0]
    a, b = generate(bpy, scene, candidates=2)
    assert a is not None and b is not None and a != b
    assert "shake hands" in a.name and "Person A" in a.name
    frames = {len(v) // 2 for v in keys(a, scene.rig_a).values()}
    # every channel keyed on every frame of about 2 s at 30 fps (the model works in 4-frame tokens)
    assert len(frames) == 1 and 52 <= frames.pop() <= 60
    assert len(scene.takes) == 2 and scene.takes[0].action_a == a
    assert bpy.ops.intermask.show_candidate(index=1) == {"FINISHED"} and scene.active_candidate == 1
    assert scene.rig_a.animation_data.action == scene.takes[1].action_a != a
    assert scene.rig_b.animation_data.action == scene.takes[1].action_b != b
    assert bpy.ops.intermask.show_candidate(index=0) == {"FINISHED"}
    assert scene.rig_a.animation_data.action == a


def test_generating_again_stashes_the_previous_action(ext, scene):
    bpy = ext[0]
    first, _ = generate(bpy, scene)
    second, _ = generate(bpy, scene, seed=1)
    assert second != first
    stashed = [st.action for tr in scene.rig_a.animation_data.nla_tracks for st in tr.strips]
    assert first in stashed


def test_react_keys_the_partner_and_leaves_the_lead_untouched(ext, scene):
    bpy = ext[0]
    lead, partner_before = generate(bpy, scene)
    before = keys(lead, scene.rig_a)
    a, b = generate(bpy, scene, mode="REACT", lead="A", range_start=1, range_end=60, prompt="the other one waves back")
    assert a == lead
    after = keys(lead, scene.rig_a)
    assert before.keys() == after.keys()
    for channel in before:
        np.testing.assert_array_equal(before[channel], after[channel])
    assert b != partner_before and b is not None
    assert scene.takes[0].action_a is None and scene.takes[0].action_b == b


def test_regenerate_range_changes_only_inside_it(ext, scene):
    bpy = ext[0]
    bpy.context.scene.frame_start, bpy.context.scene.frame_end = 1, 60
    old_a, old_b = generate(bpy, scene)
    outside = np.r_[np.arange(1, 20), np.arange(41, 61)]
    inside = np.arange(26, 36)
    was = [evaluated(act, obj, np.r_[outside, inside]) for act, obj in ((old_a, scene.rig_a), (old_b, scene.rig_b))]
    new_a, new_b = generate(bpy, scene, mode="REGENERATE", regenerate_rigs="BOTH", range_start=20, range_end=40,
                            seed=5, prompt="they push each other")
    assert new_a != old_a and new_b != old_b
    assert "understood as '" in scene.status and "push" in scene.status.split("understood as")[1]
    generate(bpy, scene, mode="GENERATE", prompt="they push each other", as_worded=True)
    assert "understood as" not in scene.status  # answered as worded
    n = len(outside)
    for before, act, obj in zip(was, (new_a, new_b), (scene.rig_a, scene.rig_b)):
        now = evaluated(act, obj, np.r_[outside, inside])
        changed = 0
        for channel, values in before.items():
            np.testing.assert_allclose(now[channel][:n], values[:n], atol=1e-6, err_msg=str(channel))
            changed += not np.allclose(now[channel][n:], values[n:], atol=1e-4)
        assert changed > 10, "the range was not regenerated"
    assert old_a in [st.action for tr in scene.rig_a.animation_data.nla_tracks for st in tr.strips]


def _wait_for_progress(job, timeout=120):
    end = time.time() + timeout
    while job.poll() == "running" and job.step == 0 and time.time() < end:
        time.sleep(0.05)
    assert job.state == "running" and job.step > 0, (job.state, job.error)


def test_cancel_mid_generation_leaves_the_scene_as_it_was(ext, scene):
    bpy, operators, _ = ext
    actions_before = set(bpy.data.actions.keys())
    scene.steps, scene.seconds = 60, 10.0
    job = operators.start_job(bpy.context)
    _wait_for_progress(job)
    job.cancel()
    assert job.finish(timeout=120) == "cancelled"
    level, message = operators.finish_job(bpy.context, job)
    assert level == "INFO" and "unchanged" in message
    assert set(bpy.data.actions.keys()) == actions_before
    assert scene.rig_a.animation_data is None or scene.rig_a.animation_data.action is None


def test_killed_generator_is_reported_and_the_next_generate_works(ext, scene):
    bpy, operators, generator = ext
    scene.steps, scene.seconds = 60, 10.0
    job = operators.start_job(bpy.context)
    _wait_for_progress(job)
    generator.current().process.kill()
    assert job.finish(timeout=60) == "failed"
    level, message = operators.finish_job(bpy.context, job)
    assert level == "ERROR" and "exited" in message and scene.last_error == message
    a, b = generate(bpy, scene, **FAST)
    assert a is not None and b is not None


def refused(bpy, scene, *needles):
    """The operator reports an error (bpy.ops raises it in background mode) and the panel shows it."""
    with pytest.raises(RuntimeError) as error:
        bpy.ops.intermask.generate()
    for needle in needles:
        assert needle in str(error.value) and needle in scene.last_error, (needle, scene.last_error)


def test_bad_inputs_are_refused_with_a_clear_message(ext, scene):
    bpy = ext[0]
    actions_before = set(bpy.data.actions.keys())
    scene.prompt = "   "
    refused(bpy, scene, "type a prompt")
    scene.prompt = "x" * 1001
    refused(bpy, scene, "1001 characters")
    scene.prompt = "wave"
    arm = bpy.data.armatures.new("Stick")
    stick = bpy.data.objects.new("Stick", arm)
    bpy.context.scene.collection.objects.link(stick)
    bpy.context.view_layer.objects.active = stick
    bpy.ops.object.mode_set(mode="EDIT")
    arm.edit_bones.new("Hips").tail = (0, 0, 0.2)
    bpy.ops.object.mode_set(mode="OBJECT")
    scene.rig_b = stick
    refused(bpy, scene, "rig B (Stick)", "left_knee")
    scene.rig_b = scene.rig_a
    refused(bpy, scene, "two different armatures")
    assert set(bpy.data.actions.keys()) == actions_before


class StandIn:
    """A stand-in for bpy.types.UILayout that records what a panel draws (real drawing segfaults headless)."""

    def __init__(self, log):
        self.log = log
        self.scale_y = 1.0

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.log.append((name, args, kwargs))
            return StandIn(self.log) if name in ("row", "column", "box", "split", "grid_flow", "operator") else None
        return call


def draw(ext):
    bpy, _, _ = ext
    from intermask.intermask_blender.ui.panel import INTERMASK_PT_panel
    log = []
    INTERMASK_PT_panel.draw(SimpleNamespace(layout=StandIn(log)), bpy.context)
    return log


def labels(log):
    return [kw.get("text", "") for name, _, kw in log if name in ("label", "progress")]


def operators_drawn(log):
    return [args[0] for name, args, _ in log if name == "operator"]


@pytest.mark.parametrize("mode", ["GENERATE", "REACT", "REGENERATE"])
def test_panel_draws_every_mode(ext, scene, mode):
    scene.mode = mode
    log = draw(ext)
    props = [args[1] for name, args, _ in log if name == "prop"]
    assert "prompt" in props and "rig_a" in props and "seed" in props
    assert ("range_start" in props) == (mode != "GENERATE")
    assert "intermask.generate" in operators_drawn(log) and "intermask.cancel" not in operators_drawn(log)


def test_panel_draws_progress_error_and_candidates(ext, scene):
    scene.running, scene.progress, scene.status = True, 40.0, "Sampling step 8/20"
    scene.last_error = "the generator process exited (code -9) during the request " * 2
    scene.takes.add().label = "#1"
    try:
        log = draw(ext)
    finally:
        scene.running = False
    assert "intermask.cancel" in operators_drawn(log) and "intermask.generate" not in operators_drawn(log)
    assert any("Sampling step 8/20" in t for t in labels(log))
    assert sum("exited" in t or "request" in t for t in labels(log)) >= 2  # wrapped over lines
    assert "intermask.show_candidate" in operators_drawn(log)


def test_preferences_draw_and_the_environment_builder(ext, tmp_path):
    """The preferences draw their status and buttons; the environment builder makes a venv and reports
    pip's own words when an install fails."""
    bpy = ext[0]
    from intermask.intermask_blender.venv import EnvBuilder
    prefs = bpy.context.preferences.addons["intermask"].preferences
    log = []
    type(prefs).draw(SimpleNamespace(layout=StandIn(log), model_source="OURS", env_status="ready"), bpy.context)
    assert {"intermask.create_generator_env", "intermask.generator_start", "intermask.release"} <= \
        set(operators_drawn(log))
    assert any("model_path" == args[1] for name, args, _ in log if name == "prop")
    good = tmp_path / "ok.txt"
    good.write_text("# nothing to install\n")
    built = EnvBuilder(tmp_path / "env", good, reader=False).start()
    assert built.join(300) == "done" and "ready" in built.outcome
    bad = tmp_path / "bad.txt"
    bad.write_text("this is not == a requirement\n")
    failed = EnvBuilder(tmp_path / "env", bad, reader=False).start()
    assert failed.join(300) == "failed" and "installing" in failed.outcome and "requirement" in failed.outcome.lower()


def test_the_batch_command_is_registered_for_blender_command_line(ext):
    """`blender -b -c intermask_bake ...` exists once the extension is enabled (4.2+), and its handler
    runs the batch job: a missing prompts file is a usage error (exit status 2), not a traceback."""
    from intermask.intermask_blender import addon
    assert addon._cli is not None
    with pytest.raises(SystemExit) as stop:
        addon.bake_command(["/nonexistent/prompts.jsonl", "--out", "/tmp/intermask-nothing"])
    assert stop.value.code == 2


def test_the_status_line_says_how_the_prompt_was_read(ext):
    """The caption a prompt was answered as (unless it is the prompt), and a warning where the generator read
    it without its prompt reader."""
    from intermask.intermask_blender.ui.operators import understood

    def job(reading, note=None, prompt="friends greet with a hug"):
        return SimpleNamespace(understood_as=reading, reader_note=note, plan=SimpleNamespace(prompt=prompt))
    assert understood(job("one person hugs the other.")) == ", understood as 'one person hugs the other.'"
    assert understood(job("Two people hug.", prompt="two people hug")) == ""
    assert understood(job(None)) == ""
    warned = understood(job("one person hugs the other.", "the prompt reader is not prepared"))
    assert warned.startswith(", understood as") and warned.endswith("(read without the prompt reader: "
                                                                    "the prompt reader is not prepared)")

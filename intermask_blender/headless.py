"""The main job without a user interface: a prompt -> a .blend with two keyed rigs, plus a preview picture.

Runs in any Python that has `bpy` (Blender as a module) and starts the generator process with a Python
that has torch (by default the same one). Used by `./run.sh demo`."""

import argparse
import sys
import time
from pathlib import Path

from ..server.motion import axes
from . import bake, builtin_rig
from .client import GeneratorClient, decode_motion
from .modes import scene_fps, solve_pair
from .preview import contact_sheet, write_png
from .rig import read_rig

HEIGHTS = (1.78, 1.66)  # metres: two built-in rigs of different heights


def generate_positions(client, prompt, seconds, seed, log=print):
    """Ask the generator for one candidate -> (positions (2, T, 22, 3), contacts (2, T, 4), result event)."""
    started = time.perf_counter()
    last = [-1]  # progress events repeat a step when requests are batched

    def progress(step, steps):
        if step != last[0]:
            last[0] = step
            log(f"  sampling step {step}/{steps}")

    result = client.generate(prompt, seconds=seconds, seed=seed, on_progress=progress).wait(timeout=1800)
    positions, contacts = decode_motion(result)[0]
    log(f"  generated {positions.shape[1]} frames with {result['model_id']} in "
        f"{time.perf_counter() - started:.1f} s")
    if result.get("understood_as"):
        log(f"  understood as: {result['understood_as']}")
    if result.get("reader_note"):
        log(f"  warning: {result['reader_note']}")
    return positions, contacts, result


def built_in_rigs(fps=30):
    """A fresh scene at `fps` with two built-in rigs of different heights -> the two armature objects."""
    import bpy
    # the factory startup file, but not the factory preferences: under `blender -c intermask_bake` those
    # would disable the very extension that is running
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    bpy.context.scene.render.fps = fps
    return [builtin_rig.create(name, height=h) for name, h in (("Person A", HEIGHTS[0]), ("Person B", HEIGHTS[1]))]


def key_pair(rigs, prompt, positions, contacts, suffix="", stash=True):
    """A new Action on each rig from one generated motion at 30 fps, from the scene's first frame at the
    scene's frame rate; the scene's range is set to cover it. Returns the two Actions."""
    import bpy
    scene = bpy.context.scene
    specs = [read_rig(obj) for obj in rigs]
    solved = solve_pair(positions, contacts, specs, scene_fps(scene))
    made = [bake.bake(obj, spec, s, bake.action_name(prompt, obj.name, suffix=suffix), scene.frame_start, stash)
            for obj, spec, s in zip(rigs, specs, solved)]
    scene.frame_end = scene.frame_start + len(solved[0].positions) - 1
    return made


def build_scene(prompt, positions, contacts):
    """A fresh scene with two built-in rigs keyed with the motion. Returns the two armature objects."""
    import bpy
    rigs = built_in_rigs()
    bpy.context.scene.frame_start = 1
    key_pair(rigs, prompt, positions, contacts)
    bpy.context.scene["intermask_prompt"] = prompt
    return rigs


def run(prompt, out_blend, preview_png, seconds=6.0, seed=0, python=None, generator_args=(), log=print):
    import bpy
    out_blend, preview_png = Path(out_blend).resolve(), Path(preview_png).resolve()
    out_blend.parent.mkdir(parents=True, exist_ok=True)
    preview_png.parent.mkdir(parents=True, exist_ok=True)
    client = GeneratorClient(python or sys.executable, list(generator_args))
    try:
        log("starting the generator ...")
        client.start()
        positions, contacts, _ = generate_positions(client, prompt, seconds, seed, log)
    finally:
        client.stop()
    build_scene(prompt, positions, contacts)
    tmp = out_blend.with_name(out_blend.stem + ".partial.blend")
    bpy.ops.wm.save_as_mainfile(filepath=str(tmp), check_existing=False)
    tmp.replace(out_blend)
    write_png(preview_png, contact_sheet([axes.model_to_blender(p) for p in positions]))
    log(f"wrote {out_blend} and {preview_png}")
    return out_blend, preview_png


def main(argv=None):
    parser = argparse.ArgumentParser(description="prompt -> .blend with two keyed rigs and a preview picture")
    parser.add_argument("prompt")
    parser.add_argument("--out", default="out/interaction.blend")
    parser.add_argument("--preview", help="PNG path (default: next to the .blend)")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--python", help="generator Python with torch (default: this one)")
    parser.add_argument("--model", help="a model folder in our format (default: the embedded model)")
    args = parser.parse_args(argv)
    preview = args.preview or str(Path(args.out).with_suffix(".png"))
    generator_args = ["--model", str(Path(args.model).resolve())] if args.model else []
    run(args.prompt, args.out, preview, args.seconds, args.seed, args.python, generator_args)

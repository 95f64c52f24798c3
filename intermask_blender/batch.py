"""Batch baking for studios: every item of a prompts file -> a .blend with both rigs keyed, FBX and BVH per
rig, a contact sheet and a preview movie, and one manifest.json for the run.

One warm generator serves the whole run and generation is batched across items (requests are queued
together and the generator samples compatible ones in one run). Outputs are written under temporary names
and renamed, an item's `item.json` last: a rerun skips every item that has one, so a killed run resumes
where it stopped. A failing item is reported and the others go on; the exit status says if any failed.

    blender -b [template.blend] -c intermask_bake prompts.jsonl --out DIR [--shard 1/4] ...
    ./run.sh bake prompts.jsonl --out DIR [...]            (the same job through the bpy module)"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from ..server.eval.physics import measure
from ..server.motion import axes, skeleton as sk
from . import actions, batch_input, headless
from .client import GeneratorClient, GeneratorError, decode_motion
from .generator import find_python
from .preview import contact_sheet, movie, write_apng, write_png

FORMATS = ("blend", "fbx", "bvh")


def atomic(path, write):
    """Call write(temporary path), then rename it to `path`: readers never see a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
    write(tmp)
    os.replace(tmp, path)
    return path


def write_json(path, data):
    return atomic(path, lambda p: p.write_text(json.dumps(data, indent=2) + "\n"))


class Baker:
    """Bakes generated motion into a scene and writes one item's files (bpy, main thread)."""

    def __init__(self, out, template=None, rig_names=("", ""), formats=FORMATS):
        self.out, self.template, self.rig_names, self.formats = Path(out), template, rig_names, formats

    def _rigs(self, item):
        """The item's two armatures: from the template (by name, else its first two armatures by name) or
        two built-in rigs in a fresh scene."""
        import bpy
        if self.template is None:
            return headless.built_in_rigs()
        bpy.ops.wm.open_mainfile(filepath=str(self.template))
        names = [item.rig_a or self.rig_names[0], item.rig_b or self.rig_names[1]]
        armatures = sorted(o.name for o in bpy.data.objects if o.type == "ARMATURE")
        names = [n or (armatures[k] if k < len(armatures) else "") for k, n in enumerate(names)]
        rigs = [bpy.data.objects.get(n) for n in names]
        missing = [n or "(none)" for n, r in zip(names, rigs) if r is None or r.type != "ARMATURE"]
        if missing:
            raise ValueError(f"the template has no armature named {', '.join(missing)}; it has {armatures}")
        return rigs

    def bake_item(self, item, result):
        """Everything of one item -> its manifest entry. Raises on failure (nothing marked done)."""
        import bpy
        started = time.perf_counter()
        motions = decode_motion(result)
        rigs = self._rigs(item)
        folder = self.out / item.name
        folder.mkdir(parents=True, exist_ok=True)
        files = {}
        first = headless.key_pair(rigs, item.prompt, *motions[0])
        for k, (positions, contacts) in enumerate(motions[1:], 2):  # more candidates: more actions in the .blend
            for action in headless.key_pair(rigs, item.prompt, positions, contacts, suffix=f" #{k}", stash=False):
                action.use_fake_user = True
        for obj, action in zip(rigs, first):  # the first candidate is the one on the rigs and in the exports
            actions.assign(obj, action)
        baked = time.perf_counter()
        if "blend" in self.formats:
            files["blend"] = atomic(folder / f"{item.name}.blend", lambda p: bpy.ops.wm.save_as_mainfile(
                filepath=str(p), check_existing=False, copy=True)).name
        for tag, obj in zip("AB", rigs):
            if "fbx" in self.formats:
                files[f"fbx_{tag}"] = atomic(folder / f"{item.name}.{tag}.fbx", lambda p: export_fbx(obj, p)).name
            if "bvh" in self.formats:
                files[f"bvh_{tag}"] = atomic(folder / f"{item.name}.{tag}.bvh", lambda p: export_bvh(obj, p)).name
        exported = time.perf_counter()
        world = [axes.model_to_blender(p) for p in motions[0][0]]
        files["contact_sheet"] = atomic(folder / f"{item.name}.sheet.png",
                                        lambda p: write_png(p, contact_sheet(world))).name
        files["movie"] = atomic(folder / f"{item.name}.preview.png",
                                lambda p: write_apng(p, movie(world, every=2), sk.FPS / 2)).name
        physics = measure(motions[0][0][0], motions[0][0][1], sk.FPS)
        return {"name": item.name, "line": item.line, "prompt": item.prompt, "seconds": item.seconds,
                "seed": item.seed, "candidates": item.candidates, "rigs": [r.name for r in rigs],
                "frames": int(motions[0][0].shape[1]), "fps": sk.FPS, "model_id": result["model_id"],
                "understood_as": result.get("understood_as"), "reader_note": result.get("reader_note"),
                "files": files, "physics": physics.as_dict(),
                "timings": {"generate_s": result["timings"]["total_s"], "bake_s": round(baked - started, 3),
                            "export_s": round(exported - baked, 3),
                            "preview_s": round(time.perf_counter() - exported, 3)}}


def _select_only(obj):
    import bpy
    for o in bpy.context.view_layer.objects:
        o.select_set(o == obj)
    bpy.context.view_layer.objects.active = obj


def export_fbx(obj, path):
    import bpy
    _select_only(obj)
    bpy.ops.export_scene.fbx(filepath=str(path), use_selection=True, object_types={"ARMATURE"},
                             add_leaf_bones=False, bake_anim=True, bake_anim_use_nla_strips=False,
                             bake_anim_use_all_actions=False)


def export_bvh(obj, path):
    import bpy
    _select_only(obj)
    scene = bpy.context.scene
    bpy.ops.export_anim.bvh(filepath=str(path), frame_start=scene.frame_start, frame_end=scene.frame_end,
                            root_transform_only=False)


class Progress:
    """One plain line per item with the ETA: readable in a farm manager's log (no carriage returns)."""

    def __init__(self, total, log):
        self.total, self.done, self.log, self.started = total, 0, log, time.perf_counter()

    def step(self, text):
        self.done += 1
        spent = time.perf_counter() - self.started
        eta = spent / self.done * (self.total - self.done)
        self.log(f"[{self.done}/{self.total}] {text}  (elapsed {spent:.0f} s, ETA {eta:.0f} s)")


def manifest(out, run_info):
    """manifest.json from every finished item's item.json (shards writing to one folder all contribute)."""
    items = sorted((json.loads(p.read_text()) for p in Path(out).glob("*/item.json")), key=lambda e: e["line"])
    return write_json(Path(out) / "manifest.json", {**run_info, "items": items})


def run(prompts, out, template=None, shard=(1, 1), formats=FORMATS, rig_names=("", ""), python=None,
        generator_args=(), batch=4, steps=None, log=print):
    """The whole job -> number of failed items (invalid lines included)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    items, errors = batch_input.read(prompts)
    for e in errors:
        log(f"error: {e}")
    mine = batch_input.shard(items, *shard)
    todo = [it for it in mine if not (out / it.name / "item.json").exists()]
    log(f"{len(items)} valid item(s), {len(errors)} invalid; shard {shard[0]}/{shard[1]}: {len(mine)} item(s), "
        f"{len(mine) - len(todo)} already done, {len(todo)} to bake")
    template = Path(template).resolve() if template else None
    baker = Baker(out, template, rig_names, formats)
    failed = len(errors)
    client = GeneratorClient(python or find_python(), list(generator_args))
    progress = Progress(len(todo), log)
    info = {}
    try:
        if todo:
            info = client.start()
        options = {"steps": steps} if steps else {}
        pending = [(it, client.generate(it.prompt, seconds=it.seconds, seed=it.seed, candidates=it.candidates,
                                        **options)) for it in todo[:batch]]
        queue = todo[batch:]
        while pending:
            item, request = pending.pop(0)
            if queue:  # keep `batch` requests queued so the generator can batch them while we bake
                nxt = queue.pop(0)
                pending.append((nxt, client.generate(nxt.prompt, seconds=nxt.seconds, seed=nxt.seed,
                                                     candidates=nxt.candidates, **options)))
            try:
                entry = baker.bake_item(item, request.wait(3600))
                write_json(out / item.name / "item.json", entry)
                progress.step(f"{item.name}: done")
            except (GeneratorError, ValueError, RuntimeError, OSError) as e:
                failed += 1
                progress.step(f"{item.name}: FAILED: {e}")
    finally:
        client.stop()
    manifest(out, {"prompts": str(Path(prompts).resolve()), "template": str(template) if template else None,
                   "model_id": info.get("model_id"), "model_hash": info.get("model_hash"),
                   "errors": errors, "formats": list(formats)})
    log(f"finished: {len(todo) - (failed - len(errors))} baked, {failed} failed; manifest: {out / 'manifest.json'}")
    return failed


def parse_shard(text):
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes i/n, for example 2/4; got {text!r}") from None
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"--shard {text}: i must be 1 to n")
    return index, count


def parser():
    p = argparse.ArgumentParser(prog="intermask_bake", description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("prompts", help="a .jsonl or .csv file of items")
    p.add_argument("--out", required=True, help="output folder (one sub-folder per item)")
    p.add_argument("--template", help="a .blend holding the rigs (default: the open file under blender -b, "
                                      "else two built-in rigs)")
    p.add_argument("--rig-a", default="", help="armature name in the template for person A")
    p.add_argument("--rig-b", default="", help="armature name in the template for person B")
    p.add_argument("--shard", type=parse_shard, default=(1, 1), help="i/n: bake every n-th item from the i-th")
    p.add_argument("--formats", default=",".join(FORMATS), help="any of blend,fbx,bvh (comma separated)")
    p.add_argument("--batch", type=int, default=4, help="requests queued together for batched generation")
    p.add_argument("--steps", type=int, help="sampling steps (default: the generator's)")
    p.add_argument("--python", help="the generator's Python with torch (default: as the extension finds it)")
    p.add_argument("--model", help="a model folder in our format (default: the embedded model)")
    return p


def main(argv=None, open_file=None):
    """CLI entry (bpy module and `blender -c intermask_bake`) -> exit status."""
    args = parser().parse_args(argv)
    if not Path(args.prompts).is_file():
        parser().error(f"the prompts file {args.prompts} does not exist")
    formats = tuple(f for f in args.formats.split(",") if f)
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        parser().error(f"unknown format(s) {bad}; choose from {FORMATS}")
    generator_args = ["--model", str(Path(args.model).resolve())] if args.model else []
    failed = run(args.prompts, args.out, args.template or open_file, args.shard, formats, (args.rig_a, args.rig_b),
                 args.python, generator_args, args.batch, args.steps)
    return 1 if failed else 0

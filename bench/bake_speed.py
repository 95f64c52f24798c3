"""Solve + bake of two rigs x 300 frames, our bulk path against per-key `keyframe_insert`, in one run:
the key writing alone (the same solved values keyed both ways) and the whole job (solve included in both).

    .venv/bin/python bench/bake_speed.py [--repeats 5]
"""

import argparse
import gc
import os
import sys
import time

from common import ROOT, load_extension_package, report, scratch_dir

if "BLENDER_USER_RESOURCES" not in os.environ:  # a throwaway Blender config, never the user's
    os.environ["BLENDER_USER_RESOURCES"] = str(scratch_dir("intermask-bench-"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frames", type=int, default=300)
    args = parser.parse_args()
    import bpy
    import numpy as np
    load_extension_package()
    sys.path.insert(0, str(ROOT / "tests"))
    from motion_samples import random_person
    from intermask.intermask_blender import bake, builtin_rig, retarget, rig as R

    rng = np.random.default_rng(0)
    sources = [random_person(rng, T=args.frames)[0] for _ in range(2)]
    contacts = [np.zeros((args.frames, 4), np.float32)] * 2

    def scene():
        bpy.ops.wm.read_factory_settings(use_empty=True)
        rigs = [builtin_rig.create("A", height=1.6), builtin_rig.create("B", height=1.9)]
        return rigs, [R.read_rig(o) for o in rigs]

    def solve(specs):
        return retarget.solve(sources, contacts, specs)

    def bulk_keys(rigs, specs, solutions):
        for obj, spec, solved in zip(rigs, specs, solutions):
            bake.bake(obj, spec, solved, "bench")

    def insert_keys(rigs, specs, solutions):
        """The same local channels, then one keyframe_insert per bone channel per frame (the common
        add-on way)."""
        for obj, spec, solved in zip(rigs, specs, solutions):
            quats, locs = retarget.pose_channels(spec, solved)
            obj.animation_data_create().action = bpy.data.actions.new("baseline")
            root = spec.root_driver()
            for k, b in enumerate(spec.keyed_bones()):
                pb = obj.pose.bones[spec.bone_names[b]]
                for t in range(args.frames):
                    pb.rotation_quaternion = quats[t, k]
                    pb.keyframe_insert("rotation_quaternion", frame=t + 1)
                    if b == root:
                        pb.location = locs[t, k]
                        pb.keyframe_insert("location", frame=t + 1)

    print(f"bpy {bpy.app.version_string}: 2 rigs x {args.frames} frames, 22 bones "
          f"({2 * args.frames * (22 * 4 + 3)} keys)")
    solving, fast, slow, fast_all, slow_all = [], [], [], [], []
    for _ in range(args.repeats):  # interleaved so machine noise hits both alike; scene setup not timed
        for keys, times, totals in ((bulk_keys, fast, fast_all), (insert_keys, slow, slow_all)):
            rigs, specs = scene()
            gc.collect()
            gc.disable()  # as timeit does: a collection of the scene's garbage lands on either path at random
            start = time.perf_counter()
            solutions = solve(specs)
            solved_at = time.perf_counter()
            keys(rigs, specs, solutions)
            end = time.perf_counter()
            gc.enable()
            solving.append(solved_at - start)
            times.append(end - solved_at)
            totals.append(end - start)
    report("solve (both paths)", solving)
    a = report("keys: bulk foreach_set (ours)", fast)
    b = report("keys: keyframe_insert (baseline)", slow)
    print(f"ratio, key writing, baseline / ours: {b / a:.1f}x")
    a = report("solve + bulk bake (ours)", fast_all)
    b = report("solve + keyframe_insert (baseline)", slow_all)
    print(f"ratio, whole job, baseline / ours: {b / a:.1f}x")
    bpy.ops.wm.read_factory_settings(use_empty=True)


if __name__ == "__main__":
    main()

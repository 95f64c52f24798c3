"""Batch baking throughput in one run: items per minute of the whole job (generate, bake, export .blend/FBX/
BVH, previews), and batched generation (requests queued together) against one by one, as a ratio.

    .venv/bin/python bench/batch_bake.py [--items 20] [--seconds 4] [--steps 20] [--batch 4]"""

import argparse
import json
import sys
import time

from common import load_extension_package, report, scratch_dir  # also puts the repository on sys.path

PROMPTS = ["two people shake hands", "one pushes the other away", "they hug", "a high five",
           "one waves and the other waves back", "they bow to each other", "one punches, the other dodges",
           "they walk towards each other and stop", "one pulls the other by the hand", "they dance slowly"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()
    load_extension_package()
    from intermask.intermask_blender import batch
    work = scratch_dir("intermask-bench-batch-")
    prompts = work / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": PROMPTS[k % len(PROMPTS)], "seconds": args.seconds, "seed": k})
                               + "\n" for k in range(args.items)))
    quiet = lambda *a: None  # noqa: E731
    print(f"{args.items} items of {args.seconds:g} s, {args.steps} steps, embedded default model, CPU")
    for label, size in (("one by one (batch 1)", 1), (f"batched (batch {args.batch})", args.batch)):
        out = work / f"out-{size}"
        started = time.perf_counter()
        failed = batch.run(prompts, out, batch=size, steps=args.steps, log=quiet)
        spent = time.perf_counter() - started
        entries = json.loads((out / "manifest.json").read_text())["items"]
        generate = [e["timings"]["generate_s"] for e in entries]
        print(f"{label:<24} {len(entries)} items, {failed} failed, {spent:7.1f} s  ->  "
              f"{60 * len(entries) / spent:5.2f} items/min")
        if size == 1:
            baseline = spent
        report(f"  per item: generation latency ({label})", generate)
        report("  per item: bake", [e["timings"]["bake_s"] for e in entries])
        report("  per item: export .blend/FBX/BVH", [e["timings"]["export_s"] for e in entries])
        report("  per item: previews", [e["timings"]["preview_s"] for e in entries])
    print(f"ratio whole job one-by-one / batched: {baseline / spent:.2f}x")


if __name__ == "__main__":
    sys.exit(main())

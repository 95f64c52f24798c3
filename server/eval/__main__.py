"""Evaluate a model on the synthetic domain: generate the 100 held-out prompts, name each result's family
with the recogniser, and compare physical metrics with the corpus's own. Both are reported for the raw
samples and for what the generator process serves (the samples at 30 fps after its clean-up,
`server/motion/cleanup.py`, seen again at the model's frame rate).

    python -m server.eval --model server/weights/default --corpus runs/default/corpus --out report.json

With `--captions heldout-b` or `heldout-c`, the second or third held-out set (`heldout.py`); with
`--captions validation`, one caption each of 96 validation scenes (template wording): the gap between the
held-out and validation top-1 figures is what wording unlike the captions costs.

Or a VQ-VAE alone, before a transformer is trained on it: the recogniser on its reconstructions of the
validation clips (the ceiling of any transformer on it) and its joint errors, from a training run's folder
or an exported model:

    python -m server.eval --vq runs/my-model --corpus runs/default/corpus

The recogniser, an ensemble of five trained from different seeds (`recogniser.py`), is trained on the corpus's
training split the first time and cached next to it. Each member's own top-1 is reported too: their spread
is the judge's noise."""

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..checkpoints import load as load_model
from ..engine import person_features, served_positions
from ..model.sampling import SamplingOptions
from ..motion import contacts, skeleton as sk
from ..motion.features import POSITIONS
from ..pipeline import Pipeline
from ..train import data
from ..train.runs import load_vq, read_stats
from . import physics, reconstruction, recogniser
from .heldout import prompts


def positions(features):
    """(2, T, 262) -> two (T, 22, 3) position arrays."""
    return [f[:, POSITIONS].reshape(-1, sk.N_JOINTS, 3) for f in features]


def physics_of(pairs, families, fps):
    """Mean physical metrics of (p1, p2) position pairs."""
    return physics.summarise([physics.measure(*pair, fps, fam) for pair, fam in zip(pairs, families)])


def recogniser_for(corpus_dir, fps, normaliser, log=print):
    """The corpus's recogniser ensemble: trained on its training split the first time, then read from its
    cache."""
    cache = Path(corpus_dir) / "recognisers.pt"
    if cache.exists():
        return recogniser.load(cache)
    log(f"training the recogniser on the corpus ({len(recogniser.SEEDS)} seeds, a few minutes each) ...")
    judge = recogniser.train_ensemble(data.load("synthetic", corpus_dir, "train", fps), normaliser)
    recogniser.save(judge, cache)
    return judge


def evaluate_vq(path, corpus_dir, fps=None, log=print):
    """The reconstruction report (`reconstruction.report`) of the VQ-VAE in a training run's folder
    (vq_best.pt, stats.npz) or in an exported model."""
    path = Path(path)
    if (path / "vq_best.pt").exists():
        vq, normaliser = load_vq(path), read_stats(path)
        fps = fps or data.synthetic_fps(corpus_dir)
    else:
        model = load_model(path)
        vq, normaliser, fps = model.vq, model.normaliser, model.fps
    val_clips = data.load("synthetic", corpus_dir, "val", fps)
    return {"vq": str(path), **reconstruction.report(vq, normaliser, val_clips,
                                                     recogniser_for(corpus_dir, fps, normaliser, log))}


def validation_prompts(clips, n=96):
    """[(family, caption)] of `n` validation scenes picked at random (seeded), their second caption."""
    pick = np.random.default_rng(0).choice(len(clips), min(n, len(clips)), replace=False)
    return [(clips[i].family, clips[i].captions[1 % len(clips[i].captions)]) for i in pick]


def evaluate(model_dir, corpus_dir, seconds=6.0, seed=0, guidance=None, steps=None, log=print, captions="heldout",
             caption_neighbours=None):
    """Unset guidance and steps take the model's recommended sampling settings (config.json), as the
    generator process does. `captions`: a held-out set ("heldout", "heldout-b", "heldout-c") or
    "validation" scenes' own captions."""
    model = load_model(model_dir)
    fps = model.fps
    val_clips = data.load("synthetic", corpus_dir, "val", fps)
    judge = recogniser_for(corpus_dir, fps, model.normaliser, log)
    val_names = judge.predict([c.features for c in val_clips], model.normaliser)
    corpus_top1 = float(np.mean([p == c.family for p, c in zip(val_names, val_clips)]))

    items = validation_prompts(val_clips) if captions == "validation" else prompts(captions)
    pipeline = Pipeline(model)
    asked = {k: v for k, v in (("guidance", guidance), ("steps", steps), ("caption_neighbours", caption_neighbours))
             if v is not None}
    options = SamplingOptions(**{**model.sampling, **asked})
    started = time.perf_counter()
    generated = []
    for i in range(0, len(items), 16):
        chunk = items[i:i + 16]
        generated += pipeline.generate([p for _, p in chunk], [seconds] * len(chunk),
                                       [seed + i + k for k in range(len(chunk))], options)
    elapsed = time.perf_counter() - started
    rate = sk.FPS // fps
    # served as the generator process serves them: contacts completed for the family each prompt was read as
    understood = [pipeline.understood(p) if options.caption_neighbours else None for _, p in items]
    touches = [contacts.INTENDED.get(u[1]) if u else None for u in understood]
    served = [[p[::rate] for p in served_positions(g, rate, touch=t)] for g, t in zip(generated, touches)]
    families = [fam for fam, _ in items]
    names, member_names = judge.verdicts(generated, model.normaliser)
    served_names, member_served_names = judge.verdicts(
        [np.stack([person_features(p) for p in pair]) for pair in served], model.normaliser)

    def top1(name_list):
        return float(np.mean([n == fam for n, fam in zip(name_list, families)]))

    hits = [n == fam for n, fam in zip(names, families)]
    served_hits = [n == fam for n, fam in zip(served_names, families)]
    served_physics = physics_of(served, families, fps)
    raw_physics = physics_of([positions(g) for g in generated], families, fps)
    corpus_physics = physics_of([positions(c.features) for c in val_clips], [c.family for c in val_clips], fps)

    def ratio(measured):
        return {k: measured[k] / max(corpus_physics[k], 1e-6) for k in measured}

    def per_family(hit_list):
        by_family = {}
        for fam, hit in zip(families, hit_list):
            by_family.setdefault(fam, []).append(hit)
        return {k: float(np.mean(v)) for k, v in sorted(by_family.items())}

    return {
        "model": str(model_dir), "model_id": model.model_id, "fps": fps, "seconds": seconds, "sampling": asdict(options),
        "prompts": len(items), "reader": pipeline.reader and pipeline.reader.name, "top1": top1(names),
        "top1_served": top1(served_names),
        "top1_per_member": [top1(n) for n in member_names],
        "top1_served_per_member": [top1(n) for n in member_served_names],
        "recogniser_top1_on_corpus": corpus_top1,
        "per_family_top1": per_family(hits), "per_family_top1_served": per_family(served_hits),
        "physics_generated": served_physics, "physics_generated_raw": raw_physics, "physics_corpus": corpus_physics,
        "physics_ratio": ratio(served_physics), "physics_ratio_raw": ratio(raw_physics),
        "generation_seconds": elapsed,
        "results": [{"family": fam, "prompt": p, "understood_as": u and list(u), "recognised": n,
                     "recognised_served": m} for (fam, p), u, n, m in zip(items, understood, names, served_names)],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m server.eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="server/weights/default")
    parser.add_argument("--vq", help="evaluate only this VQ-VAE (a training run's folder or a model)")
    parser.add_argument("--corpus", default="runs/default/corpus")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--guidance", type=float, help="default: the model's recommended setting")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--caption-neighbours", type=int,
                        help="caption projection (0: off); default: the model's recommended setting")
    parser.add_argument("--captions", choices=("heldout", "heldout-b", "heldout-c", "validation"), default="heldout",
                        help="100 held-out prompts (set A, the bar's; or set B or C), or 96 validation scenes' own "
                             "(template) captions")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    log = lambda m: print(m, file=sys.stderr)  # noqa: E731
    if args.vq:
        report = evaluate_vq(args.vq, args.corpus, log=log)
        keys = ("top1_on_clips", "top1_on_reconstructions", "joint_error_cm", "pelvis_relative_error_cm")
    else:
        report = evaluate(args.model, args.corpus, args.seconds, args.seed, args.guidance, log=log,
                          captions=args.captions, caption_neighbours=args.caption_neighbours)
        keys = ("model_id", "reader", "top1", "top1_served", "top1_served_per_member", "recogniser_top1_on_corpus",
                "physics_ratio", "physics_ratio_raw")
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    summary = {k: report[k] for k in keys}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()

"""Training commands.

    python -m server.train corpus --out runs/corpus                 # write the synthetic corpus
    python -m server.train vq --source synthetic --data runs/corpus --run runs/my-model
    python -m server.train decoder --source synthetic --data runs/corpus --run runs/my-model   # optional
    python -m server.train transformer --source synthetic --data runs/corpus --run runs/my-model
    python -m server.train refine --source synthetic --data runs/corpus --run runs/my-model    # optional
    python -m server.train export --run runs/my-model --out my-model [--caption-bank --data runs/corpus]
    python -m server.train default                                  # the embedded default, end to end
    python -m server.train default --rehearse --run runs/try --out try-model   # its recipe in miniature

Every stage resumes from its last checkpoint in --run. `torchrun --standalone --nproc_per_node N -m
server.train -- default …` (or any stage) spreads each stage over N GPUs, or N CPU processes; the `--` keeps
torchrun from reading `--run` as its own `--run-path`."""

import argparse
import json
import sys
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path

import torch

from ..checkpoints import LoadedModel, save
from ..model.caption_bank import CaptionBank
from ..model.text import load_text_encoder
from ..model.transformer import MaskTransformer, TransformerConfig
from ..model.vqvae import VQConfig
from ..reader import ReaderMissing, SentenceReader
from ..synth import corpus
from . import data
from .decoder import DecoderTrainConfig, train as train_decoder
from .loop import rank, written_atomically
from .runs import load_vq, normaliser_for, read_stats
from .transformer import TransformerTrainConfig, tokenise, train as train_transformer
from .text_cache import CachedTextEncoder
from .vq import VQTrainConfig, train as train_vq

REPO = Path(__file__).resolve().parents[2]
EMBEDDED = REPO / "server" / "weights" / "default"

# The embedded default: 15 fps (10 s = 37 token steps), a narrow VQ and a 4-layer, 128-wide transformer,
# MiniLM text features. Chosen by measuring training steps on 2 CPU cores (see its model card).
DEFAULT_FPS = 15
DEFAULT_VQ = VQConfig(nb_code=512, code_dim=64, width=64)
DEFAULT_TRANSFORMER = TransformerConfig(
    num_tokens=256, code_dim=64, latent_dim=128, ff_size=256, num_layers=4, num_heads=4, dropout=0.1,
    attention_dropout=0.0, text_dim=384, adapter_layers=1, adapter_heads=6, adapter_ff=768,
    adapter_padding_mask=True, step_unroll=0.0, person_embedding=True)
TEXT_ENCODER = "all-minilm-l6-v2-mean"  # frozen; every model this command trains uses it
DEFAULT_CORPUS = {"train": 4800, "val": 240, "seed": 0}
# Training departs from the paper's recipe where a short CPU budget needs it (measured in the model card):
# the paper's velocity weight (100) and foot weight (500) drown the position terms under gradient clipping,
# so joint positions stay at the mean for the first ~1,000 steps; nearest-code training starts learning at
# once; a pelvis-relative position term keeps the limbs (pelvis-relative error 5.5 cm against 13.2 without
# it). Windows of 64 frames halved the error on whole clips but lowered recognition on reconstructions
# (69 % against 85 %), so the windows stay at 28 frames. A small transformer tolerates a higher learning rate.
# Person codes (not in the paper) let the transformer tell the two persons apart while all their tokens are
# masked: without them its first generation step predicts the same for both (held-out top-1 39 % -> 51 %
# after 500 steps with them).
DEFAULT_VQ_TRAIN = VQTrainConfig(window=28, batch=64, steps=4000, velocity=10.0, foot=50.0, code_temperature=0.0,
                                local=1.0)
DEFAULT_TRANSFORMER_TRAIN = TransformerTrainConfig(steps=6000, lr=5e-4)
DEFAULT_DECODER_TRAIN = DecoderTrainConfig(steps=2000)
# The refinement: the trained transformer continued briefly with noise on its condition vector, so prompts
# worded unlike the captions are answered like the captions near them (held-out top-1 measured in the model card).
DEFAULT_REFINE = {"cond_noise": 0.5}
DEFAULT_REFINE_TRAIN = TransformerTrainConfig(steps=500, lr=1e-4, warmup=50, milestones=(), select_best=False)
# Recommended sampling, written into the exported config.json. Without person codes a small model sampled
# best below the official temperature 1.0 (31-34 % at 1.0, 38-39 % at 0.5); with them it hardly matters
# (57 % at 1.0 and at 0.5), and 0.5 is kept. A prompt is answered as its nearest training caption
# (`caption_bank.py`): held-out top-1 65 % -> 69 % as sampled, template captions unchanged (model card).
DEFAULT_SAMPLING = {"temperature": 0.5, "caption_neighbours": 1}


def write_corpus(out, train, val, seed, fps):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for split, n, s in (("train", train, seed), ("val", val, seed + 1)):
        path = out / f"{split}.npz"
        if not path.exists():
            with written_atomically(path) as tmp:  # under torchrun every rank writes the same corpus
                corpus.write(tmp, corpus.samples(n, s), fps)
            if rank() == 0:
                print(f"wrote {n} scenes to {path}", file=sys.stderr)


def run_vq(args, vq_cfg, train_cfg):
    train_clips = data.load(args.source, args.data, "train", args.fps)
    val_clips = data.load(args.source, args.data, "val", args.fps)
    normaliser = normaliser_for(args.run, train_clips)
    return train_vq(vq_cfg, train_cfg, train_clips, val_clips, normaliser, Path(args.run), args.device)


def run_decoder(args, train_cfg):
    train_clips = data.load(args.source, args.data, "train", args.fps)
    val_clips = data.load(args.source, args.data, "val", args.fps)
    normaliser = normaliser_for(args.run, train_clips)
    return train_decoder(load_vq(args.run, refined=False), DEFAULT_VQ_TRAIN, train_cfg, train_clips, val_clips,
                         normaliser, Path(args.run), args.device)


def run_transformer(args, stages):
    """Transformer stages in order, [(model config, train config, "transformer" | "refine")], on one
    tokenisation of the clips; the refinement continues the transformer stage's best."""
    train_clips = data.load(args.source, args.data, "train", args.fps)
    val_clips = data.load(args.source, args.data, "val", args.fps)
    normaliser = normaliser_for(args.run, train_clips)
    vq = load_vq(args.run)
    text = CachedTextEncoder(load_text_encoder(TEXT_ENCODER),
                             [c for clip in train_clips + val_clips for c in clip.captions])
    tokens_train = tokenise(vq, train_clips, normaliser, "cpu")
    tokens_val = tokenise(vq, val_clips, normaliser, "cpu")
    for t_cfg, train_cfg, stage in stages:
        t_cfg = replace(t_cfg, num_tokens=vq.cfg.nb_code, code_dim=vq.cfg.code_dim)
        start_from = Path(args.run) / "transformer_best.pt" if stage == "refine" else None
        train_transformer(t_cfg, train_cfg, tokens_train, tokens_val, text, Path(args.run), args.device, stage,
                          start_from)


def caption_bank(model, clips, batch=256):
    """`model`'s condition vectors of the clips' captions (each distinct caption once, sorted), as a caption
    bank, with each caption's family where the clips are labelled (a caption told of two families is its
    more frequent one's)."""
    from ..pipeline import Pipeline
    counts = Counter((c, clip.family) for clip in clips for c in clip.captions)
    family_of = {c: f for (c, f), _ in sorted(counts.items(), key=lambda item: item[1])}
    captions = sorted(family_of)
    pipeline = Pipeline(model)
    vectors = torch.cat([pipeline.condition(captions[i:i + batch]) for i in range(0, len(captions), batch)])
    labelled = all(family_of.values())
    return CaptionBank(captions, vectors, [family_of[c] for c in captions] if labelled else None)


def export(run, out, model_id, fps, extra=None, sampling=None, caption_clips=None):
    """The run's VQ-VAE (with its refined decoder) and its transformer: the refine stage's result where that
    stage continued the transformer stage's best, else the transformer stage's best. With `caption_clips`
    (the training clips), a caption bank of their captions goes with it."""
    run = Path(run)
    state = torch.load(run / "transformer_best.pt", map_location="cpu", weights_only=True)
    steps = {"transformer_step": int(state["step"])}
    if (run / "refine_best.pt").exists():
        refined = torch.load(run / "refine_best.pt", map_location="cpu", weights_only=True)
        if refined["origin"] != {"step": int(state["step"]), "loss": float(state["loss"])}:
            raise ValueError(f"{run / 'refine_best.pt'} continues another transformer than transformer_best.pt: "
                             "delete refine_*.pt and run the refine stage again")
        state = refined
        steps["refine_step"] = int(state["step"])
    transformer = MaskTransformer(TransformerConfig(**state["config"]))
    transformer.load_state_dict(state["model"])
    model = LoadedModel(load_vq(run), transformer.eval(), read_stats(run), TEXT_ENCODER, None, model_id, fps,
                        sampling or {})
    if caption_clips is not None:
        model.captions = caption_bank(model, caption_clips)
        try:
            reader = SentenceReader()
            model.captions = model.captions.with_reader(reader.name, reader(model.captions.captions))
        except ReaderMissing as error:
            print(f"warning: the caption bank goes without the prompt reader's vectors ({error}); "
                  f"`python -m server.reader index {out}` adds them later", file=sys.stderr)
    save(model, out, extra={"training": {**steps, "validation_loss": float(state["loss"]), **(extra or {})}})
    print(f"exported {model_id} to {out}", file=sys.stderr)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m server.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("corpus", help="write the synthetic corpus")
    c.add_argument("--out", default="runs/corpus")
    c.add_argument("--train", type=int, default=DEFAULT_CORPUS["train"])
    c.add_argument("--val", type=int, default=DEFAULT_CORPUS["val"])
    c.add_argument("--seed", type=int, default=DEFAULT_CORPUS["seed"])
    c.add_argument("--fps", type=int, default=DEFAULT_FPS)
    for name in ("vq", "decoder", "transformer", "refine"):
        s = sub.add_parser(name, help=f"train the {name} stage (resumes)")
        s.add_argument("--source", choices=("synthetic", "interhuman", "custom"), default="synthetic")
        s.add_argument("--data", default="runs/corpus")
        s.add_argument("--run", required=True)
        s.add_argument("--fps", type=int, default=DEFAULT_FPS)
        s.add_argument("--steps", type=int)
        s.add_argument("--batch", type=int)
        s.add_argument("--config", help="JSON file of model config overrides")
        s.add_argument("--device")
        if name == "vq":
            s.add_argument("--turn", type=float, nargs="?", const=180.0, default=0.0, metavar="DEGREES",
                           help="turn each training window about the vertical axis by a random angle of at most "
                                "DEGREES (alone: any angle): for data whose people mostly stay on one axis (the "
                                "synthetic corpus), which a VQ otherwise learns to ignore the other axis of")
            s.add_argument("--shift", type=float, default=0.0, metavar="METRES",
                           help="move each training window sideways (along X) by a random distance of at most METRES")
    e = sub.add_parser("export", help="write a trained run in our model format")
    e.add_argument("--run", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--model-id", default="custom")
    e.add_argument("--fps", type=int, default=DEFAULT_FPS)
    e.add_argument("--sampling", type=json.loads, default={},
                   help='recommended sampling settings as JSON, e.g. \'{"temperature": 0.5}\'')
    e.add_argument("--caption-bank", action="store_true",
                   help="ship the training captions' condition vectors (for models trained on template captions; "
                        'recommend them with \'{"caption_neighbours": 8}\')')
    e.add_argument("--source", choices=("synthetic", "interhuman", "custom"), default="synthetic")
    e.add_argument("--data", default="runs/corpus", help="the training data, for --caption-bank")
    d = sub.add_parser("default", help="build the embedded default model: corpus, vq, decoder, transformer, refine, export")
    d.add_argument("--run", default="runs/default")
    d.add_argument("--device")
    d.add_argument("--out", default=str(EMBEDDED), help="where the model is exported (default: the embedded one)")
    d.add_argument("--rehearse", action="store_true",
                   help="the same recipe on a tiny corpus for a few steps a stage: checks a machine in a minute")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))

    if args.command == "corpus":
        write_corpus(args.out, args.train, args.val, args.seed, args.fps)
    elif args.command in ("vq", "decoder", "transformer", "refine"):
        overrides = json.loads(Path(args.config).read_text()) if args.config else {}
        runs = {k: v for k, v in (("steps", args.steps), ("batch", args.batch)) if v is not None}
        if args.command == "vq":
            run_vq(args, replace(DEFAULT_VQ, **overrides), replace(DEFAULT_VQ_TRAIN, **runs, turn=args.turn,
                                                                            shift=args.shift))
        elif args.command == "decoder":
            run_decoder(args, replace(DEFAULT_DECODER_TRAIN, **runs))
        elif args.command == "transformer":
            run_transformer(args, [(replace(DEFAULT_TRANSFORMER, **overrides), replace(DEFAULT_TRANSFORMER_TRAIN, **runs),
                                    "transformer")])
        else:
            run_transformer(args, [(replace(DEFAULT_TRANSFORMER, **{**DEFAULT_REFINE, **overrides}),
                                    replace(DEFAULT_REFINE_TRAIN, **runs), "refine")])
    elif args.command == "export":
        clips = data.load(args.source, args.data, "train", args.fps) if args.caption_bank else None
        export(args.run, args.out, args.model_id, args.fps, sampling=args.sampling, caption_clips=clips)
    else:
        build_default(Path(args.run), Path(args.out), args.device, args.rehearse)


def build_default(run, out, device, rehearse=False):
    """The embedded default's recipe: corpus, VQ, decoder, transformer, refine, export; each stage resumes or,
    finished, is skipped. A rehearsal runs the same code on a tiny corpus for a few steps per stage."""
    corpus_size, vq, decoder, transformer, refine = (DEFAULT_CORPUS, DEFAULT_VQ_TRAIN, DEFAULT_DECODER_TRAIN,
                                                     DEFAULT_TRANSFORMER_TRAIN, DEFAULT_REFINE_TRAIN)
    if rehearse:
        corpus_size = {"train": 48, "val": 24, "seed": 0}
        vq, decoder = replace(vq, steps=4, batch=8), replace(decoder, steps=4, batch=4)
        transformer, refine = replace(transformer, steps=3, batch=8), replace(refine, steps=2, batch=8)
    write_corpus(run / "corpus", fps=DEFAULT_FPS, **corpus_size)
    ns = argparse.Namespace(source="synthetic", data=run / "corpus", run=run, fps=DEFAULT_FPS, device=device)
    if not (run / "vq_best.pt").exists() or _unfinished(run, "vq", vq.steps):
        run_vq(ns, DEFAULT_VQ, vq)
    if not (run / "decoder_last.pt").exists() or _unfinished(run, "decoder", decoder.steps):
        run_decoder(ns, decoder)
    run_transformer(ns, [(DEFAULT_TRANSFORMER, transformer, "transformer"),
                         (replace(DEFAULT_TRANSFORMER, **DEFAULT_REFINE), refine, "refine")])
    if rank() != 0:  # under torchrun, rank 0 alone writes the model
        return
    export(run, out, "rehearsal" if rehearse else "intermask-synthetic-small-v5", DEFAULT_FPS,
           extra={"corpus": corpus_size, "vq": asdict(vq), "decoder": asdict(decoder),
                  "transformer": asdict(transformer), "refine": {**DEFAULT_REFINE, **asdict(refine)}},
           sampling=DEFAULT_SAMPLING, caption_clips=data.load("synthetic", run / "corpus", "train", DEFAULT_FPS))


def _unfinished(run, stage, steps):
    state = torch.load(Path(run) / f"{stage}_last.pt", map_location="cpu", weights_only=True)
    return int(state["step"]) < steps


if __name__ == "__main__":
    main()

"""What the prompt reader (`server/reader.py`) costs: loading it, reading one new prompt, and a whole 5 s clip
with the embedded default model, each against reading by the model's own condition vectors in the same run.

    .venv/bin/python bench/prompt_reading.py [--threads 2] [--repeats 9]

Prompts are distinct (held-out set A), so neither way's cache answers them."""

import argparse
import itertools
import time

from common import report, timed  # also puts the repository on sys.path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    from server import checkpoints as ck, reader as rd
    from server.engine import EMBEDDED_MODEL
    from server.eval.heldout import prompts
    from server.model.caption_bank import CaptionBank
    from server.model.sampling import SamplingOptions
    from server.pipeline import Pipeline

    started = time.perf_counter()
    reader = rd.SentenceReader()
    print(f"loading {rd.READER}: {time.perf_counter() - started:.2f} s (once per generator process)")
    model = ck.load(EMBEDDED_MODEL)
    options = SamplingOptions(**model.sampling)
    bank = model.captions
    unread = ck.load(EMBEDDED_MODEL)
    unread.captions = CaptionBank(bank.captions, bank.vectors, bank.families)  # the same bank, not indexed
    ways = {"reader": Pipeline(model, reader=reader), "condition vectors": Pipeline(unread)}
    texts = itertools.cycle(p for _, p in prompts("heldout"))
    read, clip = {}, {}
    for _ in range(args.repeats):  # interleaved, so machine noise hits both alike
        for name, pipeline in ways.items():
            read.setdefault(name, []).extend(timed(lambda: pipeline.read([next(texts)]), 1, warmup=0))
            clip.setdefault(name, []).extend(
                timed(lambda: pipeline.generate([next(texts)], [5.0], [0], options), 1, warmup=0))
    print(f"torch {torch.__version__}, {args.threads} threads, {len(bank.captions)} captions in the bank")
    medians = {name: (report(f"read one new prompt: {name}", read[name]),
                      report(f"5 s clip, new prompt: {name}", clip[name])) for name in ways}
    (r_read, r_clip), (c_read, c_clip) = medians["reader"], medians["condition vectors"]
    print(f"ratio reader / condition vectors: reading {r_read / c_read:.2f}x, whole clip {r_clip / c_clip:.2f}x")


if __name__ == "__main__":
    main()

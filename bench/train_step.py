"""One training step of the embedded default's transformer stage on the CPU (its config, batch 32, 37 token
steps a person): with the frozen MiniLM encoding each batch's captions, as training did up to v5, against
training's caption cache (`server/train/text_cache.py`), in the same run.

    .venv/bin/python bench/train_step.py [--threads 2] [--repeats 10]
"""

import argparse
import itertools
from dataclasses import replace

from common import report, timed  # also puts the repository on sys.path
import torch

from server.model.text import load_text_encoder
from server.model.transformer import MaskTransformer
from server.train.__main__ import DEFAULT_TRANSFORMER, DEFAULT_TRANSFORMER_TRAIN, DEFAULT_VQ, TEXT_ENCODER
from server.train.text_cache import CachedTextEncoder
from server.train.transformer import TextConditionedLoss, TokenClip, _step, collate

SUBJECTS = ["two people", "one person and another", "a man and a woman", "the two of them", "two friends"]
ACTIONS = ["shake hands", "hug each other", "walk past each other", "circle around each other slowly",
           "push each other away", "high five", "bow to each other", "wave at each other from afar"]
ENDINGS = ["", " and then step back", " while laughing", " twice", " before walking off"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = replace(DEFAULT_TRANSFORMER, num_tokens=DEFAULT_VQ.nb_code, code_dim=DEFAULT_VQ.code_dim)
    train = DEFAULT_TRANSFORMER_TRAIN
    captions = [f"{s} {a}{e}" for s, a, e in itertools.product(SUBJECTS, ACTIONS, ENDINGS)]
    steps = train.max_steps
    clips = [TokenClip(torch.randint(cfg.num_tokens, (2, cfg.rows * steps)), steps, [c]) for c in captions]
    model = MaskTransformer(cfg).train()
    net = TextConditionedLoss(model)
    optimiser = torch.optim.AdamW(model.parameters(), lr=train.lr)
    encoder = load_text_encoder(TEXT_ENCODER)
    gen = torch.Generator().manual_seed(0)

    def step_with(text):
        def run():
            index = torch.randperm(len(clips), generator=gen)[:train.batch].tolist()
            ids, m_lens, batch_captions = collate(clips, index, cfg.rows, steps, cfg.pad_id, gen)
            loss, _ = _step(net, text, ids, m_lens, batch_captions, "cpu")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        return run

    print(f"transformer training step, batch {train.batch}, {steps} token steps, {args.threads} threads")
    plain = report("captions encoded every step", timed(step_with(encoder), args.repeats))
    cached = report("captions from the cache", timed(step_with(CachedTextEncoder(encoder, captions)), args.repeats))
    print(f"cache speed-up: {plain / cached:.2f}x")


if __name__ == "__main__":
    main()

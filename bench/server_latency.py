"""The generator process end to end, through the extension's client, in one run:
cold start to first result, warm latency of one 5 s clip, and 8 queued requests batched versus one by one.

    .venv/bin/python bench/server_latency.py [--model FOLDER] [--threads 2] [--steps 20] [--repeats 3]

Without --model it uses the embedded default model; with --random it builds a random-weight model of the
official full-size configuration (for timing only)."""

import argparse
import sys

from common import load_extension_package, report, scratch_dir, timed  # also puts the repository on sys.path


def random_full_size(folder):
    import numpy as np
    import torch
    from server.checkpoints import LoadedModel, save
    from server.model.transformer import MaskTransformer, TransformerConfig
    from server.model.vqvae import VQConfig, VQVAE
    from server.motion.normalise import Normaliser
    torch.manual_seed(0)
    model = LoadedModel(VQVAE(VQConfig()), MaskTransformer(TransformerConfig(text_dim=384, adapter_padding_mask=True)),
                        Normaliser(np.zeros(262, np.float32), np.ones(262, np.float32)), "all-minilm-l6-v2", None,
                        "random-full-size")
    save(model, folder)
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder in our format (default: the embedded model)")
    parser.add_argument("--random", action="store_true", help="random full-size weights instead")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load_extension_package()
    from intermask.intermask_blender.client import GeneratorClient
    model = args.model
    if args.random:
        model = str(random_full_size(scratch_dir("intermask-bench-")))
    server_args = ["--threads", str(args.threads)] + (["--model", model] if model else [])
    clip = dict(seconds=5.0, steps=args.steps, guidance=2.0)

    def cold():
        c = GeneratorClient(sys.executable, server_args)
        c.generate("two people shake hands", **clip).wait(600)
        c.stop()

    print(f"model {model or 'embedded default'}, {args.threads} threads, 5 s clips, {args.steps} steps, guidance 2")
    report("cold start to first result", timed(cold, args.repeats, warmup=0))
    client = GeneratorClient(sys.executable, server_args)
    client.start()
    client.generate("warm up", **clip).wait(600)
    report("warm latency, one 5 s clip", timed(lambda: client.generate("two people hug", **clip).wait(600),
                                                args.repeats))
    prompts = [f"two people interact, take {i}" for i in range(8)]

    def one_by_one():
        for i, p in enumerate(prompts):
            client.generate(p, seed=i, **clip).wait(600)

    def batched():
        for r in [client.generate(p, seed=i, **clip) for i, p in enumerate(prompts)]:
            r.wait(600)

    seq, bat = [], []
    for _ in range(args.repeats):  # interleaved, so machine noise hits both alike
        seq += timed(one_by_one, 1, warmup=0)
        bat += timed(batched, 1, warmup=0)
    a = report("8 requests one by one", seq)
    b = report("8 requests queued together (batched)", bat)
    print(f"ratio one-by-one / batched: {a / b:.2f}x")
    client.stop()


if __name__ == "__main__":
    main()

"""One full-size InterMask generation on the CPU, official configuration with random weights:
90 frames, 20 steps, guidance 2, batch 1. Compares our batched classifier-free guidance (conditional and
unconditional passes as one batch) with the official two passes per step, in the same run.

    .venv/bin/python bench/generation_cpu.py [--threads 2] [--repeats 5]
"""

import argparse

from common import report, timed  # also puts the repository on sys.path
import torch

from server.model import sampling
from server.model.transformer import MaskTransformer, TransformerConfig
from server.model.vqvae import VQConfig, VQVAE


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frames", type=int, default=90)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    from transformers import CLIPTextConfig, CLIPTextModel
    clip = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072,
                                        num_hidden_layers=12, num_attention_heads=12,
                                        max_position_embeddings=77)).eval()  # ViT-L/14 text tower, random
    vq = VQVAE(VQConfig()).eval()
    transformer = MaskTransformer(TransformerConfig()).eval()
    ids = torch.randint(0, 49406, (1, 77))
    ids[0, 12] = 49407  # end of text
    m_lens = torch.tensor([args.frames // 4])

    def text():
        with torch.no_grad():
            hidden = clip(input_ids=ids).last_hidden_state
            return transformer.encode_text(hidden, torch.tensor([12]))

    def decode(tokens):
        L = tokens.shape[1] // 2
        with torch.no_grad():
            return vq.decode(torch.cat([tokens[:, :L], tokens[:, L:]]))

    def run(batched):
        cond = text()
        opts = sampling.SamplingOptions(steps=20, guidance=2.0, batched_guidance=batched)
        tokens = sampling.generate(transformer, cond, m_lens, opts, [torch.Generator().manual_seed(0)])
        return decode(tokens)

    print(f"torch {torch.__version__}, {args.threads} threads, {args.frames} frames "
          f"({int(m_lens[0])} token steps, {10 * int(m_lens[0]) + 1} tokens), 20 steps, guidance 2")
    report("text encoding (CLIP tower + adapter)", timed(text, args.repeats))
    report("VQ decoding of both persons", timed(lambda: decode(torch.zeros(1, 10 * int(m_lens[0]),
                                                                             dtype=torch.long)), args.repeats))
    # interleave the two variants so machine noise hits both alike
    times = {True: [], False: []}
    for _ in range(args.repeats):
        for batched in (False, True):
            times[batched] += timed(lambda: run(batched), 1, warmup=0)
    two = report("end to end, two passes per step (official)", times[False])
    one = report("end to end, batched guidance (ours)", times[True])
    print(f"ratio two-pass / batched: {two / one:.2f}x   (official code measured at 5.1-6.0 s here)")


if __name__ == "__main__":
    main()

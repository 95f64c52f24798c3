"""Reading and writing InterMask weights.

* Official layout (github.com/gohar-malik/InterMask): `<root>/<dataset>/<name>/opt.txt` and
  `<root>/<dataset>/<name>/model/*.tar`; the VQ-VAE always from `best_fid.tar`, the transformer from the
  file whose name contains `which` (`latest`, `best_fid`, `best_acc`, `finest`, `best_top1`). Files are
  read with `torch.load(weights_only=True)` (no pickled code runs) and loaded with `strict=True`.
* Our format: a folder with `config.json`, `vq.safetensors`, `transformer.safetensors` and `stats.npz`
  (the normalisation mean and std), and for a model trained on template captions `captions.safetensors`
  (its caption bank: the captions' condition vectors, optionally the prompt reader's vectors of them in
  int8 with per-caption scales, and the captions, their families and the reader's name in the metadata).

`python -m server.checkpoints convert ...` turns an official checkpoint into our format."""

import argparse
import hashlib
import json
import pickle
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

from .model.caption_bank import CaptionBank
from .model.sampling import SamplingOptions
from .model.transformer import MaskTransformer, TransformerConfig
from .model.vqvae import VQConfig, VQVAE
from .motion.normalise import Normaliser

FORMAT = "intermask-blender"
FORMAT_VERSION = 1
_FLOAT = re.compile(r"^[-+]?[0-9]+\.[0-9]+$")
OPT_HEADER = "------------ Options -------------"
OPT_FOOTER = "-------------- End ----------------"


class CheckpointError(ValueError):
    """Weights that cannot be used; the message names the file and the problem."""


# ---------------------------------------------------------------------------------------------- opt.txt

def parse_opt_value(text):
    """Type a value the way the official `get_opt` does: bools, floats with a decimal point, digit
    strings as ints, anything else (`None`, `1e-05`, `[2]`) stays a string."""
    if text in ("True", "False"):
        return text == "True"
    if _FLOAT.match(text):
        return float(text)
    if text.isdigit():
        return int(text)
    return text


def read_opt(path):
    """opt.txt -> dict. Header, footer and blank lines are skipped (the official parser crashes on
    blank lines)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} not found: an official checkpoint folder holds opt.txt and model/")
    opt = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line in (OPT_HEADER, OPT_FOOTER):
            continue
        key, sep, value = line.partition(": ")
        if not sep:
            raise CheckpointError(f"{path}:{number}: expected 'key: value', got {line!r}")
        opt[key] = parse_opt_value(value)
    return opt


def write_opt(path, options):
    """Write options as the official trainer does: header, sorted `key: str(value)` lines, footer."""
    lines = [OPT_HEADER] + [f"{k}: {options[k]}" for k in sorted(options)] + [OPT_FOOTER]
    Path(path).write_text("\n".join(lines) + "\n")


def vq_config_from_opt(opt, dataset):
    return VQConfig(dataset=dataset, nb_code=int(opt["nb_code"]), code_dim=int(opt["code_dim"]),
                    width=int(opt["width"]), down_t=int(opt["down_t"]), depth=int(opt["depth"]),
                    dilation_growth_rate=int(opt["dilation_growth_rate"]), mu=float(opt["mu"]))


def transformer_config_from_opt(opt, vq_cfg):
    return TransformerConfig(
        num_tokens=vq_cfg.nb_code, code_dim=vq_cfg.code_dim, latent_dim=int(opt["latent_dim"]),
        ff_size=int(opt["ff_size"]), num_layers=int(opt["n_layers"]), num_heads=int(opt["n_heads"]),
        dropout=float(opt["dropout"]), cond_drop_prob=float(opt["cond_drop_prob"]),
        interaction_mask_prob=float(opt.get("interaction_mask_prob", 0.2)),
        step_unroll=float(opt.get("step_unroll", 1.0)))


# ------------------------------------------------------------------------------------------ state dicts

def read_tar(path, keys):
    """The model state dict stored under the first present key of `keys` in an official .tar file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} not found")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(f"{path} was refused: it is not a plain weights file, and loading it could run "
                              f"code ({str(error).splitlines()[0]})") from None
    except Exception as error:  # truncated or not a torch file at all
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(error).__name__}: {error})") from None
    if not isinstance(blob, dict):
        raise CheckpointError(f"{path}: expected a dictionary, found {type(blob).__name__}")
    for key in keys:
        if key in blob:
            return blob[key]
    raise CheckpointError(f"{path}: none of the keys {list(keys)} present (found {sorted(blob)[:8]})")


def load_strict(module, state, source):
    """load_state_dict(strict=True), with a message naming missing/unexpected keys and wrong shapes."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [f"{k}: file {tuple(state[k].shape)}, model {tuple(own[k].shape)}"
             for k in sorted(set(own) & set(state)) if tuple(state[k].shape) != tuple(own[k].shape)]
    problems = []
    if missing:
        problems.append(f"missing keys {missing[:6]}{' ...' if len(missing) > 6 else ''} ({len(missing)})")
    if unexpected:
        problems.append(f"unexpected keys {unexpected[:6]}{' ...' if len(unexpected) > 6 else ''} ({len(unexpected)})")
    if wrong:
        problems.append(f"wrong shapes: {'; '.join(wrong[:4])}{' ...' if len(wrong) > 4 else ''}")
    if problems:
        raise CheckpointError(f"{source} does not fit the {type(module).__name__}: " + "; ".join(problems))
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{source} holds non-finite values in {bad[:4]}")
    module.load_state_dict(state, strict=True)
    return module


# --------------------------------------------------------------------------------------------- bundles

@dataclass
class LoadedModel:
    """Everything a generator needs besides the frozen text encoder."""
    vq: VQVAE
    transformer: MaskTransformer
    normaliser: Normaliser
    text_encoder: str  # one of server.model.text.TEXT_ENCODERS
    text_encoder_folder: str | None  # CLIP's weights folder; None for MiniLM (it ships in a package)
    model_id: str
    fps: int = 30
    sampling: dict = field(default_factory=dict)  # recommended SamplingOptions values (measured per model)
    captions: CaptionBank | None = None  # the training captions' condition vectors, for caption projection

    def eval(self):
        self.vq.eval()
        self.transformer.eval()
        return self


def _find_stats(stats_dir, candidates):
    for folder in ([Path(stats_dir)] if stats_dir else candidates):
        mean, std = folder / "global_mean.npy", folder / "global_std.npy"
        if mean.is_file() and std.is_file():
            return Normaliser.from_files(mean, std)
    where = stats_dir or ", ".join(map(str, candidates))
    raise CheckpointError(f"normalisation statistics not found in {where}: put the official global_mean.npy "
                          f"and global_std.npy (data/stats in the InterMask repository) there, or name their folder")


def load_official(root, dataset="interhuman", name="trans_default", which="best_fid", stats_dir=None,
                  clip_folder=None):
    """An official checkpoint: transformer `name` and the VQ-VAE its opt.txt names."""
    root = Path(root)
    if dataset != "interhuman":
        raise CheckpointError(f"dataset {dataset!r}: only InterHuman checkpoints produce joint positions "
                              f"(InterX models output SMPL-X rotations that need the licensed body model)")
    trans_dir = root / dataset / name
    trans_opt = read_opt(trans_dir / "opt.txt")
    vq_dir = root / dataset / str(trans_opt.get("vq_name", "vq_default"))
    vq_cfg = vq_config_from_opt(read_opt(vq_dir / "opt.txt"), dataset)
    vq = load_strict(VQVAE(vq_cfg), read_tar(vq_dir / "model" / "best_fid.tar", ("vq_model", "net")),
                     vq_dir / "model" / "best_fid.tar")
    matches = sorted((trans_dir / "model").glob(f"*{which}*.tar"))
    if not matches:
        raise CheckpointError(f"no transformer checkpoint matching {which!r} in {trans_dir / 'model'}")
    t_cfg = transformer_config_from_opt(trans_opt, vq_cfg)
    transformer = load_strict(MaskTransformer(t_cfg), read_tar(matches[0], ("t2m_transformer", "trans")),
                              matches[0])
    normaliser = _find_stats(stats_dir, [root, root.parent / "data" / "stats", root / "stats"])
    model_id = f"official:{dataset}/{name}/{matches[0].stem}"
    return LoadedModel(vq, transformer, normaliser, "clip-vit-l14-336",
                       str(clip_folder) if clip_folder else None, model_id).eval()


def save(model: LoadedModel, folder, extra=None):
    """Write our format: config.json, vq.safetensors, transformer.safetensors, stats.npz."""
    from safetensors.torch import save_file
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.vq.state_dict().items()}, folder / "vq.safetensors")
    save_file({k: v.contiguous() for k, v in model.transformer.state_dict().items()},
              folder / "transformer.safetensors")
    np.savez(folder / "stats.npz", mean=model.normaliser.mean, std=model.normaliser.std)
    bank = folder / CAPTIONS
    if model.captions is not None:
        save_captions(model.captions, bank)
    elif bank.exists():
        bank.unlink()  # a stale bank would project onto another model's captions
    config = {"format": FORMAT, "version": FORMAT_VERSION, "model_id": model.model_id, "fps": model.fps,
              "text_encoder": model.text_encoder, "text_encoder_folder": model.text_encoder_folder,
              "vq": asdict(model.vq.cfg), "transformer": asdict(model.transformer.cfg),
              **({"sampling": model.sampling} if model.sampling else {}), **(extra or {})}
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")


def _dataclass_from(cls, values, source):
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise CheckpointError(f"{source}: unknown {cls.__name__} fields {unknown}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{source}: invalid {cls.__name__}: {error}") from None


CAPTIONS = "captions.safetensors"


def save_captions(bank: CaptionBank, path):
    """A caption bank as safetensors: the condition vectors in float16, the reader's unit vectors (if any)
    in int8 with one scale per caption (a quarter of their float32 size, and the same caption read for every
    held-out prompt), and the captions, families and reader's name as JSON in one metadata key (safetensors
    writes several in no fixed order, and an export must be reproducible)."""
    from safetensors.torch import save_file
    text = {"captions": bank.captions, **({"families": bank.families} if bank.families else {}),
            **({"reader": bank.reader} if bank.reader else {})}
    tensors = {"vectors": bank.vectors.half().contiguous()}
    if bank.reader_vectors is not None:
        scales = bank.reader_vectors.abs().amax(-1).clamp(min=1e-12) / 127
        tensors["reader_vectors"] = (bank.reader_vectors / scales[:, None]).round().to(torch.int8).contiguous()
        tensors["reader_scales"] = scales.float().contiguous()
    save_file(tensors, path, metadata={"captions": json.dumps(text if len(text) > 1 else bank.captions)})


def _load_captions(path):
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(path, "pt") as f:
            text = json.loads(f.metadata()["captions"])  # the captions, or with their families and reader
            if not isinstance(text, dict):
                return CaptionBank(text, f.get_tensor("vectors"))
            reader_vectors = None
            if "reader" in text:
                reader_vectors = f.get_tensor("reader_vectors").float() * f.get_tensor("reader_scales")[:, None]
            return CaptionBank(text["captions"], f.get_tensor("vectors"), text.get("families"), text.get("reader"),
                               reader_vectors)
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, RuntimeError) as error:
        raise CheckpointError(f"{path} is corrupt ({error})") from None


def load(folder):
    """Our format -> LoadedModel (in eval mode)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise CheckpointError(f"{config_path} not found: a model folder holds config.json, vq.safetensors, "
                              f"transformer.safetensors and stats.npz")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{config_path} is not valid JSON: {error}") from None
    if config.get("format") != FORMAT or config.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"{config_path}: not a {FORMAT} v{FORMAT_VERSION} model config")
    vq = VQVAE(_dataclass_from(VQConfig, config["vq"], config_path))
    transformer = MaskTransformer(_dataclass_from(TransformerConfig, config["transformer"], config_path))
    for module, name in ((vq, "vq.safetensors"), (transformer, "transformer.safetensors")):
        try:
            state = load_file(folder / name)
        except FileNotFoundError:
            raise CheckpointError(f"{folder / name} not found") from None
        except (SafetensorError, OSError, ValueError) as error:
            raise CheckpointError(f"{folder / name} is corrupt ({error})") from None
        load_strict(module, state, folder / name)
    try:
        with np.load(folder / "stats.npz") as stats:
            normaliser = Normaliser(stats["mean"], stats["std"])
    except (OSError, KeyError, ValueError) as error:
        raise CheckpointError(f"{folder / 'stats.npz'} is missing or corrupt ({error})") from None
    fps = config.get("fps", 30)
    if not isinstance(fps, int) or fps <= 0 or 30 % fps:
        raise CheckpointError(f"{folder / 'config.json'}: fps must divide 30, got {fps!r}")
    sampling = config.get("sampling", {})
    allowed = {"steps", "guidance", "topk_ratio", "temperature", "caption_neighbours"}
    if not isinstance(sampling, dict) or set(sampling) - allowed:
        raise CheckpointError(f"{config_path}: \"sampling\" may only set {sorted(allowed)}")
    try:
        SamplingOptions(**sampling)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"{config_path}: invalid \"sampling\": {error}") from None
    captions = _load_captions(folder / CAPTIONS) if (folder / CAPTIONS).exists() else None
    if captions is not None and captions.vectors.shape[1] != transformer.cfg.text_dim:
        raise CheckpointError(f"{folder / CAPTIONS}: vectors of width {captions.vectors.shape[1]}, the model's "
                              f"condition is {transformer.cfg.text_dim} wide")
    if sampling.get("caption_neighbours") and captions is None:
        raise CheckpointError(f"{config_path} recommends caption_neighbours but {folder / CAPTIONS} is missing")
    return LoadedModel(vq, transformer, normaliser, config["text_encoder"], config.get("text_encoder_folder"),
                       config["model_id"], fps, sampling, captions).eval()


def weights_digest(folder):
    """A short content hash of a model folder's weight files, for manifests and model ids."""
    h = hashlib.sha256()
    files = [Path(folder) / name for name in ("config.json", "vq.safetensors", "transformer.safetensors", "stats.npz")]
    for path in files + [p for p in [Path(folder) / CAPTIONS] if p.exists()]:  # the bank is optional
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m server.checkpoints",
                                     description="Convert an official InterMask checkpoint into our format.")
    sub = parser.add_subparsers(dest="command", required=True)
    convert = sub.add_parser("convert", help="official checkpoint folder -> our format")
    convert.add_argument("--official", required=True, help="the official checkpoints/ folder")
    convert.add_argument("--dataset", default="interhuman")
    convert.add_argument("--name", default="trans_default", help="transformer experiment name")
    convert.add_argument("--which", default="best_fid", help="transformer file: latest, best_fid, best_acc, ...")
    convert.add_argument("--stats", help="folder with global_mean.npy and global_std.npy")
    convert.add_argument("--clip", help="folder of the CLIP ViT-L/14@336px text tower in Hugging Face format")
    convert.add_argument("--out", required=True, help="output folder")
    args = parser.parse_args(argv)
    try:
        model = load_official(args.official, args.dataset, args.name, args.which, args.stats, args.clip)
        save(model, args.out)
    except CheckpointError as error:
        parser.exit(2, f"error: {error}\n")
    print(f"wrote {args.out} ({model.model_id})")


if __name__ == "__main__":
    main()

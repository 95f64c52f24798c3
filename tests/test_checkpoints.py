"""Official checkpoints load strictly and exactly; anything else is refused with a message naming it."""

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import reference_file  # noqa: E402
from server import checkpoints as ck  # noqa: E402
from server.model.transformer import MaskTransformer, TransformerConfig  # noqa: E402
from server.model.vqvae import VQConfig, VQVAE  # noqa: E402

torch.set_num_threads(2)


def manifest(name):
    rows = json.loads(reference_file("manifests", name).read_text())
    return {r["name"]: tuple(r["shape"]) for r in rows}


def shapes(module):
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_full_size_vq_matches_the_official_manifests():
    assert shapes(VQVAE(VQConfig("interhuman"))) == manifest("intermask_vq_interhuman_params.json")
    assert shapes(VQVAE(VQConfig("interx"))) == manifest("intermask_vq_interx_params.json")


def test_full_size_transformer_matches_the_official_manifest():
    model = MaskTransformer(TransformerConfig())
    assert shapes(model) == manifest("intermask_trans_interhuman_params.json")
    summary = json.loads(reference_file("manifests", "intermask_param_summary.json").read_text())
    assert sum(p.numel() for p in model.parameters()) == summary["trans_interhuman"]["n_params_wo_clip"]


# ------------------------------------------------------------------------- official layout on disk

SMALL_VQ_OPT = {"nb_code": 128, "code_dim": 64, "output_emb_width": 64, "width": 64}
SMALL_TRANS_OPT = {"latent_dim": 64, "ff_size": 128, "n_layers": 2, "n_heads": 4}


def official_opt(name, **changes):
    """The official trainer's opt.txt (from the conformance examples) with some values changed."""
    opt = ck.read_opt(reference_file("conformance", "opt_examples", name))
    opt.update(changes)
    return opt


def write_official(root, vq_state, trans_state, vq_opt, trans_opt, stats=True):
    """A checkpoint folder as the official trainers write it: opt.txt plus model/*.tar dictionaries
    holding model, optimiser and MultiStepLR states."""
    for name, opt, file, key, state in (("vq_default", vq_opt, "best_fid.tar", "vq_model", vq_state),
                                        ("trans_default", trans_opt, "latest.tar", "t2m_transformer", trans_state)):
        folder = root / "interhuman" / name
        (folder / "model").mkdir(parents=True)
        ck.write_opt(folder / "opt.txt", opt)
        params = [torch.nn.Parameter(v.clone()) for v in state.values() if v.is_floating_point()][:3]
        optimiser = torch.optim.AdamW(params, lr=2e-4)
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimiser, milestones=[10, 20], gamma=0.1)
        torch.save({key: state, f"opt_{key}": optimiser.state_dict(),
                    "scheduler": scheduler.state_dict(), "ep": 3, "total_it": 1200}, folder / "model" / file)
    if stats:
        for kind in ("mean", "std"):
            shutil.copy(reference_file("stats", f"global_{kind}.npy"), root / f"global_{kind}.npy")


def random_state(module, seed):
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(v.shape, generator=g) * 0.05 for k, v in module.state_dict().items()}


@pytest.fixture
def small_official(tmp_path):
    vq_opt = official_opt("vq_default_opt.txt", **SMALL_VQ_OPT)
    trans_opt = official_opt("trans_default_opt.txt", **SMALL_TRANS_OPT)
    vq_cfg = ck.vq_config_from_opt(vq_opt, "interhuman")
    vq_state = random_state(VQVAE(vq_cfg), 1)
    trans_state = random_state(MaskTransformer(ck.transformer_config_from_opt(trans_opt, vq_cfg)), 2)
    return tmp_path, vq_state, trans_state, vq_opt, trans_opt


def test_opt_parser_types_values_like_the_official_one():
    for name in ("vq_default_opt", "trans_default_opt"):
        expected = json.loads(reference_file("conformance", "opt_examples", name + ".parsed.json").read_text())
        parsed = ck.read_opt(reference_file("conformance", "opt_examples", name + ".txt"))
        for key, entry in expected["complete_false"].items():
            if key == "device":  # added by the official loader from its arguments, not read from the file
                continue
            assert parsed[key] == entry["value"], key
            assert type(parsed[key]).__name__ == entry["type"], key


def test_opt_writer_matches_the_official_file_byte_for_byte(tmp_path):
    for name in ("vq_default_opt.txt", "trans_default_opt.txt"):
        original = reference_file("conformance", "opt_examples", name)
        ck.write_opt(tmp_path / name, ck.read_opt(original))
        assert (tmp_path / name).read_bytes() == original.read_bytes()


def test_full_size_official_checkpoint_loads_strictly(tmp_path):
    vq_state = random_state(VQVAE(VQConfig()), 1)
    trans_state = random_state(MaskTransformer(TransformerConfig()), 2)
    write_official(tmp_path, vq_state, trans_state, official_opt("vq_default_opt.txt"),
                   official_opt("trans_default_opt.txt"))
    model = ck.load_official(tmp_path, which="latest")
    for module, state in ((model.vq, vq_state), (model.transformer, trans_state)):
        loaded = module.state_dict()
        assert loaded.keys() == state.keys()
        assert all(torch.equal(loaded[k], state[k]) for k in state)
    assert model.model_id == "official:interhuman/trans_default/latest"
    assert model.transformer.cfg.latent_dim == 384 and model.vq.cfg.nb_code == 1024


def test_our_format_round_trip(small_official, tmp_path_factory):
    root, *parts = small_official
    write_official(root, *parts)
    model = ck.load_official(root, which="latest")
    out = tmp_path_factory.mktemp("ours")
    ck.save(model, out)
    again = ck.load(out)
    for a, b in ((model.vq, again.vq), (model.transformer, again.transformer)):
        assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    np.testing.assert_array_equal(again.normaliser.std, model.normaliser.std)
    assert len(ck.weights_digest(out)) == 16


def test_convert_command(small_official, tmp_path_factory):
    root, *parts = small_official
    write_official(root, *parts)
    out = tmp_path_factory.mktemp("converted")
    ck.main(["convert", "--official", str(root), "--which", "latest", "--out", str(out)])
    assert ck.load(out).model_id == "official:interhuman/trans_default/latest"


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update({"extra.weight": torch.zeros(3)}), "unexpected keys.*extra.weight"),
    (lambda s: s.pop("cond_emb.bias"), "missing keys.*cond_emb.bias"),
    (lambda s: s.update({"cond_emb.bias": torch.zeros(7)}), r"wrong shapes: cond_emb.bias: file \(7,\)"),
    (lambda s: s.update({"cond_emb.bias": torch.full((64,), float("nan"))}), "non-finite"),
])
def test_bad_transformer_state_is_refused(small_official, change, message):
    root, vq_state, trans_state, vq_opt, trans_opt = small_official
    change(trans_state)
    write_official(root, vq_state, trans_state, vq_opt, trans_opt)
    with pytest.raises(ck.CheckpointError, match=message):
        ck.load_official(root, which="latest")


class _Exploit:
    def __reduce__(self):
        import os
        return os.system, ("touch exploited-by-checkpoint",)


def test_pickle_that_would_run_code_is_refused(small_official, monkeypatch):
    root, vq_state, trans_state, vq_opt, trans_opt = small_official
    write_official(root, vq_state, trans_state, vq_opt, trans_opt)
    monkeypatch.chdir(root)
    torch.save({"t2m_transformer": trans_state, "payload": _Exploit()},
               root / "interhuman" / "trans_default" / "model" / "latest.tar")
    with pytest.raises(ck.CheckpointError, match="refused"):
        ck.load_official(root, which="latest")
    assert not (root / "exploited-by-checkpoint").exists()


def test_truncated_and_missing_files_are_reported(small_official):
    root, *parts = small_official
    write_official(root, *parts)
    tar = root / "interhuman" / "vq_default" / "model" / "best_fid.tar"
    tar.write_bytes(tar.read_bytes()[:1000])
    with pytest.raises(ck.CheckpointError, match="best_fid.tar is not a readable checkpoint"):
        ck.load_official(root, which="latest")
    with pytest.raises(ck.CheckpointError, match="no transformer checkpoint matching 'best_acc'"):
        tar.unlink()
        write_official(root / "again", *parts)
        ck.load_official(root / "again", which="best_acc")


def test_missing_statistics_say_where_to_put_them(small_official):
    root, *parts = small_official
    write_official(root, *parts, stats=False)
    with pytest.raises(ck.CheckpointError, match="global_mean.npy and global_std.npy"):
        ck.load_official(root, which="latest")


def test_corrupt_safetensors_in_our_format(small_official, tmp_path_factory):
    root, *parts = small_official
    write_official(root, *parts)
    out = tmp_path_factory.mktemp("ours")
    ck.save(ck.load_official(root, which="latest"), out)
    (out / "transformer.safetensors").write_bytes(b"\x00" * 100)
    with pytest.raises(ck.CheckpointError, match="transformer.safetensors is corrupt"):
        ck.load(out)
    (out / "config.json").write_text("{not json")
    with pytest.raises(ck.CheckpointError, match="not valid JSON"):
        ck.load(out)


@pytest.mark.parametrize("sampling, problem", [({"temprature": 0.5}, "may only set"),
                                               ({"temperature": -1.0}, "temperature must be positive"),
                                               ([0.5], "may only set")])
def test_recommended_sampling_in_a_config_is_checked(tmp_path, sampling, problem):
    import json
    from small_models import small_model
    ck.save(small_model(), tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["sampling"] = sampling
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ck.CheckpointError, match=problem):
        ck.load(tmp_path)


def test_a_model_with_person_codes_round_trips(tmp_path):
    from dataclasses import replace
    from small_models import SMALL_TRANSFORMER, small_model
    model = small_model(transformer=replace(SMALL_TRANSFORMER, person_embedding=True))
    with torch.no_grad():
        model.transformer.position_enc.person.normal_()
    ck.save(model, tmp_path)
    loaded = ck.load(tmp_path)
    assert loaded.transformer.cfg.person_embedding
    assert torch.equal(loaded.transformer.position_enc.person, model.transformer.position_enc.person)

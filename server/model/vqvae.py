"""The InterMask 2D VQ-VAE (Javed et al., "InterMask", ICLR 2025, Sec. 3.1).

One person's motion is a joints x time image with 12 channels per joint ([position 3 | velocity 3 | 6D
rotation 6], the root's rotation zero). 2D convolutions down-sample joints 22 -> 5 and time T -> T/4, and
every latent cell is quantised against one codebook, giving a 5 x T/4 token map. Parameter names follow
the official checkpoints exactly (`encoder.model.0.0.weight`, `quantizer.layers.0.codebook`, ...).

Graph layers (InterHuman): the official code flattens (B, T, 22) nodes but passes a single skeleton's
edges, so only frame 0 of batch item 0 gets neighbour messages and every other node sees a per-joint
linear map. `graph_on_every_sample=True` (our default) gives frame 0 of *every* sample its neighbours,
which equals the official result at batch size 1 and makes outputs independent of batch position;
False reproduces the official batching exactly."""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..motion import skeleton as sk
from ..motion.features import CONTACTS, POSITIONS, ROTATIONS, VELOCITIES


@dataclass
class VQConfig:
    dataset: str = "interhuman"  # "interhuman" (262-d features, graph layers) or "interx" (56 x 6 rotations)
    nb_code: int = 1024  # codebook size
    code_dim: int = 512  # = the encoder's output width
    width: int = 512
    down_t: int = 2  # temporal down-sampling levels (x2 each)
    depth: int = 2  # residual blocks per level
    dilation_growth_rate: int = 3
    mu: float = 0.99  # EMA decay of the codebook during training
    graph_on_every_sample: bool = True  # see the module docstring

    @property
    def joints(self):
        return 22 if self.dataset == "interhuman" else 56

    @property
    def channels(self):
        return 12 if self.dataset == "interhuman" else 6

    @property
    def graph(self):
        return self.dataset == "interhuman"

    @property
    def spatial_kernel_stride(self):
        return (4, 2) if self.graph else (6, 3)

    @property
    def spatial_upsample(self):
        # nearest up-sampling with float factors: InterHuman 5 -> 11 -> 22, InterX 5 -> 17 -> 56
        return (2.2, 2.0) if self.graph else (3.5, 3.3)

    def __post_init__(self):
        if self.dataset not in ("interhuman", "interx"):
            raise ValueError(f"unknown dataset {self.dataset!r}: expected 'interhuman' or 'interx'")
        if self.down_t != 2:
            raise ValueError("the 5-row token map and the spatial up-sampling assume down_t = 2")


# ----------------------------------------------------------------------------------------------- blocks

class GraphConv(nn.Module):
    """GraphSAGE layer with a projected, mean-aggregated neighbourhood (PyG `SAGEConv(project=True)`):
    out_i = lin_l(mean_{j in N(i)} relu(lin(x_j))) + lin_r(x_i)."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.lin = nn.Linear(c_in, c_in)
        self.lin_l = nn.Linear(c_in, c_out)
        self.lin_r = nn.Linear(c_in, c_out, bias=False)
        adjacency = torch.zeros(sk.N_JOINTS, sk.N_JOINTS)
        for parent, child in sk.BONES:
            adjacency[parent, child] = adjacency[child, parent] = 1.0
        self.register_buffer("mean_adjacency", adjacency / adjacency.sum(1, keepdim=True), persistent=False)

    def forward(self, x, every_sample):
        """x: (B, T, 22, C). Neighbour messages reach frame 0 of every sample, or of sample 0 only."""
        messages = torch.zeros_like(x[..., :1]).expand(*x.shape[:-1], self.lin_l.in_features).clone()
        head = x[:, 0] if every_sample else x[:1, 0]  # (B or 1, 22, C)
        messages[: head.shape[0], 0] = self.mean_adjacency @ F.relu(self.lin(head))
        return self.lin_l(messages) + self.lin_r(x)


class ResConvBlock(nn.Module):
    """Pre-activation residual block: x + drop(conv1x1(relu(conv3x3_dilated(relu(x)))))."""

    def __init__(self, width, dilation, dropout=0.2):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, 1, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv2d(width, width, 1, 1, 0)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return x + self.drop(self.conv2(F.relu(self.conv1(F.relu(x)))))


class Resnet(nn.Module):
    def __init__(self, width, depth, growth):
        super().__init__()
        # dilations growth**i, applied largest first (the official reverse_dilation default)
        self.model = nn.Sequential(*[ResConvBlock(width, growth ** i) for i in reversed(range(depth))])

    def forward(self, x):
        return self.model(x)


class Encoder(nn.Module):
    def __init__(self, cfg: VQConfig):
        super().__init__()
        self.every_sample = cfg.graph_on_every_sample
        ks, ss = cfg.spatial_kernel_stride
        layers = []
        if cfg.graph:
            self.gcn_layer1 = GraphConv(cfg.channels, cfg.width)
            self.gcn_layer2 = GraphConv(cfg.width, cfg.width)
        else:
            layers += [nn.Conv2d(cfg.channels, cfg.width, 3, 1, 1), nn.ReLU()]
        for _ in range(cfg.down_t):
            layers.append(nn.Sequential(
                nn.Conv2d(cfg.width, cfg.width, (ks, 4), (ss, 2), 1),
                Resnet(cfg.width, cfg.depth, cfg.dilation_growth_rate),
            ))
        layers.append(nn.Conv2d(cfg.width, cfg.code_dim, 3, 1, 1))
        self.model = nn.Sequential(*layers)
        self.graph = cfg.graph

    def forward(self, x):
        """(B, C, J, T) -> (B, code_dim, 5, T/4)."""
        if self.graph:
            h = x.permute(0, 3, 2, 1)  # (B, T, J, C)
            h = F.relu(self.gcn_layer1(h, self.every_sample))
            h = F.relu(self.gcn_layer2(h, self.every_sample))
            x = h.permute(0, 3, 2, 1)
        return self.model(x)


class Decoder(nn.Module):
    def __init__(self, cfg: VQConfig):
        super().__init__()
        self.every_sample = cfg.graph_on_every_sample
        layers = [nn.Conv2d(cfg.code_dim, cfg.width, 3, 1, 1), nn.ReLU()]
        for scale in cfg.spatial_upsample:
            layers.append(nn.Sequential(
                Resnet(cfg.width, cfg.depth, cfg.dilation_growth_rate),
                nn.Upsample(scale_factor=(scale, 2.0), mode="nearest"),
                nn.Conv2d(cfg.width, cfg.width, 3, 1, 1),
            ))
        layers += [nn.Conv2d(cfg.width, cfg.width, 3, 1, 1), nn.ReLU()]
        self.graph = cfg.graph
        if cfg.graph:
            self.gcn_layer1 = GraphConv(cfg.width, cfg.width)
            self.gcn_layer2 = GraphConv(cfg.width, cfg.channels)
        else:
            layers.append(nn.Conv2d(cfg.width, cfg.channels, 3, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, z):
        """(B, code_dim, 5, T') -> (B, C, J, 4T')."""
        x = self.model(z)
        if self.graph:
            h = x.permute(0, 3, 2, 1)
            h = self.gcn_layer2(F.relu(self.gcn_layer1(h, self.every_sample)), self.every_sample)
            x = h.permute(0, 3, 2, 1)
        return x


class Quantizer(nn.Module):
    """One codebook (a buffer, as in the official checkpoints), nearest-code lookup, straight-through
    gradients, and for training an EMA update with reset of dead codes to recent encoder outputs."""

    def __init__(self, nb_code, code_dim, mu):
        super().__init__()
        self.nb_code, self.code_dim, self.mu = nb_code, code_dim, mu
        self.register_buffer("codebook", torch.zeros(nb_code, code_dim))
        self.code_sum = self.code_count = None  # EMA state, training only (not saved, as officially)

    def distances(self, z):
        """Squared L2 distance of rows z (N, D) to every code -> (N, nb_code)."""
        return (z ** 2).sum(-1, keepdim=True) - 2 * z @ self.codebook.t() + (self.codebook ** 2).sum(-1)

    def quantise(self, z, sample_temperature=0.0):
        """Rows z (N, D) -> code ids (N,). With a temperature, ids are sampled (Gumbel-max on -dist/T)."""
        logits = -self.distances(z)
        if sample_temperature > 0:
            u = torch.rand_like(logits).clamp_(1e-20, 1.0)
            return (logits / sample_temperature - torch.log(-torch.log(u))).argmax(-1)
        return logits.argmax(-1)

    def lookup(self, ids):
        """ids (...,) with -1 meaning 'no code' -> vectors (..., D); -1 gives zeros."""
        out = self.codebook[ids.clamp(min=0)]
        return out * (ids >= 0).unsqueeze(-1).to(out.dtype)

    @torch.no_grad()
    def update(self, z, ids):
        """EMA codebook step; codes whose EMA count falls below 1 restart at random encoder outputs."""
        one_hot = F.one_hot(ids, self.nb_code).to(z.dtype)  # (N, K)
        code_sum, code_count = one_hot.t() @ z, one_hot.sum(0)
        fresh = self._random_rows(z)
        if self.code_sum is None:  # first batch: start from encoder outputs
            self.codebook.copy_(fresh)
            self.code_sum, self.code_count = fresh.clone(), torch.ones(self.nb_code, device=z.device)
            return
        self.code_sum.mul_(self.mu).add_(code_sum, alpha=1 - self.mu)
        self.code_count.mul_(self.mu).add_(code_count, alpha=1 - self.mu)
        alive = (self.code_count >= 1.0).unsqueeze(-1)
        self.codebook.copy_(torch.where(alive, self.code_sum / self.code_count.clamp(min=1e-6).unsqueeze(-1), fresh))

    def _random_rows(self, z):
        if z.shape[0] < self.nb_code:
            repeats = (self.nb_code + z.shape[0] - 1) // z.shape[0]
            z = z.repeat(repeats, 1) + torch.randn_like(z.repeat(repeats, 1)) * (0.01 / self.code_dim ** 0.5)
        return z[torch.randperm(z.shape[0], device=z.device)[: self.nb_code]]


class QuantizerStack(nn.Module):
    """Holds the single quantiser under `layers.0` so checkpoint names match (a residual VQ of depth 1)."""

    def __init__(self, quantizer):
        super().__init__()
        self.layers = nn.ModuleList([quantizer])


# ------------------------------------------------------------------------------------------------ model

class VQVAE(nn.Module):
    ROWS = 5  # spatial rows of the token map

    def __init__(self, cfg: VQConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.quantizer = QuantizerStack(Quantizer(cfg.nb_code, cfg.code_dim, cfg.mu))

    @property
    def codebook(self):
        return self.quantizer.layers[0]

    # features <-> 2D image --------------------------------------------------------------------------
    def preprocess(self, x):
        """InterHuman (B, T, 262) -> (B, 12, 22, T); InterX (B, T, 56, 6) -> (B, 6, 56, T)."""
        if not self.cfg.graph:
            return x.permute(0, 3, 2, 1)
        B, T, _ = x.shape
        rot = x[..., ROTATIONS].reshape(B, T, sk.N_JOINTS - 1, 6)
        rot = torch.cat([torch.zeros_like(rot[:, :, :1]), rot], dim=2)  # the root has no rotation
        joints = torch.cat([x[..., POSITIONS].reshape(B, T, sk.N_JOINTS, 3),
                            x[..., VELOCITIES].reshape(B, T, sk.N_JOINTS, 3), rot], dim=-1)
        return joints.permute(0, 3, 2, 1)

    def postprocess(self, img):
        """Inverse of preprocess; the root rotation is dropped and the 4 contacts are zero (not modelled)."""
        x = img.permute(0, 3, 2, 1)  # (B, T, J, C)
        if not self.cfg.graph:
            return x
        B, T = x.shape[:2]
        return torch.cat([x[..., 0:3].reshape(B, T, -1), x[..., 3:6].reshape(B, T, -1),
                          x[:, :, 1:, 6:12].reshape(B, T, -1),
                          x.new_zeros(B, T, CONTACTS.stop - CONTACTS.start)], dim=-1)

    # tokens ------------------------------------------------------------------------------------------
    def _rows(self, z):
        """(B, D, 5, T') -> (B, 5T', D), spatial-major: token index = row * T' + step."""
        B, D = z.shape[:2]
        return z.reshape(B, D, -1).permute(0, 2, 1)

    def encode(self, x):
        """Normalised features (B, T, ...) with T a multiple of 4 -> token ids (B, 5T/4)."""
        z = self._rows(self.encoder(self.preprocess(x)))
        B, N, D = z.shape
        return self.codebook.quantise(z.reshape(B * N, D)).reshape(B, N)

    def latents(self, ids):
        """Token ids (B, 5T') (-1 = empty) -> the decoder's input, their codes as an image (B, D, 5, T')."""
        B, N = ids.shape
        return self.codebook.lookup(ids).permute(0, 2, 1).reshape(B, -1, self.ROWS, N // self.ROWS)

    def decode(self, ids):
        """Token ids (B, 5T') (-1 = empty) -> normalised features (B, 4T', ...)."""
        return self.postprocess(self.decoder(self.latents(ids)))

    def forward(self, x, sample_temperature=0.5):
        """Training pass: reconstruction, commitment loss and codebook perplexity.
        Codes are sampled at `sample_temperature` (official: 0.5) and the codebook follows by EMA."""
        z_img = self.encoder(self.preprocess(x))
        B, D, R, Tq = z_img.shape
        z = self._rows(z_img).reshape(-1, D)
        ids = self.codebook.quantise(z.detach(), sample_temperature if self.training else 0.0)
        if self.training:
            self.codebook.update(z.detach(), ids)
        q = self.codebook.lookup(ids)
        commit = F.mse_loss(z, q.detach())
        q = z + (q - z).detach()  # straight-through
        z_q = q.reshape(B, R * Tq, D).permute(0, 2, 1).reshape(B, D, R, Tq)
        probs = F.one_hot(ids, self.cfg.nb_code).float().mean(0)
        perplexity = torch.exp(-(probs * torch.log(probs + 1e-7)).sum())
        return self.postprocess(self.decoder(z_q)), commit, perplexity

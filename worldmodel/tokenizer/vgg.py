"""VGG19 features for the perceptual and Gram-matrix losses of the tokenizer.

``VGG19Features`` reproduces the layer layout of torchvision's ``vgg19``
(Simonyan & Zisserman, arXiv 1409.1556, configuration E): an ``nn.Sequential``
named ``features`` with every conv at the same index, so a torchvision
state dict's ``features.*`` tensors load unchanged. Weights are never bundled
here (``worldmodel`` does no file I/O); ``training.perceptual.load_vgg19``
loads them.

The perceptual loss is a plain L1 between activations (no LPIPS calibration);
the Gram loss follows Gatys et al. 2016 ("Image Style Transfer Using
Convolutional Neural Networks", CVPR, eqs. 3-4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

# Configuration E of arXiv 1409.1556, Table 1: channels per conv, "M" for a 2x2 max-pool.
_VGG19_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)  # fmt: skip
DEFAULT_LAYERS = ("relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _vgg19_layers() -> tuple[list[nn.Module], dict[str, int]]:
    """Build the torchvision ``features`` list and map ``reluB_K`` names to their indices."""
    layers: list[nn.Module] = []
    names: dict[str, int] = {}
    in_ch, block, conv = 3, 1, 0
    for v in _VGG19_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            block, conv = block + 1, 0
            continue
        assert isinstance(v, int)
        conv += 1
        layers.append(nn.Conv2d(in_ch, v, kernel_size=3, padding=1))
        # Not in-place: the returned activations must survive the next layers.
        layers.append(nn.ReLU(inplace=False))
        names[f"relu{block}_{conv}"] = len(layers) - 1
        in_ch = v
    return layers, names


class VGG19Features(nn.Module):
    """VGG19 conv trunk returning activations at named ReLU layers.

    Input is a [-1, 1] image ``(B, 3, H, W)`` or video ``(B, 3, T, H, W)``
    (frames folded into the batch); ImageNet mean/std normalisation is applied
    inside. H and W must be at least 2^(pools before the deepest layer), e.g.
    16 for ``relu5_4``. The normalisation buffers are non-persistent, so the
    state dict holds exactly torchvision's ``features.N.weight/bias`` keys.
    """

    def __init__(self, layers: Sequence[str] = DEFAULT_LAYERS) -> None:
        super().__init__()
        modules, names = _vgg19_layers()
        unknown = [name for name in layers if name not in names]
        if not layers or unknown:
            raise ValueError(f"layers must be a non-empty subset of {sorted(names)}, got {list(layers)}")
        self.features = nn.Sequential(*modules)
        self.layers = tuple(layers)
        self._indices = {names[name]: name for name in layers}
        self._last = max(self._indices)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """x: ``(B, 3, H, W)`` or ``(B, 3, T, H, W)`` in [-1, 1] -> {layer: ``(B*T, C_l, H_l, W_l)``}."""
        h = rearrange(x, "b c t h w -> (b t) c h w") if x.ndim == 5 else x
        h = ((h + 1) / 2 - self.mean) / self.std
        out: dict[str, Tensor] = {}
        # Stop at the deepest requested layer: the rest of the trunk would be wasted compute.
        for i, layer in enumerate(self.features[: self._last + 1]):
            h = layer(h)
            if i in self._indices:
                out[self._indices[i]] = h
        return out


def _layer_weights(feats: Mapping[str, Tensor], weights: Mapping[str, float] | None) -> dict[str, float]:
    if weights is None:
        return dict.fromkeys(feats, 1.0)
    if not weights:
        raise ValueError("weights must name at least one layer")
    missing = [name for name in weights if name not in feats]
    if missing:
        raise ValueError(f"weights name layers {missing} that are not among the features {list(feats)}")
    return dict(weights)


def perceptual_loss(
    feats_x: Mapping[str, Tensor], feats_y: Mapping[str, Tensor], weights: Mapping[str, float] | None = None
) -> Tensor:
    """Sum over layers of ``w_l * mean |phi_l(x) - phi_l(y)|`` (feature-space L1, no LPIPS calibration).

    Args:
        feats_x, feats_y: ``VGG19Features`` outputs, {layer: ``(N, C_l, H_l, W_l)``}.
        weights: per-layer weights; None weighs every layer 1.0. Layers absent from it are skipped.

    Returns:
        Scalar loss.
    """
    w = _layer_weights(feats_x, weights)
    return sum(wl * F.l1_loss(feats_x[name], feats_y[name]) for name, wl in w.items())


def gram_matrix(f: Tensor) -> Tensor:
    """Normalised Gram matrix G = F F^T / (C H W) (Gatys et al. 2016, eq. 3).

    Args:
        f: ``(N, C, H, W)`` feature map.

    Returns:
        ``(N, C, C)``, computed in float32 with autocast off (a sum over H*W products).
    """
    n, c, h, w = f.shape
    with torch.autocast(device_type=f.device.type, enabled=False):
        flat = f.float().reshape(n, c, h * w)
        return flat @ flat.transpose(1, 2) / (c * h * w)


def gram_loss(
    feats_x: Mapping[str, Tensor], feats_y: Mapping[str, Tensor], weights: Mapping[str, float] | None = None
) -> Tensor:
    """Sum over layers of ``w_l * mean (G_l(x) - G_l(y))^2`` (Gatys et al. 2016, eqs. 4-5).

    The squared error matches the paper's style loss; its 1/(4 N^2 M^2) factor
    is replaced by the C*H*W normalisation inside ``gram_matrix`` and the mean.

    Args:
        feats_x, feats_y: {layer: ``(N, C_l, H_l, W_l)``}.
        weights: per-layer weights; None weighs every layer 1.0.

    Returns:
        Scalar loss.
    """
    w = _layer_weights(feats_x, weights)
    return sum(
        wl * F.mse_loss(gram_matrix(feats_x[name]), gram_matrix(feats_y[name])) for name, wl in w.items()
    )

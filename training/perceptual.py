"""Loading VGG19 weights for the tokenizer's perceptual and Gram losses.

Weights come from a local file only: a ``.safetensors`` file (preferred) or a
torchvision ``.pth`` state dict, read with ``torch.load(weights_only=True)`` so
no pickled code runs. Both torchvision's ``features.N.weight`` keys and bare
``N.weight`` keys are accepted; classifier tensors of a full ``vgg19`` state
dict are ignored. Without a path the losses are switched off, loudly: a
randomly initialised VGG would train the tokenizer towards noise features.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from worldmodel.tokenizer.vgg import DEFAULT_LAYERS, VGG19Features

logger = logging.getLogger(__name__)

_TORCH_SUFFIXES = (".pth", ".pt")


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        try:
            return load_file(path)
        except SafetensorError as err:
            raise ValueError(f"{path} is not a readable safetensors file: {err}") from err
    if path.suffix in _TORCH_SUFFIXES:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch.load raises many types for a corrupt or non-tensor file
            raise ValueError(f"{path} is not a readable torch state dict: {err}") from err
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise ValueError(f"{path} does not hold a flat state dict of tensors")
        return state
    raise ValueError(f"{path}: expected a .safetensors or {'/'.join(_TORCH_SUFFIXES)} file")


def load_vgg19(path: str | Path | None, *, layers: tuple[str, ...] = DEFAULT_LAYERS) -> VGG19Features | None:
    """Load frozen VGG19 features from a local weights file, or return None without one.

    Args:
        path: ``.safetensors`` or torchvision ``.pth`` state dict; None disables
            the perceptual and Gram terms (with a WARNING).
        layers: ReLU layers the network returns (see ``VGG19Features``).

    Returns:
        ``VGG19Features`` on CPU in eval mode with ``requires_grad=False``, or None.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is unreadable or its keys/shapes are not VGG19's,
            naming the file and the expected keys.
    """
    if path is None:
        logger.warning(
            "no VGG19 weights given: the perceptual and Gram-matrix loss terms are off "
            "(pass a local .safetensors or torchvision .pth file to enable them)"
        )
        return None
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"VGG19 weights not found: {path}")
    state = _read_state_dict(path)
    model = VGG19Features(layers)
    expected = list(model.state_dict())
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    if not features:
        features = {f"features.{k}": v for k, v in state.items() if k.split(".")[0].isdigit()}
    try:
        model.load_state_dict(features, strict=True)
    except RuntimeError as err:
        raise ValueError(
            f"{path} is not a VGG19 state dict. Expected the {len(expected)} keys "
            f"{expected[0]} ... {expected[-1]} (conv weights/biases at torchvision's indices; "
            f"the 'features.' prefix is optional), found {len(state)} keys such as "
            f"{list(state)[:4]}. Loader said: {str(err)[:500]}"
        ) from err
    model.requires_grad_(False)
    return model.eval()

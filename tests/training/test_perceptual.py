import logging
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from training.perceptual import load_vgg19
from worldmodel.tokenizer.vgg import VGG19Features


@pytest.fixture(scope="module")
def reference() -> VGG19Features:
    torch.manual_seed(0)
    return VGG19Features()


def _assert_same_weights(a: VGG19Features, b: VGG19Features) -> None:
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), name


def test_vgg19_loads_torchvision_layout_state_dict(reference: VGG19Features, tmp_path: Path) -> None:
    # A full torchvision vgg19 state dict also holds the classifier; it must be ignored.
    state = dict(reference.state_dict()) | {"classifier.0.weight": torch.zeros(4, 2)}
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    net = load_vgg19(path)
    assert net is not None
    _assert_same_weights(net, reference)
    assert not net.training
    assert not any(p.requires_grad for p in net.parameters())


def test_vgg19_loads_safetensors_with_bare_keys(reference: VGG19Features, tmp_path: Path) -> None:
    bare = {k.removeprefix("features."): v.contiguous() for k, v in reference.state_dict().items()}
    path = tmp_path / "vgg19.safetensors"
    save_file(bare, str(path))
    net = load_vgg19(str(path), layers=("relu2_2",))
    assert net is not None and net.layers == ("relu2_2",)
    _assert_same_weights(net, reference)


def test_missing_vgg_weights_warns_and_disables_perceptual(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="training.perceptual"):
        assert load_vgg19(None) is None
    assert "perceptual" in caplog.text and "Gram" in caplog.text


def test_wrong_weights_file_raises_naming_file_and_expected_keys(tmp_path: Path) -> None:
    path = tmp_path / "not_vgg.safetensors"
    save_file({"encoder.weight": torch.zeros(3, 3)}, str(path))
    with pytest.raises(ValueError, match=r"not_vgg\.safetensors.*features\.0\.weight"):
        load_vgg19(path)


def test_corrupt_weights_file_raises_value_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pth"
    path.write_bytes(b"definitely not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pth"):
        load_vgg19(path)


def test_missing_weights_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_vgg19(tmp_path / "absent.safetensors")

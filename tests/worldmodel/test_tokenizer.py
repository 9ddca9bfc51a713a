import pytest
import torch

from worldmodel import hub
from worldmodel.tokenizer import FSQ, CausalVideoTokenizer, get_config
from worldmodel.tokenizer.haar import haar_dwt, haar_idwt, patchify, unpatchify
from worldmodel.tokenizer.layers3d import CausalConv3d, causal_window_mask


def video(t: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, 3, t, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("temporal", [False, True])
def test_haar_inverse_is_exact(temporal: bool) -> None:
    x = torch.randn(2, 3, 4, 8, 8, dtype=torch.float64)
    y = haar_dwt(x, temporal=temporal)
    assert y.shape == ((2, 24, 2, 4, 4) if temporal else (2, 12, 4, 4, 4))
    torch.testing.assert_close(haar_idwt(y, temporal=temporal), x)


def test_haar_low_band_is_the_block_mean() -> None:
    x = torch.randn(1, 1, 2, 2, 2, dtype=torch.float64)
    y = haar_dwt(x, temporal=True)
    torch.testing.assert_close(y[0, 0].flatten(), x.mean().reshape(1))


def test_patchify_codes_first_frame_alone_and_inverts() -> None:
    x = torch.randn(1, 3, 9, 16, 16, dtype=torch.float64)
    y = patchify(x, levels=2, temporal_levels=2)
    assert y.shape == (1, 3 * 64, 3, 4, 4)
    torch.testing.assert_close(unpatchify(y, 2, 2), x)
    x2 = x.clone()
    x2[:, :, 1:] += 1
    torch.testing.assert_close(patchify(x2, 2, 2)[:, :, 0], y[:, :, 0])


def test_causal_conv_ignores_future_frames() -> None:
    conv = CausalConv3d(2, 4, (3, 3, 3))
    x = torch.randn(1, 2, 6, 5, 5)
    x2 = x.clone()
    x2[:, :, 4:] = torch.randn(1, 2, 2, 5, 5)
    torch.testing.assert_close(conv(x)[:, :, :4], conv(x2)[:, :, :4])


def test_causal_window_mask_limits_past_and_future() -> None:
    mask = causal_window_mask(5, 2, torch.device("cpu"))
    assert mask[3].tolist() == [False, False, True, True, False]


def test_fsq_indices_round_trip_exactly() -> None:
    fsq = FSQ((8, 5, 5, 3))
    indices = torch.arange(fsq.codebook_size)
    codes = fsq.indices_to_codes(indices)
    assert codes.abs().max() <= 1
    assert torch.equal(fsq.codes_to_indices(codes), indices)
    z = torch.randn(1000, 4) * 3
    q, idx = fsq(z)
    assert torch.equal(fsq.indices_to_codes(idx), q)
    for i, levels in enumerate((8, 5, 5, 3)):
        assert q[:, i].unique().numel() <= levels


def test_fsq_round_has_straight_through_gradient() -> None:
    fsq = FSQ((5, 5))
    z = torch.randn(10, 2, requires_grad=True)
    fsq(z)[0].sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["CV4x8x8-tiny", "DV4x8x8-tiny", "CV8x16x16-tiny"])
def test_encoder_and_decoder_are_causal(name: str) -> None:
    torch.manual_seed(0)
    model = CausalVideoTokenizer(get_config(name)).eval()
    f = model.temporal_factor
    t = 1 + 3 * f
    size = model.spatial_factor * 2
    x = video(t, size)
    x2 = x.clone()
    x2[:, :, 1 + f :] = video(t - 1 - f, size, seed=1)  # change everything after the second latent's frames
    with torch.no_grad():
        # The quantiser is pointwise, so the encoder network's output carries all the causality.
        z, z2 = model.encoder(x), model.encoder(x2)
        torch.testing.assert_close(z[:, :, :2], z2[:, :, :2])
        assert not torch.allclose(z[:, :, 2:], z2[:, :, 2:])
        later = z.clone()
        later[:, :, 2:] = z2[:, :, 2:]
        torch.testing.assert_close(model.decoder(z)[:, :, : 1 + f], model.decoder(later)[:, :, : 1 + f])


@pytest.mark.parametrize("name", ["CV4x8x8-tiny", "DV8x8x8-tiny", "CI8x8-tiny", "DI16x16-tiny"])
def test_frame_count_maps_to_one_plus_k_latents(name: str) -> None:
    model = CausalVideoTokenizer(get_config(name)).eval()
    f, s = model.temporal_factor, model.spatial_factor
    for k in (0, 2):
        t = 1 + k * f
        with torch.no_grad():
            recon, info = model(video(t, 2 * s))
        assert info["latent"].shape == (1, model.latent_channels, 1 + k, 2, 2)
        assert recon.shape == (1, 3, t, 2 * s, 2 * s)
        if model.is_discrete:
            assert info["indices"].shape == (1, 1 + k, 2, 2)
            torch.testing.assert_close(model.decode_code(info["indices"]), recon)


def test_invalid_frame_count_lists_valid_counts() -> None:
    model = CausalVideoTokenizer(get_config("CV4x8x8-tiny"))
    with pytest.raises(ValueError, match=r"1 \+ k\*4 frames.*got 8.*\[9, 5"):
        model.encode(video(8, 16))


def test_wrong_dtype_or_range_is_a_clear_error() -> None:
    model = CausalVideoTokenizer(get_config("CV4x8x8-tiny"))
    with pytest.raises(TypeError, match="float tensor"):
        model.encode(torch.zeros(1, 3, 5, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        model.encode(video(5, 16) * 100)
    with pytest.raises(ValueError, match="divisible by 8"):
        model.encode(video(5, 12))


def test_image_is_a_one_frame_video() -> None:
    model = CausalVideoTokenizer(get_config("CV4x8x8-tiny")).eval()
    x = video(9, 16)
    with torch.no_grad():
        torch.testing.assert_close(model.encode(x[:, :, :1]), model.encode(x)[:, :, :1])


def test_unknown_preset_and_bad_config_fields_are_named() -> None:
    with pytest.raises(ValueError, match="unknown tokenizer config"):
        get_config("CV3x8x8")
    with pytest.raises(ValueError, match="quantizer"):
        get_config("CV4x8x8-tiny", quantizer="vq")


def test_tokenizer_checkpoint_round_trip(tmp_path) -> None:
    model = CausalVideoTokenizer(get_config("DV4x8x8-tiny")).eval()
    hub.save(model, tmp_path / "tok")
    loaded = hub.load(tmp_path / "tok")
    assert loaded.config == model.config
    x = video(5, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)[0], model(x)[0])

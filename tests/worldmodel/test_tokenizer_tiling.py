import pytest
import torch
import torch.nn.functional as F

from worldmodel.tokenizer import CausalVideoTokenizer, get_config
from worldmodel.tokenizer.tiling import blend_tiles, decode_tiled, encode_tiled, tile_starts


def test_tile_starts_cover_the_frame_with_the_overlap() -> None:
    assert tile_starts(16, 32, 8) == [0]
    assert tile_starts(20, 8, 2) == [0, 6, 12]
    starts = tile_starts(21, 8, 2)
    assert starts[-1] + 8 == 21 and all(b - a <= 6 for a, b in zip(starts, starts[1:], strict=False))


def test_blending_a_position_wise_coder_reproduces_the_whole_frame() -> None:
    # Weights sum to one everywhere, so a coder without spatial context is reproduced exactly.
    x = torch.randn(1, 2, 3, 20, 28)

    def run(y: int, x0: int, h: int, w: int) -> torch.Tensor:
        return F.interpolate(x[..., y : y + h, x0 : x0 + w], scale_factor=(1, 2, 2)) * 3

    out = blend_tiles((20, 28), 8, 3, run, scale=2)
    torch.testing.assert_close(out, F.interpolate(x, scale_factor=(1, 2, 2)) * 3)


def test_one_tile_is_whole_frame_coding_and_tiles_stay_close() -> None:
    torch.manual_seed(0)
    model = CausalVideoTokenizer(get_config("CV4x8x8-tiny")).eval()
    x = torch.rand(1, 3, 5, 32, 32) * 2 - 1
    with torch.no_grad():
        z = model.encode(x)
        torch.testing.assert_close(encode_tiled(model, x, tile=32, overlap=8), z)
        torch.testing.assert_close(decode_tiled(model, z, tile=4, overlap=1), model.decode(z))
        tiled = encode_tiled(model, x, tile=16, overlap=8)
    assert tiled.shape == z.shape and torch.isfinite(tiled).all()


def test_tiling_refuses_fsq_codes_and_misaligned_tiles() -> None:
    fsq = CausalVideoTokenizer(get_config("DV4x8x8-tiny")).eval()
    x = torch.zeros(1, 3, 5, 32, 32)
    with pytest.raises(ValueError, match="cannot be blended"):
        encode_tiled(fsq, x, tile=16, overlap=8)
    continuous = CausalVideoTokenizer(get_config("CV4x8x8-tiny")).eval()
    with pytest.raises(ValueError, match="multiples of the spatial factor 8"):
        encode_tiled(continuous, x, tile=20, overlap=8)

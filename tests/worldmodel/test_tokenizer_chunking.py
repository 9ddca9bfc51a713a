import pytest
import torch

from worldmodel.tokenizer import CausalVideoTokenizer, get_config
from worldmodel.tokenizer.chunking import decode_chunked, encode_chunked, receptive_field


@pytest.mark.parametrize("name", ["CV4x8x8-tiny", "DV4x8x8-tiny"])
def test_chunked_encode_decode_equals_whole_clip(name: str) -> None:
    torch.manual_seed(0)
    model = CausalVideoTokenizer(get_config(name)).eval()
    enc_rf, dec_rf = receptive_field(model)
    assert 0 < enc_rf < 40 and 0 < dec_rf < 40
    latents = enc_rf + 8
    x = torch.rand(1, 3, 1 + latents * 4, 8, 8) * 2 - 1
    with torch.no_grad():
        whole = model.encode(x)
        chunked = encode_chunked(model, x, chunk=3)
        if model.is_discrete:
            assert torch.equal(chunked[1], whole[1])
            whole, chunked = whole[0], chunked[0]
        torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(
            decode_chunked(model, whole, chunk=3), model.decode(whole), atol=1e-5, rtol=1e-4
        )


def test_too_little_context_shows_a_seam() -> None:
    torch.manual_seed(0)
    model = CausalVideoTokenizer(get_config("CV4x8x8-tiny")).eval()
    x = torch.rand(1, 3, 1 + 12 * 4, 8, 8) * 2 - 1
    with torch.no_grad():
        error = (encode_chunked(model, x, chunk=3, context=1) - model.encode(x)).abs().max()
    assert error > 1e-4

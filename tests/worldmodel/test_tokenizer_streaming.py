import pytest
import torch

from worldmodel.tokenizer import CausalVideoTokenizer, get_config
from worldmodel.tokenizer.layers3d import causal_window_mask

LATENTS = 7  # longer than the tiny presets' temporal attention window (4)


def tokenizer(name: str) -> CausalVideoTokenizer:
    torch.manual_seed(0)
    return CausalVideoTokenizer(get_config(name)).eval()


def clip(model: CausalVideoTokenizer, batch: int = 1, latents: int = LATENTS, seed: int = 0) -> torch.Tensor:
    t, size = 1 + (latents - 1) * model.temporal_factor, 2 * model.spatial_factor
    return torch.rand(batch, 3, t, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def stream_encode(model: CausalVideoTokenizer, x: torch.Tensor, groups: list[int], state=None):  # noqa: ANN001, ANN201
    """encode_step over x: frame 0 alone (when state is None), then ``groups[i]`` latents' frames per step."""
    f, outs, start = model.temporal_factor, [], 0
    if state is None:
        out, state = model.encode_step(x[:, :, :1])
        outs.append(out)
        start = 1
    for g in groups:
        out, state = model.encode_step(x[:, :, start : start + g * f], state)
        outs.append(out)
        start += g * f
    assert start == x.shape[2]
    if model.is_discrete:
        return (torch.cat([o[0] for o in outs], 2), torch.cat([o[1] for o in outs], 1)), state
    return torch.cat(outs, 2), state


def stream_decode(model: CausalVideoTokenizer, latent: torch.Tensor, groups: list[int]) -> torch.Tensor:
    frames, state, start = [], None, 0
    for g in groups:
        video, state = model.decode_step(latent[:, :, start : start + g], state)
        frames.append(video)
        start += g
    assert start == latent.shape[2]
    return torch.cat(frames, 2)


@pytest.mark.parametrize(
    "name",
    [
        "CV4x8x8-tiny",  # continuous, temporal Haar only
        "DV4x8x8-tiny",  # FSQ: indices must be equal
        "CV8x8x8-tiny",  # a temporal down- and up-sampling stage besides the Haar levels
        "CI8x8-tiny",  # image tokenizer: frame by frame, no past
    ],
)
def test_streamed_coding_equals_whole_clip_coding(name: str) -> None:
    model = tokenizer(name)
    assert model.config.attn_window < LATENTS
    if name == "CV8x8x8-tiny":
        assert model.config.temporal_downsamples == 1
    x = clip(model)
    with torch.no_grad():
        whole = model.encode(x)
    streamed, _ = stream_encode(model, x, [1] * (LATENTS - 1))  # one temporal group per step
    grouped, _ = stream_encode(model, x, [2, 1, 3])  # several groups per step
    latent = whole[0] if model.is_discrete else whole
    for got in (streamed, grouped):
        if model.is_discrete:
            assert torch.equal(got[1], whole[1])
            got = got[0]
        torch.testing.assert_close(got, latent, atol=1e-4, rtol=0)
    with torch.no_grad():
        video = model.decode(latent)
    for groups in ([1] * LATENTS, [3, 1, 2, 1]):
        torch.testing.assert_close(stream_decode(model, latent, groups), video, atol=1e-4, rtol=0)


def test_streamed_batch_elements_are_independent() -> None:
    model = tokenizer("CV4x8x8-tiny")
    x = torch.cat([clip(model, seed=0), clip(model, seed=1)])
    both, _ = stream_encode(model, x, [1] * (LATENTS - 1))
    alone, _ = stream_encode(model, x[1:], [1] * (LATENTS - 1))
    torch.testing.assert_close(both[1:], alone, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        stream_decode(model, both, [1] * LATENTS)[1:], stream_decode(model, alone, [1] * LATENTS)
    )


def test_a_stream_state_is_not_changed_by_stepping_it() -> None:
    """Stepping the same state with two continuations gives each its whole-clip result (a branch)."""
    model = tokenizer("CV4x8x8-tiny")
    a, b = clip(model, seed=0), clip(model, seed=1)
    b[:, :, :5] = a[:, :, :5]  # the same first two latents' frames, then different futures
    _, state = stream_encode(model, a[:, :, :5], [1])
    for x in (a, b):
        rest, _ = stream_encode(model, x[:, :, 5:], [1] * (LATENTS - 2), state=state)
        with torch.no_grad():
            torch.testing.assert_close(rest, model.encode(x)[:, :, 2:], atol=1e-4, rtol=0)


def test_stream_state_stays_bounded_as_the_video_grows() -> None:
    model = tokenizer("CV4x8x8-tiny")
    x = clip(model, latents=12)
    _, early = stream_encode(model, x[:, :, : 1 + 4 * 4], [1] * 4)
    _, late = stream_encode(model, x, [1] * 11)
    assert late.frames == x.shape[2] and late.steps == 12
    assert {k: v.shape for k, v in early.past.items()} == {k: v.shape for k, v in late.past.items()}


def test_step_with_the_wrong_frame_count_names_the_expected_count() -> None:
    model = tokenizer("CV4x8x8-tiny")
    x = clip(model)
    with pytest.raises(ValueError, match=r"first encode_step .* 1 \+ k\*4 frames.*got 4"):
        model.encode_step(x[:, :, :4])
    _, state = model.encode_step(x[:, :, :1])
    with pytest.raises(ValueError, match=r"takes k\*4 new frames .*got 3"):
        model.encode_step(x[:, :, 1:4], state)
    with pytest.raises(ValueError, match=r"n >= 1"):
        model.decode_step(torch.zeros(1, model.latent_channels, 0, 2, 2))


def test_a_stream_state_from_another_step_or_shape_is_refused() -> None:
    model = tokenizer("CV4x8x8-tiny")
    x = clip(model, batch=2)
    latent, state = model.encode_step(x[:, :, :1])
    with pytest.raises(ValueError, match="decode_step needs the state its previous decode_step returned"):
        model.decode_step(latent, state)
    with pytest.raises(ValueError, match="batch 2 at 16x16; got batch 1 at 16x16"):
        model.encode_step(x[:1, :, 1:5], state)


def test_streaming_leaves_whole_clip_coding_unchanged() -> None:
    model = tokenizer("CV4x8x8-tiny")
    x = clip(model)
    with torch.no_grad():
        before = model.encode(x)
        model.encode_step(x[:, :, :1])
        assert torch.equal(model.encode(x), before)


def test_causal_window_mask_with_past_keys_continues_the_window() -> None:
    full = causal_window_mask(6, 3, torch.device("cpu"))
    assert torch.equal(causal_window_mask(2, 3, torch.device("cpu"), past=4), full[4:])

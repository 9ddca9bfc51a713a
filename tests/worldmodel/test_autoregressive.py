"""The autoregressive world model: KV cache, factorised heads, sampling, Video2World, checkpoints."""

from pathlib import Path

import pytest
import torch

from worldmodel import hub
from worldmodel.autoregressive import ARConfig, AutoregressiveWorldModel, GPTConfig, KVCache, get_config
from worldmodel.conditioning import TextEncoderConfig
from worldmodel.conditioning.inputs import Conditioning

GRID = (3, 4, 4)  # (T, h, w) latent frames of 4x4 tokens
LEVELS = (8, 8, 8, 5, 5, 5)
FIRST_GIVEN = torch.tensor([[True, False, False]] * 2)  # (B, T)


def make_model(seed: int = 0, **gpt) -> AutoregressiveWorldModel:
    torch.manual_seed(seed)
    text = TextEncoderConfig(vocab_size=50, embed_dim=8, dim=16, layers=1, heads=2, max_len=8)
    config = ARConfig(gpt=get_config("GPT-tiny", **gpt), text=text if gpt.get("text_dim") else None)
    return AutoregressiveWorldModel(config).eval()


def token_ids(seed: int = 0, shape: tuple[int, ...] = (2, *GRID)) -> torch.Tensor:
    return torch.randint(0, 64000, shape, generator=torch.Generator().manual_seed(seed))


def codes(indices: torch.Tensor, model: AutoregressiveWorldModel) -> torch.Tensor:
    """(B, T, h, w) ids -> (B, C, T, h, w) FSQ codes, what the tokenizer's encode returns."""
    return model.gpt.fsq.indices_to_codes(indices).movedim(-1, 1)


def test_logits_with_kv_cache_equal_logits_without_it() -> None:
    model = make_model(action_dim=2, text_dim=16).double()
    gpt, b, n = model.gpt, 2, 48
    inputs = torch.cat([torch.full((b, 1), gpt.start_id), token_ids().flatten(1)[:, :-1]], dim=1)  # (B, N)
    embedded = model.embed_text(
        Conditioning(
            text_ids=torch.randint(0, 50, (b, 5)),
            text_mask=torch.tensor([[True] * 5, [True] * 3 + [False] * 2]),
        )
    )
    cond = {
        "actions": torch.randn(b, 3, 2, dtype=torch.float64),
        "action_known": model.known_actions(1, b, 3, "cpu"),
        "text": embedded.text.double(),
        "text_mask": embedded.text_mask,
    }
    full = gpt(inputs, GRID, **cond)  # (B, N, Σ levels)
    cache = KVCache(gpt.config.depth, n)
    # A prefill, a block after a stored prefix, then one token at a time: every path of the attention.
    chunks = [(0, 5), (5, 17), *((i, i + 1) for i in range(17, n))]
    cached = torch.cat([gpt(inputs[:, i:j], GRID, cache=cache, **cond) for i, j in chunks], dim=1)
    torch.testing.assert_close(cached, full, rtol=0, atol=1e-12)


def test_cached_and_uncached_generation_draw_the_same_tokens() -> None:
    model = make_model(action_dim=2)
    latent = codes(token_ids(), model)
    actions = torch.randn(2, 3, 2)

    def run(use_cache: bool, temperature: float) -> torch.Tensor:
        return model.sample(
            latent.shape,
            Conditioning(cond_latent=latent, cond_mask=FIRST_GIVEN, actions=actions),
            temperature=temperature,
            generator=torch.Generator().manual_seed(3),
            use_cache=use_cache,
        )

    for temperature in (0.0, 1.0):
        assert torch.equal(run(True, temperature), run(False, temperature))


def test_logits_are_causal_and_an_action_only_affects_its_frame_onwards() -> None:
    model = make_model(action_dim=2)
    gpt = model.gpt
    inputs = torch.cat([torch.full((1, 1), gpt.start_id), token_ids(0, (1, *GRID)).flatten(1)[:, :-1]], dim=1)
    actions = torch.randn(1, 3, 2)
    with torch.no_grad():
        base = gpt(inputs, GRID, actions=actions)
        changed_token = inputs.clone()
        changed_token[:, 20] = 7
        after = gpt(changed_token, GRID, actions=actions)
        assert torch.equal(after[:, :20], base[:, :20]) and not torch.allclose(after[:, 20:], base[:, 20:])
        changed_action = actions.clone()
        changed_action[:, 2] += 1.0  # the action into frame 2 (tokens 32..47)
        after = gpt(inputs, GRID, actions=changed_action)
        assert torch.equal(after[:, :32], base[:, :32]) and not torch.allclose(after[:, 32:], base[:, 32:])


def test_factorised_heads_are_a_normalised_distribution_over_the_codebook() -> None:
    model = make_model(levels=(3, 2, 4))
    gpt = model.gpt
    logits = torch.randn(1, 1, 9)  # one position, Σ levels = 9
    every_token = torch.arange(24)[:, None]  # (24, 1)
    nll = gpt.token_nll(logits.expand(24, 1, 9), every_token)[:, 0]  # (24,)
    torch.testing.assert_close(nll.neg().exp().sum(), torch.tensor(1.0))
    digits = gpt.fsq.indices_to_digits(every_token[:, 0])  # (24, 3)
    parts = logits[0, 0].split((3, 2, 4))
    joint = sum(part.log_softmax(0)[digits[:, i]] for i, part in enumerate(parts))  # (24,)
    torch.testing.assert_close(nll, -joint)


def test_tiny_model_overfits_one_clip_and_regenerates_it_greedily() -> None:
    model = make_model().train()
    clip = token_ids(1, (1, 2, 4, 4))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    losses = []
    for _ in range(40):
        loss = model(clip)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] / 10, losses
    sample = model.eval().sample((1, 6, 2, 4, 4), temperature=0.0)
    assert torch.equal(model.codes_to_indices(sample), clip)


def test_sample_returns_the_condition_frames_exactly_and_valid_codes() -> None:
    model = make_model()
    latent = codes(token_ids(), model)
    sample = model.sample(latent.shape, Conditioning(cond_latent=latent, cond_mask=FIRST_GIVEN))
    assert sample.shape == latent.shape and sample.dtype == latent.dtype
    assert torch.equal(sample[:, :, 0], latent[:, :, 0])
    assert not torch.equal(sample[:, :, 1:], latent[:, :, 1:])
    torch.testing.assert_close(codes(model.codes_to_indices(sample), model), sample)  # on the FSQ grid


def test_sampling_is_reproducible_with_a_seed_and_varies_with_it() -> None:
    model = make_model()

    def run(seed: int, **kw) -> torch.Tensor:
        return model.sample((2, 6, 2, 4, 4), generator=torch.Generator().manual_seed(seed), **kw)

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))
    assert torch.equal(run(0, top_k=2, top_p=0.5), run(0, top_k=2, top_p=0.5))


def test_batched_generation_equals_generating_each_clip_alone() -> None:
    model = make_model(action_dim=2).double()
    latent = codes(token_ids(), model).double()
    actions = torch.randn(2, 3, 2, dtype=torch.float64)
    batched = model.sample(
        latent.shape,
        Conditioning(cond_latent=latent, cond_mask=FIRST_GIVEN, actions=actions),
        temperature=0.0,
    )
    for i in range(2):
        alone = model.sample(
            (1, *latent.shape[1:]),
            Conditioning(
                cond_latent=latent[i : i + 1], cond_mask=FIRST_GIVEN[i : i + 1], actions=actions[i : i + 1]
            ),
            temperature=0.0,
        )
        assert torch.equal(alone[0], batched[i])


def test_text_model_samples_with_and_without_a_prompt() -> None:
    model = make_model(text_dim=16)
    ids, mask = torch.randint(0, 50, (2, 6)), torch.ones(2, 6, dtype=torch.bool)
    with_text = model.sample((2, 6, 2, 4, 4), Conditioning(text_ids=ids, text_mask=mask), temperature=0.0)
    without = model.sample((2, 6, 2, 4, 4), temperature=0.0)
    assert with_text.shape == without.shape == (2, 6, 2, 4, 4)
    assert not torch.equal(with_text, without)
    assert model.train()(token_ids(), Conditioning(text_ids=ids, text_mask=mask)).isfinite()


def test_train_save_load_sample_identical(tmp_path: Path) -> None:
    model = make_model(action_dim=2).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    for step in range(3):
        loss = model(token_ids(step), Conditioning(cond_mask=FIRST_GIVEN, actions=torch.randn(2, 3, 2)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    hub.save(model, tmp_path / "ar")
    loaded = hub.load(tmp_path / "ar", expect_kind="autoregressive")
    assert isinstance(loaded, AutoregressiveWorldModel) and loaded.config == model.config
    latent, actions = codes(token_ids(9), model), torch.randn(2, 3, 2)

    def run(m: AutoregressiveWorldModel) -> torch.Tensor:
        generator = torch.Generator().manual_seed(5)
        return m.sample(
            latent.shape,
            Conditioning(cond_latent=latent, cond_mask=FIRST_GIVEN, actions=actions),
            generator=generator,
        )

    assert torch.equal(run(model), run(loaded))


def test_bad_inputs_are_clear_errors() -> None:
    model = make_model(action_dim=2)
    ids = token_ids()
    with pytest.raises(ValueError, match=r"token ids must lie in \[0, 64000\)"):
        model(ids + 64000)
    with pytest.raises(ValueError, match=r"token ids must lie"):
        model(ids - 64000)
    long_context = (1, 6, 17, 4, 4)  # 17 latent frames, the window holds 16
    with pytest.raises(ValueError, match="exceeds the model's window"):
        model.sample(long_context)
    with pytest.raises(ValueError, match="exceeds the model's window"):
        model(token_ids(0, (1, 17, 4, 4)))
    with pytest.raises(ValueError, match="exceeds the model's window"):
        model.sample((1, 6, 2, 16, 16))
    latent = codes(ids, model)
    with pytest.raises(ValueError, match="prefix"):
        model.sample(
            latent.shape, Conditioning(cond_latent=latent, cond_mask=torch.tensor([[False, True, False]] * 2))
        )
    with pytest.raises(ValueError, match="identity LatentNorm"):
        model.sample(latent.shape, Conditioning(cond_latent=latent * 0.37 + 0.1, cond_mask=FIRST_GIVEN))
    with pytest.raises(ValueError, match=r"actions must be \(B, T, action_dim\)"):
        model.sample(
            latent.shape,
            Conditioning(cond_latent=latent, cond_mask=FIRST_GIVEN, actions=torch.zeros(2, 3, 5)),
        )
    with pytest.raises(ValueError, match="reads no camera maps"):
        model.sample(latent.shape, Conditioning(camera=torch.zeros(2, 6, 3, 4, 4)))
    with pytest.raises(ValueError, match="one channel per FSQ level"):
        model.sample((2, 4, 3, 4, 4))
    with pytest.raises(ValueError, match="no text encoder"):
        model.sample(latent.shape, Conditioning(text_ids=torch.zeros(2, 3, dtype=torch.long)))


@pytest.mark.parametrize(
    ("field", "value"),
    [("heads", 3), ("hidden", 0), ("levels", (8, 1)), ("action_dim", -1), ("max_frames", 0)],
)
def test_gpt_config_names_the_bad_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field if field != "heads" else "divisible by heads"):
        GPTConfig(**{field: value})


def test_ar_config_checks_sampling_defaults_and_text_width() -> None:
    with pytest.raises(ValueError, match="top_p"):
        ARConfig(top_p=0.0)
    with pytest.raises(ValueError, match="temperature"):
        ARConfig(temperature=-1.0)
    with pytest.raises(ValueError, match="text_dim"):
        ARConfig(text=TextEncoderConfig(dim=16))
    with pytest.raises(ValueError, match="unknown GPT preset"):
        get_config("GPT-huge")


def test_the_ar_model_takes_only_its_own_sampling_options() -> None:
    # Sampler steps and guidance belong to the diffusion family: WorldModel passes neither here.
    model = make_model()
    assert model.sample_options == {"temperature", "top_k", "top_p", "use_cache"}
    with pytest.raises(TypeError, match="steps"):
        model.sample((2, 6, 2, 4, 4), steps=8)

"""Token sampling: top-k and nucleus (top-p) filtering against their definitions, temperature, seeds."""

import itertools

import pytest
import torch

from worldmodel.autoregressive import sample_logits, top_k_filter, top_p_filter


def random_logits(seed: int, shape: tuple[int, ...] = (16, 7)) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * 2


@pytest.mark.parametrize("k", [1, 3, 6])
def test_top_k_keeps_exactly_the_k_largest_logits_unchanged(k: int) -> None:
    logits = random_logits(k)
    filtered = top_k_filter(logits, k)
    for row, out in zip(logits, filtered, strict=True):
        largest = set(row.argsort(descending=True)[:k].tolist())
        kept = {i for i, v in enumerate(out.tolist()) if v != float("-inf")}
        assert kept == largest
        assert torch.equal(out[sorted(kept)], row[sorted(kept)])


def test_top_k_of_zero_or_the_vocabulary_keeps_everything() -> None:
    logits = random_logits(0)
    assert torch.equal(top_k_filter(logits, 0), logits)
    assert torch.equal(top_k_filter(logits, 7), logits)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.6, 0.9, 0.999])
def test_top_p_keeps_the_smallest_most_probable_set_reaching_p(p: float) -> None:
    logits = random_logits(int(p * 1000))
    filtered = top_p_filter(logits, p)
    for row, out in zip(logits, filtered, strict=True):
        probs = row.softmax(0)
        # Definition: the smallest set of tokens with total probability >= p; among sets of that
        # size, the most probable one (brute force over every subset).
        best = None
        for size in range(1, len(row) + 1):
            sets = [s for s in itertools.combinations(range(len(row)), size) if probs[list(s)].sum() >= p]
            if sets:
                best = set(max(sets, key=lambda s: probs[list(s)].sum()))
                break
        kept = {i for i, v in enumerate(out.tolist()) if v != float("-inf")}
        assert kept == best


def test_top_p_of_one_keeps_everything_and_always_keeps_the_top_token() -> None:
    logits = random_logits(1)
    assert torch.equal(top_p_filter(logits, 1.0), logits)
    tiny = top_p_filter(logits, 1e-9)
    assert torch.equal(tiny.argmax(-1), logits.argmax(-1))
    assert (tiny.isfinite().sum(-1) == 1).all()


def test_samples_follow_the_tempered_softmax() -> None:
    logits = torch.tensor([[1.0, 0.0, -1.0, 2.0]]).expand(40000, -1)
    generator = torch.Generator().manual_seed(0)
    for temperature in (1.0, 2.0):
        draws = sample_logits(logits, temperature=temperature, generator=generator)
        freq = torch.bincount(draws, minlength=4).float() / len(draws)
        torch.testing.assert_close(freq, (logits[0] / temperature).softmax(0), atol=0.01, rtol=0)


def test_zero_temperature_is_greedy_and_filtered_tokens_are_never_drawn() -> None:
    logits = random_logits(2, (64, 7))
    assert torch.equal(sample_logits(logits, temperature=0.0), logits.argmax(-1))
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        draws = sample_logits(logits, top_k=2, generator=generator)
        allowed = logits.topk(2, dim=-1).indices
        assert (draws[:, None] == allowed).any(-1).all()


def test_sampling_is_reproducible_with_a_seeded_generator() -> None:
    logits = random_logits(3, (32, 7))

    def draw(seed: int) -> torch.Tensor:
        return sample_logits(logits, top_k=5, top_p=0.9, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(draw(0), draw(0))
    assert not torch.equal(draw(0), draw(1))

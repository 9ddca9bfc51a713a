"""Per-row generators: a batch whose rows each draw what a batch-1 call with their generator draws."""

import pytest
import torch

from worldmodel.generators import make_generators, multinomial, randn

CPU = torch.device("cpu")


def test_per_row_normal_noise_is_each_rows_batch_one_draw() -> None:
    batch = randn((3, 2, 4), make_generators([5, 6, 7], CPU), CPU)
    for row, seed in enumerate([5, 6, 7]):
        alone = randn((1, 2, 4), make_generators(seed, CPU), CPU)
        assert torch.equal(batch[row : row + 1], alone)


def test_one_generator_draws_the_whole_batch_as_torch_does() -> None:
    expected = torch.randn((3, 2), generator=torch.Generator().manual_seed(1))
    assert torch.equal(randn((3, 2), make_generators(1, CPU), CPU), expected)


def test_per_row_multinomial_draws_each_elements_rows_as_a_batch_one_call() -> None:
    probs = torch.rand(6, 9).softmax(-1)  # 3 elements x 2 rows each (e.g. FSQ digits)
    batch = multinomial(probs, make_generators([1, 2, 3], CPU))
    for element, seed in enumerate([1, 2, 3]):
        rows = probs[2 * element : 2 * element + 2]
        assert torch.equal(
            batch[2 * element : 2 * element + 2], multinomial(rows, make_generators(seed, CPU))
        )


def test_generators_must_match_the_batch() -> None:
    with pytest.raises(ValueError, match="2 generators for a batch of 3"):
        randn((3, 4), make_generators([1, 2], CPU), CPU)
    with pytest.raises(ValueError, match="equal groups"):
        multinomial(torch.ones(5, 2) / 2, make_generators([1, 2], CPU))

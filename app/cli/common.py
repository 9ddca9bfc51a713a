"""What every ``worldfm`` command shares: the errors printed without a traceback and the summary line."""

from __future__ import annotations

import os

from app.errors import UserError
from worldmodel.shipped import SHIPPED_CHECKPOINTS as DEFAULT_CHECKPOINTS

__all__ = ["DEFAULT_CHECKPOINTS", "UserError", "summary", "user_errors"]


def user_errors() -> tuple[type[BaseException], ...]:
    from curation.sample import SampleError
    from curation.shards import ShardError
    from curation.video_io import VideoError
    from training.data import DataError
    from worldmodel.hub import CheckpointError

    errors: list[type[BaseException]] = [
        UserError,
        VideoError,
        ShardError,
        SampleError,
        CheckpointError,
        DataError,
    ]
    try:
        from envs.sim.carla_backend import CarlaConnectionError

        errors.append(CarlaConnectionError)
    except ImportError:
        pass
    return tuple(errors)


def summary(message: str) -> None:
    # Under `accelerate launch` every process runs the command: one summary, from the main one.
    if int(os.environ.get("RANK", "0")) == 0:
        print(message, flush=True)

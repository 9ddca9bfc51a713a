"""SB3 and a cleanrl-style loop train on the learned env's batched vector env (envs.sb3)."""

from functools import partial
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

import envs  # noqa: F401 - registers worldfm/FetchPush-v0
from envs.world_env import WorldModelVectorEnv
from tests.pushed_square import SIZE
from worldmodel.world import WorldModel

pytest.importorskip("stable_baselines3")

from envs.sb3 import SB3VecEnv  # noqa: E402 - after the extra is known to be installed

NUM_ENVS = 4


def tiny_vector_env(
    world_dir: Path, autoreset_mode: AutoresetMode = AutoresetMode.SAME_STEP
) -> WorldModelVectorEnv:
    sim = partial(gym.make, "worldfm/FetchPush-v0", size=SIZE)
    return WorldModelVectorEnv(
        WorldModel.from_pretrained(world_dir),
        NUM_ENVS,
        sim_factory=sim,
        sampler_steps=1,
        max_episode_steps=8,
        autoreset_mode=autoreset_mode,
    )


def test_sb3_vec_env_steps_every_env_with_one_model_call(
    fetch_world: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv = SB3VecEnv(tiny_vector_env(fetch_world))
    calls = []
    predict = WorldModel.predict
    monkeypatch.setattr(
        WorldModel, "predict", lambda self, ctx, **kw: calls.append(len(ctx)) or predict(self, ctx, **kw)
    )
    venv.seed(3)
    obs = venv.reset()
    assert obs.shape == (NUM_ENVS, SIZE, SIZE, 3) and obs.dtype == np.uint8
    dones_seen = 0
    for _ in range(8):
        obs, rewards, dones, infos = venv.step(np.zeros((NUM_ENVS, 4), np.float32))
        dones_seen += int(dones.sum())
    assert calls == [NUM_ENVS] * 8  # one batched call per step, never one per env
    # The 8th step truncates every episode: SB3 sees the last frame and a time-limit end.
    assert dones.all() and dones_seen == NUM_ENVS
    assert all(i["TimeLimit.truncated"] and i["terminal_observation"].shape == (SIZE, SIZE, 3) for i in infos)
    assert rewards.shape == (NUM_ENVS,) and rewards.dtype == np.float32


def test_sb3_vec_env_refuses_a_vector_env_that_resets_on_the_next_step(fetch_world: Path) -> None:
    with pytest.raises(ValueError, match="SAME_STEP"):
        SB3VecEnv(tiny_vector_env(fetch_world, autoreset_mode=AutoresetMode.NEXT_STEP))


@pytest.mark.usefixtures("one_thread")
def test_sb3_ppo_learns_for_a_few_hundred_steps_on_the_batched_world_model(fetch_world: Path) -> None:
    from stable_baselines3 import PPO

    venv = SB3VecEnv(tiny_vector_env(fetch_world))
    model = PPO("MlpPolicy", venv, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=256)
    assert model.num_timesteps == 256
    action, _ = model.predict(venv.reset(), deterministic=True)
    assert action.shape == (NUM_ENVS, 4) and np.isfinite(action).all()


@pytest.mark.usefixtures("one_thread")
def test_cleanrl_style_ppo_loop_runs_on_the_native_vector_env(fetch_world: Path) -> None:
    """The loop of README's example: rollouts from the native vector env, GAE, one clipped update."""
    envs_ = tiny_vector_env(fetch_world, autoreset_mode=AutoresetMode.NEXT_STEP)
    obs_dim = int(np.prod(envs_.single_observation_space.shape))
    act_dim = envs_.single_action_space.shape[0]
    actor = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(obs_dim, act_dim))
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(obs_dim, 1))
    log_std = torch.nn.Parameter(torch.zeros(act_dim))
    params = [*actor.parameters(), *critic.parameters(), log_std]
    optimizer = torch.optim.Adam(params, lr=3e-4)
    num_steps, gamma, lam = 16, 0.99, 0.95
    obs, _ = envs_.reset(seed=0)
    total = 0
    for _ in range(4):  # 4 iterations x 16 steps x 4 envs = 256 steps
        buf_obs, buf_act, buf_logp, buf_rew, buf_done, buf_val = [], [], [], [], [], []
        done = np.zeros(NUM_ENVS, bool)
        for _ in range(num_steps):
            x = torch.as_tensor(obs, dtype=torch.float32) / 255.0
            with torch.no_grad():
                dist = torch.distributions.Normal(actor(x), log_std.exp())
                action = dist.sample()
                buf_logp.append(dist.log_prob(action).sum(-1))
                buf_val.append(critic(x)[:, 0])
            buf_obs.append(x)
            buf_act.append(action)
            buf_done.append(torch.as_tensor(done, dtype=torch.float32))
            obs, reward, terminated, truncated, _ = envs_.step(action.clamp(-1, 1).numpy())
            done = terminated | truncated
            buf_rew.append(torch.as_tensor(reward, dtype=torch.float32))
            total += NUM_ENVS
        with torch.no_grad():
            next_value = critic(torch.as_tensor(obs, dtype=torch.float32) / 255.0)[:, 0]
        advantages, last = torch.zeros(num_steps, NUM_ENVS), torch.zeros(NUM_ENVS)
        next_done = torch.as_tensor(done, dtype=torch.float32)
        for t in reversed(range(num_steps)):
            nonterminal = 1.0 - (next_done if t == num_steps - 1 else buf_done[t + 1])
            value_next = next_value if t == num_steps - 1 else buf_val[t + 1]
            delta = buf_rew[t] + gamma * value_next * nonterminal - buf_val[t]
            last = delta + gamma * lam * nonterminal * last
            advantages[t] = last
        returns = advantages + torch.stack(buf_val)
        x, a = torch.cat(buf_obs), torch.cat(buf_act)
        dist = torch.distributions.Normal(actor(x), log_std.exp())
        ratio = (dist.log_prob(a).sum(-1) - torch.cat(buf_logp)).exp()
        adv = advantages.reshape(-1)
        policy_loss = -torch.min(ratio * adv, ratio.clamp(0.8, 1.2) * adv).mean()
        value_loss = ((critic(x)[:, 0] - returns.reshape(-1)) ** 2).mean()
        optimizer.zero_grad()
        (policy_loss + 0.5 * value_loss).backward()
        optimizer.step()
        assert torch.isfinite(policy_loss) and torch.isfinite(value_loss)
    assert total == 256

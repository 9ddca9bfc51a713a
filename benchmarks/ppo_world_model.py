"""PPO in imagination: train a pixel policy inside a learned world model, evaluate it in the simulator.

    python benchmarks/ppo_world_model.py --wfm runs/fetch-wm --sim-id worldfm/FetchPush-v0
    python benchmarks/ppo_world_model.py --env-id worldfm/FetchPush-WM-v0   # a shipped checkpoint

One file in the style of cleanrl's ``ppo_continuous_action.py`` (PPO: Schulman et al. 2017,
arXiv 1707.06347; GAE: arXiv 1506.02438): ``Args``, a ``make_env`` thunk, the ``Agent``, then
the main block. The environment is a batched ``WorldModelVectorEnv`` (``gym.make_vec(id,
vectorization_mode="vector_entry_point")`` for a registered world model), rewarded by the
checkpoint's learned reward head (``worldfm train reward``) and started from simulator renders.
Every training step is imagined; only the final evaluation touches the simulator, where the
trained policy acts on rendered frames beside a random policy on the same start states.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from torch import nn
from torch.distributions.normal import Normal

from envs.evaluate import simulator_rollout
from envs.learned_reward import LearnedReward
from envs.registration import checkpoint_simulator, register_envs
from envs.world_env import RewardFn, WorldModelVectorEnv
from worldmodel.world import WorldModel


@dataclass
class Args:
    env_id: str | None = None
    """a registered learned env (``worldfm/<Task>-WM-v0``, a shipped checkpoint); or give --wfm"""
    wfm: str | None = None
    """a world-model checkpoint folder instead of --env-id"""
    sim_id: str | None = None
    """the ground-truth simulator (start states, evaluation); default: the learned env's own"""
    seed: int = 1
    """seed of the experiment"""
    torch_deterministic: bool = True
    """sets ``torch.backends.cudnn.deterministic``"""
    cuda: bool = True
    """use CUDA when available"""
    total_timesteps: int = 20_000
    """imagined environment steps in total"""
    learning_rate: float = 3e-4
    """Adam learning rate"""
    num_envs: int = 16
    """parallel imagined rollouts: one batched world-model call advances all of them"""
    num_steps: int = 32
    """steps per rollout per policy update"""
    anneal_lr: bool = True
    """anneal the learning rate linearly to 0"""
    gamma: float = 0.99
    """discount factor"""
    gae_lambda: float = 0.95
    """lambda of generalised advantage estimation"""
    num_minibatches: int = 4
    """minibatches per update epoch"""
    update_epochs: int = 4
    """epochs over each batch"""
    norm_adv: bool = True
    """normalise advantages per minibatch"""
    clip_coef: float = 0.2
    """surrogate clipping coefficient"""
    clip_vloss: bool = True
    """clip the value loss as the policy loss is"""
    ent_coef: float = 0.0
    """entropy bonus"""
    vf_coef: float = 0.5
    """value loss coefficient"""
    max_grad_norm: float = 0.5
    """gradient clipping norm"""
    target_kl: float | None = None
    """stop an update early past this approximate KL"""
    sampler_steps: int = 4
    """diffusion sampler steps per imagined frame (fewer: faster, blurrier)"""
    max_episode_steps: int = 50
    """imagined episode length"""
    eval_episodes: int = 10
    """simulator episodes for the final evaluation (each policy, same starts)"""
    eval_steps: int = 50
    """steps per evaluation episode"""

    def __post_init__(self) -> None:
        if (self.env_id is None) == (self.wfm is None):
            raise ValueError(
                "give exactly one of --env-id (a registered learned env) and --wfm (a checkpoint)"
            )
        if self.wfm is not None and self.sim_id is None:
            raise ValueError("--wfm needs --sim-id, the simulator that starts and evaluates episodes")
        if self.batch_size % self.num_minibatches:
            raise ValueError(f"num_envs * num_steps = {self.batch_size} must divide by num_minibatches")

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_iterations(self) -> int:
        return max(1, self.total_timesteps // self.batch_size)


def parse_args() -> Args:
    """``Args`` from the command line: one ``--kebab-case`` option per field (what cleanrl gets from tyro)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    types = {"int": int, "float": float, "str": str, "str | None": str, "float | None": float}
    for f in dataclasses.fields(Args):
        name = "--" + f.name.replace("_", "-")
        if f.type == "bool":
            parser.add_argument(name, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            parser.add_argument(name, type=types[f.type], default=f.default)
    try:
        return Args(**vars(parser.parse_args()))
    except ValueError as e:
        parser.error(str(e))


def checkpoint_and_simulator(args: Args) -> tuple[str, str]:
    """The world-model checkpoint folder and the simulator id of the run."""
    if args.wfm is not None:
        return args.wfm, args.sim_id
    checkpoint = gym.spec(args.env_id).kwargs["checkpoint"]
    sim = None if args.sim_id else checkpoint_simulator(checkpoint)
    if args.sim_id is None and sim is None:
        raise ValueError(f"{args.env_id} names no simulator; pass --sim-id")
    return checkpoint, args.sim_id or sim["id"]


def make_env(
    args: Args, world: WorldModel, reward_fn: RewardFn, device: str
) -> Callable[[], gym.vector.VectorEnv]:
    """A thunk building the batched learned env: the registered one for --env-id, else one on ``world``.

    ``SAME_STEP`` autoreset returns the next episode's first frame on the step an episode ends, the
    classic convention the GAE loop below assumes (no reset step whose action is ignored).
    """

    def thunk() -> gym.vector.VectorEnv:
        common = {
            "reward_fn": reward_fn,
            "sampler_steps": args.sampler_steps,
            "max_episode_steps": args.max_episode_steps,
            "autoreset_mode": AutoresetMode.SAME_STEP,
        }
        if args.env_id is not None:
            return gym.make_vec(
                args.env_id,
                num_envs=args.num_envs,
                vectorization_mode="vector_entry_point",
                device=device,
                **common,
            )
        sim_factory = partial(gym.make, args.sim_id, size=world.frame_size[0])
        return WorldModelVectorEnv(world, args.num_envs, sim_factory=sim_factory, **common)

    return thunk


def layer_init(layer: nn.Module, std: float = np.sqrt(2), bias_const: float = 0.0) -> nn.Module:
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias_const)
    return layer


class Agent(nn.Module):
    """A small CNN shared by a Gaussian actor and a critic, on uint8 (B, H, W, 3) frames."""

    def __init__(self, frame_size: int, action_dim: int) -> None:
        super().__init__()
        side = frame_size // 8
        self.encoder = nn.Sequential(
            layer_init(nn.Conv2d(3, 16, 4, stride=2, padding=1)),  # (B, 16, H/2, W/2)
            nn.ReLU(),
            layer_init(nn.Conv2d(16, 32, 4, stride=2, padding=1)),  # (B, 32, H/4, W/4)
            nn.ReLU(),
            layer_init(nn.Conv2d(32, 32, 4, stride=2, padding=1)),  # (B, 32, H/8, W/8)
            nn.ReLU(),
            nn.Flatten(),
            layer_init(nn.Linear(32 * side * side, 256)),
            nn.ReLU(),
        )
        self.critic = layer_init(nn.Linear(256, 1), std=1.0)
        self.actor_mean = layer_init(nn.Linear(256, action_dim), std=0.01)
        self.actor_logstd = nn.Parameter(torch.zeros(1, action_dim))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x.permute(0, 3, 1, 2).float() / 255.0)  # (B, 256)

    def get_value(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(self.features(x))

    def get_action_and_value(
        self, x: torch.Tensor, action: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden = self.features(x)
        action_mean = self.actor_mean(hidden)
        probs = Normal(action_mean, self.actor_logstd.expand_as(action_mean).exp())
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action).sum(1), probs.entropy().sum(1), self.critic(hidden)


class AgentPolicy:
    """The trained agent's mean action on the simulator's rendered frame (it never sees Fetch's state)."""

    def __init__(self, agent: Agent, sim: gym.Env, device: torch.device) -> None:
        self.agent, self.sim, self.device = agent, sim, device

    def reset(self) -> None:
        pass

    @torch.no_grad()
    def __call__(self, obs: object) -> np.ndarray:
        frame = torch.from_numpy(self.sim.render()[None]).to(self.device)
        return self.agent.actor_mean(self.agent.features(frame))[0].cpu().numpy()


class RandomPolicy:
    """Uniform actions in the world model's action box: the baseline."""

    def __init__(self, space: gym.spaces.Box, rng: np.random.Generator) -> None:
        self.space, self.rng = space, rng

    def reset(self) -> None:
        pass

    def __call__(self, obs: object) -> np.ndarray:
        return self.rng.uniform(self.space.low, self.space.high).astype(np.float32)


def evaluate_in_simulator(
    agent: Agent, args: Args, sim_id: str, world: WorldModel, space: gym.spaces.Box, device: torch.device
) -> dict[str, dict[str, float]]:
    """Success rate and mean return of the agent and of random actions, from the same simulator starts.

    Episodes start as the learned env's do (``world.context_frames`` frames rendered after the reset).
    """
    sim = gym.make(sim_id, size=world.frame_size[0])
    policies = {
        "PPO (trained in the world model)": AgentPolicy(agent, sim, device),
        "random": RandomPolicy(space, np.random.default_rng(args.seed)),
    }
    results = {name: {"returns": [], "success": []} for name in policies}
    try:
        for i in range(args.eval_episodes):
            for name, policy in policies.items():
                rollout = simulator_rollout(
                    sim,
                    policy,
                    np.random.default_rng([args.seed, i]),
                    context_frames=world.context_frames,
                    horizon=args.eval_steps,
                    action_space=space,
                )
                results[name]["returns"].append(float(rollout.rewards.sum()))
                results[name]["success"].append(rollout.success)
    finally:
        sim.close()
    return {
        name: {"success_rate": float(np.mean(r["success"])), "mean_return": float(np.mean(r["returns"]))}
        for name, r in results.items()
    }


if __name__ == "__main__":
    args = parse_args()
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")

    # env setup
    register_envs()
    checkpoint, sim_id = checkpoint_and_simulator(args)
    reward_fn = LearnedReward.from_checkpoint(checkpoint, device=str(device))
    world = reward_fn.world
    frame_size = world.frame_size[0]
    envs = make_env(args, world, reward_fn, str(device))()
    assert isinstance(envs.single_action_space, gym.spaces.Box), "only continuous actions are supported"
    obs_shape, action_dim = envs.single_observation_space.shape, envs.single_action_space.shape[0]

    agent = Agent(frame_size, action_dim).to(device)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)

    # ALGO Logic: Storage setup
    obs = torch.zeros((args.num_steps, args.num_envs, *obs_shape), dtype=torch.uint8, device=device)
    actions = torch.zeros((args.num_steps, args.num_envs, action_dim), device=device)
    logprobs = torch.zeros((args.num_steps, args.num_envs), device=device)
    rewards = torch.zeros((args.num_steps, args.num_envs), device=device)
    dones = torch.zeros((args.num_steps, args.num_envs), device=device)
    values = torch.zeros((args.num_steps, args.num_envs), device=device)

    # TRY NOT TO MODIFY: start the game
    global_step = 0
    start_time = time.time()
    next_obs, _ = envs.reset(seed=args.seed)
    next_obs = torch.from_numpy(next_obs).to(device)
    next_done = torch.zeros(args.num_envs, device=device)
    episode_return = np.zeros(args.num_envs)
    finished_returns: list[float] = []

    for iteration in range(1, args.num_iterations + 1):
        if args.anneal_lr:
            frac = 1.0 - (iteration - 1.0) / args.num_iterations
            optimizer.param_groups[0]["lr"] = frac * args.learning_rate

        for step in range(args.num_steps):
            global_step += args.num_envs
            obs[step] = next_obs
            dones[step] = next_done

            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(next_obs)
                values[step] = value.flatten()
            actions[step] = action
            logprobs[step] = logprob

            # The env clips actions into the model's box (what it was trained on).
            next_obs, reward, terminations, truncations, _ = envs.step(action.cpu().numpy())
            done = np.logical_or(terminations, truncations)
            rewards[step] = torch.as_tensor(reward, dtype=torch.float32, device=device)
            next_obs = torch.from_numpy(next_obs).to(device)
            next_done = torch.as_tensor(done, dtype=torch.float32, device=device)
            episode_return += reward
            finished_returns += episode_return[done].tolist()
            episode_return[done] = 0.0

        # bootstrap value if not done
        with torch.no_grad():
            next_value = agent.get_value(next_obs).reshape(1, -1)
            advantages = torch.zeros_like(rewards)
            lastgaelam = 0
            for t in reversed(range(args.num_steps)):
                if t == args.num_steps - 1:
                    nextnonterminal = 1.0 - next_done
                    nextvalues = next_value
                else:
                    nextnonterminal = 1.0 - dones[t + 1]
                    nextvalues = values[t + 1]
                delta = rewards[t] + args.gamma * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = (
                    delta + args.gamma * args.gae_lambda * nextnonterminal * lastgaelam
                )
            returns = advantages + values

        # flatten the batch
        b_obs = obs.reshape((-1, *obs_shape))
        b_logprobs = logprobs.reshape(-1)
        b_actions = actions.reshape((-1, action_dim))
        b_advantages = advantages.reshape(-1)
        b_returns = returns.reshape(-1)
        b_values = values.reshape(-1)

        # Optimizing the policy and value network
        b_inds = np.arange(args.batch_size)
        clipfracs = []
        for _ in range(args.update_epochs):
            np.random.shuffle(b_inds)
            for start in range(0, args.batch_size, args.minibatch_size):
                mb_inds = b_inds[start : start + args.minibatch_size]

                _, newlogprob, entropy, newvalue = agent.get_action_and_value(
                    b_obs[mb_inds], b_actions[mb_inds]
                )
                logratio = newlogprob - b_logprobs[mb_inds]
                ratio = logratio.exp()

                with torch.no_grad():
                    # calculate approx_kl http://joschu.net/blog/kl-approx.html
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfracs += [((ratio - 1.0).abs() > args.clip_coef).float().mean().item()]

                mb_advantages = b_advantages[mb_inds]
                if args.norm_adv and len(mb_inds) > 1:
                    mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)

                # Policy loss
                pg_loss1 = -mb_advantages * ratio
                pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - args.clip_coef, 1 + args.clip_coef)
                pg_loss = torch.max(pg_loss1, pg_loss2).mean()

                # Value loss
                newvalue = newvalue.view(-1)
                if args.clip_vloss:
                    v_loss_unclipped = (newvalue - b_returns[mb_inds]) ** 2
                    v_clipped = b_values[mb_inds] + torch.clamp(
                        newvalue - b_values[mb_inds], -args.clip_coef, args.clip_coef
                    )
                    v_loss_clipped = (v_clipped - b_returns[mb_inds]) ** 2
                    v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
                else:
                    v_loss = 0.5 * ((newvalue - b_returns[mb_inds]) ** 2).mean()

                entropy_loss = entropy.mean()
                loss = pg_loss - args.ent_coef * entropy_loss + v_loss * args.vf_coef

                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()

            if args.target_kl is not None and approx_kl > args.target_kl:
                break

        recent = finished_returns[-args.num_envs :]
        print(
            f"iteration {iteration}/{args.num_iterations} global_step={global_step} "
            f"charts/episodic_return={np.mean(recent) if recent else float('nan'):.3f} "
            f"losses/value_loss={v_loss.item():.4f} losses/policy_loss={pg_loss.item():.4f} "
            f"losses/approx_kl={approx_kl.item():.4f} losses/clipfrac={np.mean(clipfracs):.3f} "
            f"charts/SPS={int(global_step / (time.time() - start_time))}",
            flush=True,
        )
    envs.close()

    agent.eval()
    results = evaluate_in_simulator(agent, args, sim_id, world, envs.single_action_space, device)
    print(
        f"\n| {args.eval_episodes} {sim_id} episodes x {args.eval_steps} steps | success rate | mean return |"
    )
    print("|---|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['success_rate']:.0%} | {r['mean_return']:.2f} |")
    print(f"trained on {global_step} imagined steps in {time.time() - start_time:.0f} s", flush=True)

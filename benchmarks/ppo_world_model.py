"""PPO in imagination: train a policy inside a learned world model, evaluate it in the simulator.

    python benchmarks/ppo_world_model.py --wfm runs/fetch-wm --sim-id worldfm/FetchPush-v0
    python benchmarks/ppo_world_model.py --env-id worldfm/FetchPush-WM-v0   # a shipped checkpoint
    python benchmarks/ppo_world_model.py --env-id worldfm/FetchPush-WM-v0 --obs-mode latent \\
        --init-bc runs/bc --objective progress --json ppo.json   # from a `worldfm train bc` policy

One file in the style of cleanrl's ``ppo_continuous_action.py`` (PPO: Schulman et al. 2017,
arXiv 1707.06347; GAE: arXiv 1506.02438): ``Args``, a ``make_env`` thunk, the ``Agent``, then
the main block. The environment is a batched ``WorldModelVectorEnv`` (``gym.make_vec(id,
vectorization_mode="vector_entry_point")`` for a registered world model), rewarded by the
checkpoint's learned reward head (``worldfm train reward``) and started from simulator renders.
Every training step is imagined; only the final evaluation touches the simulator, where the
trained policy acts on rendered frames beside a random policy (and, on Fetch, the scripted expert
acting on the true state) on the same held-out start states (``--eval-seed``).

``--obs-mode latent`` trains in the learned env's latent mode: observations are the model's latent
frames (one batched ``rollout_latents`` call per step, nothing decoded) and the agent is a
``worldmodel.policies.LatentPolicy``, which in the simulator acts on the rendered frames encoded by
the model's tokenizer (``envs.latent_policy``). ``--init-bc`` starts its actor from a behaviour-cloned
policy (``worldfm train bc``), evaluated alone beside it: the baseline the imagination must beat;
``--bc-coef`` keeps the actor's mean near that policy's where the model is unreliable (a behaviour
prior, as in offline RL). ``--objective progress`` rewards the head's dense task progress.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
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

from envs.evaluate import EXPERTS, PolicyFactory
from envs.latent_policy import LatentPolicyController, evaluate_in_simulator, load_latent_policy
from envs.learned_reward import LearnedReward
from envs.registration import checkpoint_simulator, register_envs
from envs.world_env import OBS_MODES, RewardFn, WorldModelVectorEnv
from worldmodel import hub
from worldmodel.atomic import atomic_write_text
from worldmodel.heads import latent_norm_record
from worldmodel.policies import LatentPolicy, LatentPolicyConfig
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
    eval_seed: int = 10_000
    """seed of the evaluation's simulator starts: held out from training's (drawn from --seed) and
    from recorded data's (``worldfm simulate fetch --seed``)"""
    obs_mode: str = "pixels"
    """"pixels" (a CNN on decoded frames) or "latent" (a LatentPolicy on the model's latent frames)"""
    objective: str = "reward"
    """what the learned head pays: its task "reward" or its dense "progress" (heads with --progress)"""
    init_bc: str | None = None
    """a behaviour-cloned LatentPolicy checkpoint (``worldfm train bc``) to start the actor from
    (latent mode); it is also evaluated alone"""
    bc_coef: float = 0.0
    """weight of the squared distance of the actor's mean to the --init-bc policy's (0: off)"""
    hidden: int = 32
    """width of a fresh LatentPolicy (latent mode without --init-bc)"""
    save_policy: str | None = None
    """save the trained LatentPolicy here (latent mode), a hub checkpoint like ``worldfm train bc``'s"""
    json: str | None = None
    """write the settings and the evaluation (success rate, mean return per policy) to this file"""

    def __post_init__(self) -> None:
        if (self.env_id is None) == (self.wfm is None):
            raise ValueError(
                "give exactly one of --env-id (a registered learned env) and --wfm (a checkpoint)"
            )
        if self.wfm is not None and self.sim_id is None:
            raise ValueError("--wfm needs --sim-id, the simulator that starts and evaluates episodes")
        if self.obs_mode not in OBS_MODES:
            raise ValueError(f"obs_mode must be one of {list(OBS_MODES)}, got {self.obs_mode!r}")
        if self.objective not in ("reward", "progress"):
            raise ValueError(f"objective must be 'reward' or 'progress', got {self.objective!r}")
        if self.obs_mode != "latent" and (self.init_bc or self.save_policy):
            raise ValueError("--init-bc and --save-policy need --obs-mode latent (a LatentPolicy)")
        if self.bc_coef < 0 or (self.bc_coef > 0 and not self.init_bc):
            raise ValueError(f"--bc-coef must be >= 0 and needs --init-bc when > 0, got {self.bc_coef}")
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
            "obs_mode": args.obs_mode,
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

    def mean(self, x: torch.Tensor) -> torch.Tensor:
        return self.actor_mean(self.features(x))

    def get_action_and_value(
        self, x: torch.Tensor, action: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        hidden = self.features(x)
        action_mean = self.actor_mean(hidden)
        probs = Normal(action_mean, self.actor_logstd.expand_as(action_mean).exp())
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action).sum(1), probs.entropy().sum(1), self.critic(hidden)


class LatentAgent(nn.Module):
    """A ``LatentPolicy`` behind the PPO loop's interface, on float32 (B, C, h, w) latent frames."""

    def __init__(self, policy: LatentPolicy) -> None:
        super().__init__()
        if policy.config.frames != 1:
            raise ValueError(
                f"the latent env observes one latent frame; this policy reads {policy.config.frames} "
                "(clone it with `worldfm train bc --frames 1`)"
            )
        self.policy = policy

    def get_value(self, x: torch.Tensor) -> torch.Tensor:
        return self.policy.value(x)[:, None]

    def mean(self, x: torch.Tensor) -> torch.Tensor:
        return self.policy(x)

    def get_action_and_value(
        self, x: torch.Tensor, action: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        probs = self.policy.distribution(x)
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action).sum(1), probs.entropy().sum(1), self.policy.value(x)


def make_agent(args: Args, world: WorldModel, device: torch.device) -> tuple[nn.Module, LatentPolicy | None]:
    """The agent, and the frozen behaviour-cloned policy it starts from (``--init-bc``; else None)."""
    if args.obs_mode == "pixels":
        return Agent(world.frame_size[0], world.action_dim).to(device), None
    if args.init_bc is None:
        c, h, w = world.latent_shape
        box = world.info.action_space
        config = LatentPolicyConfig(
            latent_channels=c,
            latent_size=(h, w),
            action_dim=world.action_dim,
            action_low=list(box.low),
            action_high=list(box.high),
            hidden=args.hidden,
        )
        return LatentAgent(LatentPolicy(config)).to(device), None
    bc = load_latent_policy(args.init_bc, world, device=device).requires_grad_(False)
    return LatentAgent(copy.deepcopy(bc).requires_grad_(True).train()), bc


class AgentPolicy:
    """The pixel agent's mean action on the simulator's rendered frame (it never sees Fetch's state)."""

    def __init__(self, agent: Agent, sim: gym.Env, device: torch.device) -> None:
        self.agent, self.sim, self.device = agent, sim, device

    def reset(self) -> None:
        pass

    @torch.no_grad()
    def __call__(self, obs: object) -> np.ndarray:
        frame = torch.from_numpy(self.sim.render()[None]).to(self.device)
        return self.agent.mean(frame)[0].cpu().numpy()


class RandomPolicy:
    """Uniform actions in the world model's action box: the baseline."""

    def __init__(self, space: gym.spaces.Box, rng: np.random.Generator) -> None:
        self.space, self.rng = space, rng

    def reset(self) -> None:
        pass

    def __call__(self, obs: object) -> np.ndarray:
        return self.rng.uniform(self.space.low, self.space.high).astype(np.float32)


def simulator_policies(
    agent: nn.Module,
    bc: LatentPolicy | None,
    sim: gym.Env,
    world: WorldModel,
    space: gym.spaces.Box,
    device: torch.device,
) -> dict[str, PolicyFactory]:
    """The policies the final evaluation runs in ``sim``: the trained agent, the behaviour-cloned
    policy alone (``--init-bc``), random actions and, on a Fetch task, the scripted expert."""
    if isinstance(agent, LatentAgent):
        trained = LatentPolicyController(agent.policy.eval(), world, render=sim.render)
    else:
        trained = AgentPolicy(agent, sim, device)
    policies: dict[str, PolicyFactory] = {"PPO (trained in the world model)": lambda rng: trained}
    if bc is not None:
        cloned = LatentPolicyController(bc.eval(), world, render=sim.render)
        policies["BC alone (its initialisation)"] = lambda rng: cloned
    policies["random"] = lambda rng: RandomPolicy(space, rng)
    task = getattr(sim.unwrapped, "task", None)
    if task in EXPERTS:
        policies["expert (scripted, on the true state)"] = lambda rng: EXPERTS[task](rng)
    return policies


def ppo(
    args: Args,
    envs: gym.vector.VectorEnv,
    agent: nn.Module,
    device: torch.device,
    *,
    bc: LatentPolicy | None = None,
) -> list[float]:
    """Train ``agent`` by PPO on ``envs`` for ``args.num_iterations``; returns, per iteration, the
    mean return of the imagined episodes that ended in it (NaN where none did)."""
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)
    obs_shape, action_dim = envs.single_observation_space.shape, envs.single_action_space.shape[0]
    obs_dtype = torch.uint8 if args.obs_mode == "pixels" else torch.float32

    # ALGO Logic: Storage setup
    obs = torch.zeros((args.num_steps, args.num_envs, *obs_shape), dtype=obs_dtype, device=device)
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
    curve: list[float] = []

    for iteration in range(1, args.num_iterations + 1):
        if args.anneal_lr:
            frac = 1.0 - (iteration - 1.0) / args.num_iterations
            optimizer.param_groups[0]["lr"] = frac * args.learning_rate
        finished_returns: list[float] = []

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
        if bc is not None and args.bc_coef > 0:
            with torch.no_grad():
                b_bc_means = bc(b_obs)  # (batch, A): the behaviour prior's actions on this batch

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
                if bc is not None and args.bc_coef > 0:
                    bc_loss = ((agent.mean(b_obs[mb_inds]) - b_bc_means[mb_inds]) ** 2).sum(1).mean()
                    loss = loss + args.bc_coef * bc_loss

                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()

            if args.target_kl is not None and approx_kl > args.target_kl:
                break

        curve.append(float(np.mean(finished_returns)) if finished_returns else float("nan"))
        print(
            f"iteration {iteration}/{args.num_iterations} global_step={global_step} "
            f"charts/episodic_return={curve[-1]:.3f} "
            f"losses/value_loss={v_loss.item():.4f} losses/policy_loss={pg_loss.item():.4f} "
            f"losses/approx_kl={approx_kl.item():.4f} losses/clipfrac={np.mean(clipfracs):.3f} "
            f"charts/SPS={int(global_step / (time.time() - start_time))}",
            flush=True,
        )
    return curve


if __name__ == "__main__":
    args = parse_args()
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.deterministic = args.torch_deterministic
    device = torch.device("cuda" if torch.cuda.is_available() and args.cuda else "cpu")

    # env setup
    register_envs()
    checkpoint, sim_id = checkpoint_and_simulator(args)
    reward_fn = LearnedReward.from_checkpoint(
        checkpoint, device=str(device), objective=args.objective, obs_mode=args.obs_mode
    )
    world = reward_fn.world
    envs = make_env(args, world, reward_fn, str(device))()
    assert isinstance(envs.single_action_space, gym.spaces.Box), "only continuous actions are supported"
    agent, bc = make_agent(args, world, device)

    start_time = time.time()
    curve = ppo(args, envs, agent, device, bc=bc)
    train_seconds = time.time() - start_time
    envs.close()
    imagined = args.num_iterations * args.batch_size
    if args.save_policy is not None:  # before the evaluation, which may take long: the training is kept
        extra = {**latent_norm_record(world), "wfm": str(checkpoint), "trained_in": "imagination (PPO)"}
        hub.save(agent.policy, args.save_policy, extra={**extra, "imagined_steps": imagined})

    agent.eval()
    sim = gym.make(sim_id, size=world.frame_size[0])
    try:
        results = evaluate_in_simulator(
            sim,
            simulator_policies(agent, bc, sim, world, envs.single_action_space, device),
            episodes=args.eval_episodes,
            steps=args.eval_steps,
            seed=args.eval_seed,
            context_frames=world.context_frames,
            action_space=envs.single_action_space,
        )
    finally:
        sim.close()
    print(
        f"\n| {args.eval_episodes} {sim_id} episodes x {args.eval_steps} steps | success rate | mean return |"
    )
    print("|---|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['success_rate']:.0%} | {r['mean_return']:.2f} |")
    print(f"trained on {imagined} imagined steps in {train_seconds:.0f} s", flush=True)
    if args.json is not None:
        report = {
            "settings": dataclasses.asdict(args),
            "checkpoint": str(checkpoint),
            "sim_id": sim_id,
            "imagined_steps": imagined,
            "train_seconds": train_seconds,
            "imagined_return_per_iteration": curve,
            "results": results,
        }
        atomic_write_text(args.json, json.dumps(report, indent=2))

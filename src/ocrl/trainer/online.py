"""Online GRPO baseline: TRL's GRPOTrainer, rewarded by ocrl's sandbox.

The comparison the paper makes is offline RL (learn from logged, already-judged samples)
against online RL (generate fresh samples and execute them at every step). This module is
the online side, with everything but the sampling held equal: the same training problems (the
``train`` split of a dataset written by `ocrl prepare`), the same prompt format, and the same
reward schema (`ocrl.rewards`: functional + syntactic + runtime rank among a group's accepted
samples), computed by judging every generated completion in the sandbox — never in-process.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ocrl.errors import InputError
from ocrl.problems import Problem
from ocrl.rewards import RewardConfig, RewardParts, custom_rewards, parses, score_problem
from ocrl.sandbox.programs import assert_program

if TYPE_CHECKING:
    from ocrl.trainer.config import OcrlOnlineGRPOConfig

logger = logging.getLogger(__name__)


def program_parses(problem: Problem, completion: str) -> bool:
    """The syntactic part looks at what the judge runs, as `ocrl prepare` does: the whole
    assert program for HumanEval-style problems, the program itself for stdio ones."""
    if problem.style == "assert" and problem.test and problem.entry_point:
        return parses(assert_program(problem.prompt, completion, problem.test,
                                     problem.entry_point))
    if problem.style == "assert":
        return parses(problem.prompt + completion)
    return parses(completion)


def score_batch(task_ids: Sequence[str], statuses: Sequence[str], parse_ok: Sequence[bool],
                cpu_times_ms: Sequence[float | None], config: RewardConfig,
                tests_passed: Sequence[int | None] | None = None,
                tests_total: Sequence[int | None] | None = None,
                time_limits_ms: dict[str, float | None] | None = None,
                custom: Sequence[float] | None = None) -> list[RewardParts]:
    """Reward parts of a batch of judged completions, in batch order. Completions of the same
    problem form one group (GRPO samples ``num_generations`` per prompt), so the runtime part
    ranks each accepted completion among its group's accepted ones, exactly as offline."""
    n = len(task_ids)
    tests_passed = list(tests_passed or [None] * n)
    tests_total = list(tests_total or [None] * n)
    custom = list(custom or [0.0] * n)
    members: dict[str, list[int]] = defaultdict(list)
    for index, task_id in enumerate(task_ids):
        members[task_id].append(index)
    parts: list[RewardParts | None] = [None] * n
    for task_id, indices in members.items():
        scored = score_problem([statuses[i] for i in indices], [parse_ok[i] for i in indices],
                               [cpu_times_ms[i] for i in indices], config,
                               [tests_passed[i] for i in indices],
                               [tests_total[i] for i in indices],
                               (time_limits_ms or {}).get(task_id),
                               [custom[i] for i in indices])
        for i, part in zip(indices, scored):
            parts[i] = part
    return parts  # type: ignore[return-value]


class SandboxReward:
    """A TRL reward function: judges each completion in ocrl's sandbox and scores it with the
    reward schema of `ocrl prepare`. TRL calls it with the prompts, the generated texts and the
    dataset's other columns (``task_id`` here) as keyword arguments."""

    __name__ = "sandbox_reward"  # TRL logs each reward function under its __name__

    def __init__(self, problems: Sequence[Problem], *, prompt_format: str,
                 reward: RewardConfig | None = None, timeout_s: float = 3.0,
                 memory_mb: int = 1024, workers: int | None = None, judge=None):
        self.problems = {p.task_id: p for p in problems}
        self.prompt_format = prompt_format
        self.reward = reward or RewardConfig()
        self.timeout_s, self.memory_mb, self.workers = timeout_s, memory_mb, workers
        self._judge = judge
        self._owns_judge = judge is None
        self.judge_seconds = 0.0  # sandbox wall time, summed over calls
        self.calls = 0
        self.last_parts: list[RewardParts] = []
        self.last_statuses: list[str] = []

    def _get_judge(self):
        if self._judge is None:
            from ocrl.sandbox import Judge, Limits

            kwargs: dict[str, Any] = {"limits": Limits(timeout_s=self.timeout_s,
                                                       memory_mb=self.memory_mb)}
            if self.workers:
                kwargs["workers"] = self.workers
            self._judge = Judge(**kwargs).__enter__()
        return self._judge

    def close(self) -> None:
        if self._judge is not None and self._owns_judge:
            self._judge.__exit__(None, None, None)
            self._judge = None

    def code_of(self, problem: Problem, generated: Any) -> str:
        """The completion the judge runs, extracted as `ocrl eval` extracts it."""
        from ocrl import prompting

        if isinstance(generated, list):  # conversational: the assistant message(s)
            generated = "".join(m.get("content", "") for m in generated if isinstance(m, dict))
        return prompting.extract_code(generated, problem.prompt, self.prompt_format,
                                      problem.style)

    def __call__(self, prompts=None, completions=None, task_id=None, **_: Any) -> list[float]:
        if completions is None or task_id is None:
            raise InputError("the GRPO dataset needs a task_id column next to prompt",
                             field="task_id")
        missing = sorted({t for t in task_id if t not in self.problems})
        if missing:
            raise InputError(f"no problem for task_id {missing[0]!r}", field="task_id")
        problems = [self.problems[t] for t in task_id]
        codes = [self.code_of(p, c) for p, c in zip(problems, completions)]
        started = time.perf_counter()
        verdicts: list[Any] = [None] * len(codes)
        for index, verdict in self._get_judge().judge_many(list(zip(problems, codes))):
            verdicts[index] = verdict
        self.judge_seconds += time.perf_counter() - started
        self.calls += 1
        custom = None
        if self.reward.functions:  # the user's terms, as `ocrl prepare` applies them
            custom = custom_rewards(self.reward, [p.prompt for p in problems], codes,
                                    [v.to_dict() for v in verdicts], task_id=list(task_id))
        parts = score_batch(
            list(task_id), [v.status for v in verdicts],
            [program_parses(p, c) for p, c in zip(problems, codes)],
            [v.cpu_time_ms for v in verdicts], self.reward,
            [v.tests_passed for v in verdicts], [v.tests_total for v in verdicts],
            {p.task_id: p.time_limit_ms for p in problems}, custom)
        self.last_parts = parts
        self.last_statuses = [v.status for v in verdicts]
        return [part.reward for part in parts]


def grpo_dataset(problems: Sequence[Problem], tokenizer, prompt_format: str):
    """One row per training problem: the prompt text as `ocrl eval` builds it, and task_id.
    Prompts are given as ready text so training, offline RL and evaluation see the same
    conditioning (TRL would otherwise apply the chat template its own way)."""
    from datasets import Dataset

    from ocrl import prompting

    return Dataset.from_list([
        {"prompt": prompting.build_prompt(tokenizer, p.prompt, prompt_format, p.style),
         "task_id": p.task_id} for p in problems])


# ocrl's names for the algorithm -> TRL GRPOConfig's. TRL's advantage is r - mean(group),
# divided by the group's std + 1e-4 with scale_rewards="group": that is ocrl's grpo exactly,
# and (k-1)/k times rloo (rloo_std with "group"). A constant factor on every advantage does not
# change an Adam update (beyond eps), so those two map as well. Every group online has
# num_generations completions, so group_mean and sequence_mean are the same there.
ONLINE_ADVANTAGE = {"grpo": "group", "rloo": "none", "rloo_std": "group"}
ONLINE_AGGREGATION = {"token_mean": "dapo", "sequence_mean": "grpo", "group_mean": "grpo",
                      "sum_over_max_length": "dr_grpo"}


def online_algorithm_settings(args: OcrlOnlineGRPOConfig) -> dict[str, Any]:
    """GRPOConfig's settings for ocrl's advantage, aggregation, KL and clipping flags; a
    setting TRL cannot honour is refused, never dropped. (Offline RL's advantage_clip and
    zero_advantage have no TRL counterpart, so they are not settings of grpo_online.)"""
    from ocrl.algos.losses import AGGREGATION_ALIASES

    aggregation = AGGREGATION_ALIASES.get(args.aggregation, args.aggregation)
    if args.advantage not in ONLINE_ADVANTAGE:
        raise InputError(f"grpo_online cannot use advantage {args.advantage!r} (TRL's GRPO "
                         f"always subtracts the group mean); choose one of "
                         f"{', '.join(ONLINE_ADVANTAGE)}", field="advantage")
    if aggregation not in ONLINE_AGGREGATION:
        raise InputError(f"grpo_online cannot use aggregation {args.aggregation!r}; choose one "
                         f"of {', '.join(ONLINE_AGGREGATION)}", field="aggregation")
    # Online, the ratio is always TRL's clipped ratio to the sampling policy (offline RL's
    # --loss has no say there), with ocrl's epsilon_low/high as its band.
    return {"scale_rewards": ONLINE_ADVANTAGE[args.advantage],
            "loss_type": ONLINE_AGGREGATION[aggregation], "beta": args.kl_beta,
            "epsilon": args.epsilon_low, "epsilon_high": args.epsilon_high}


def grpo_config(args: OcrlOnlineGRPOConfig) -> Any:
    """TRL's GRPOConfig for an `ocrl train` config. ``per_device_train_batch_size`` counts
    groups in ocrl, as offline (one prompt and its ``num_generations`` completions is one
    group), so one optimizer step sees as many groups and completions as offline RL does."""
    from trl import GRPOConfig

    from ocrl.trainer.config import training_arguments_of

    shared = training_arguments_of(args)
    shared["per_device_train_batch_size"] = \
        args.per_device_train_batch_size * args.num_generations
    shared["remove_unused_columns"] = False
    return GRPOConfig(
        **shared, **online_algorithm_settings(args),
        num_generations=args.num_generations,
        max_completion_length=args.max_completion_length,
        temperature=args.generation_temperature, log_completions=False,
    )


def build_grpo_trainer(args: OcrlOnlineGRPOConfig, model, tokenizer, *, prompt_format: str,
                       problems: Sequence[Problem] | None = None, reward=None):
    """GRPOTrainer on the training problems of ``args.data_dir`` with the sandbox reward.
    Returns (trainer, extra summary fields)."""
    from transformers import TrainerCallback
    from trl import GRPOTrainer

    if problems is None:
        if not args.data_dir:
            raise InputError("--data is required: grpo_online trains on the problems of a "
                             "dataset written by `ocrl prepare`", field="data_dir")
        from ocrl.dataset import load_problems

        problems = load_problems(args.data_dir, args.train_split)
    if not problems:
        raise InputError(f"no judgeable problems in the {args.train_split!r} split",
                         path=str(args.data_dir), field="train_split")
    reward = reward or SandboxReward(problems, prompt_format=prompt_format)

    class CloseJudge(TrainerCallback):
        def on_train_end(self, *_, **__):
            reward.close()

    config = grpo_config(args)
    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=config,
                          train_dataset=grpo_dataset(problems, tokenizer, prompt_format),
                          processing_class=tokenizer, callbacks=[CloseJudge()])
    trainer.ocrl_reward = reward
    extra = {"online": {"problems": len(problems), "num_generations": args.num_generations,
                        "generation_temperature": args.generation_temperature,
                        "reward": reward.reward.__dict__,
                        "trl": {k: getattr(config, k) for k in online_algorithm_settings(args)}}}
    return trainer, extra

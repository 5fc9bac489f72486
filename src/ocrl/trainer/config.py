"""One config per `ocrl train` method, as TRL has one config per trainer.

`OcrlTrainingArguments` (a `transformers.TrainingArguments`) holds what every method reads;
each method's class adds only its own settings, so a setting of another method is an error
that names it instead of a flag silently ignored:

    offline_rl     OfflineRLConfig        advantage, loss, aggregation, kl_beta, ref_* ...
    sft, sft_all   OcrlSFTConfig          share_prompt (the loss settings are fixed)
    dpo            OcrlDPOConfig          dpo_beta, dpo_pairs_per_problem
    grpo_online    OcrlOnlineGRPOConfig   advantage, aggregation, kl_beta, epsilon_*,
                                          num_generations, generation_temperature

The baselines' classes carry an ``Ocrl`` prefix: baselines.py and online.py turn them into
TRL's DPOConfig and GRPOConfig (and TRL has an SFTConfig), so a shared name would be read as
TRL's class. `parse_config` picks the class from ``--method`` (else the YAML file's ``method``,
else offline_rl) and builds it from ``--config c.yaml``, then the flags, which win.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ocrl.errors import InputError
from ocrl.trainer.base_config import METHODS, method_field, require_choice

# Re-exported: callers build from ocrl.trainer.config alone.
from ocrl.trainer.base_config import OcrlTrainingArguments as OcrlTrainingArguments
from ocrl.trainer.base_config import training_arguments_of as training_arguments_of

ZERO_ADVANTAGE_POLICIES = ("drop_groups", "drop_samples", "keep")


def _share_prompt_field():
    # A field of both methods OfflineRLTrainer trains: models whose attention takes no custom
    # mask (flash attention) need it off, for SFT as well.
    return field(default=True, metadata={
        "help": "Run each group's prompt once and attend all k completions to it (a block "
                "attention mask); off = one padded row per completion."})


@dataclass
class PolicyGradientArguments(OcrlTrainingArguments):
    """The policy-gradient settings offline RL and online GRPO share (online, TRL's
    GRPOTrainer receives them: see `ocrl.trainer.online.online_algorithm_settings`)."""

    advantage: str = field(default="rloo", metadata={
        "help": "Advantage estimator: rloo, grpo, rloo_std or none (the raw reward)."})
    aggregation: str = field(default="token_mean", metadata={
        "help": "How token losses become the step's loss, normalised over the whole optimizer "
                "step: token_mean (DAPO; every token weighs the same), sequence_mean (GRPO; every "
                "sequence), group_mean (every group), sum_over_max_length (Dr. GRPO)."})
    kl_beta: float = field(default=0.0, metadata={
        "help": "Weight of the per-token KL penalty to the frozen reference (0 = off)."})
    epsilon_low: float = field(default=0.2, metadata={
        "help": "Lower clip of the ratio, 1 - eps (ref_clip offline; TRL's epsilon online)."})
    epsilon_high: float = field(default=0.2, metadata={
        "help": "Upper clip of the ratio, 1 + eps."})

    def __post_init__(self):
        # Names are checked here, not at the first step, so a typo fails before any loading.
        from ocrl.algos.advantages import ADVANTAGE_ESTIMATORS
        from ocrl.algos.losses import AGGREGATION_ALIASES, AGGREGATIONS

        require_choice(self, "advantage", sorted(ADVANTAGE_ESTIMATORS))
        require_choice(self, "aggregation", sorted({**AGGREGATIONS, **AGGREGATION_ALIASES}))
        if self.kl_beta < 0:
            raise InputError("must be >= 0", field="kl_beta")
        super().__post_init__()


@dataclass
class OfflineRLConfig(PolicyGradientArguments):
    """Configuration of `ocrl train --method offline_rl` (the default) and `OfflineRLTrainer`.
    ``per_device_train_batch_size`` counts *groups*: each group brings all of its k
    completions into the batch."""

    methods: ClassVar[tuple[str, ...]] = ("offline_rl",)

    method: str = method_field("offline_rl")
    advantage_eps: float = field(default=1e-4, metadata={"help": "eps of the std division."})
    advantage_clip: float | None = field(default=None, metadata={
        "help": "Clip advantages to [-c, c]; unset = no clipping."})
    zero_advantage: str = field(default="drop_groups", metadata={
        "help": "drop_groups: drop groups whose advantages are all 0 (e.g. all rewards equal); "
                "drop_samples: also drop single samples with advantage 0; keep: train on all.",
        "choices": ZERO_ADVANTAGE_POLICIES})
    loss: str = field(default="ref_clip", metadata={
        "help": "Policy loss: ref_clip (ratio to the frozen starting model, clipped: bounded, the "
                "default) or pg (ratio fixed at 1: unbounded below, can collapse a long run)."})
    share_prompt: bool = _share_prompt_field()
    ref_cache_dir: str | None = field(default=None, metadata={
        "help": "Where reference log-probs are cached (default: $OCRL_CACHE/ref_logprobs)."})
    ref_batch_size: int = field(default=4, metadata={
        "help": "Groups per forward pass when computing reference log-probs."})

    def __post_init__(self):
        from ocrl.algos.losses import POLICY_LOSSES

        require_choice(self, "zero_advantage", ZERO_ADVANTAGE_POLICIES)
        require_choice(self, "loss", sorted(POLICY_LOSSES))
        super().__post_init__()

    @property
    def needs_reference(self) -> bool:
        """Whether the loss reads the starting model's log-probs (computed before step 1)."""
        from ocrl.algos.losses import loss_needs_reference

        return loss_needs_reference(self.loss) or self.kl_beta > 0


@dataclass
class OcrlSFTConfig(OcrlTrainingArguments):
    """`ocrl train --method sft` (Accepted samples only) or ``sft_all`` (every sample).

    SFT runs through `OfflineRLTrainer` as offline RL's loss under fixed settings: reward 1
    for every kept sample, advantage none, pg, token_mean, which is token-averaged
    cross-entropy (tests/test_trainer.py checks the gradients against the model's LM loss).
    They are class constants, not fields, so the trainer reads them as it reads
    OfflineRLConfig's, and no flag can change what SFT is."""

    methods: ClassVar[tuple[str, ...]] = ("sft", "sft_all")
    advantage: ClassVar[str] = "none"
    advantage_eps: ClassVar[float] = 1e-4
    advantage_clip: ClassVar[float | None] = None
    zero_advantage: ClassVar[str] = "keep"
    loss: ClassVar[str] = "pg"
    aggregation: ClassVar[str] = "token_mean"
    kl_beta: ClassVar[float] = 0.0
    epsilon_low: ClassVar[float] = 0.2
    epsilon_high: ClassVar[float] = 0.2
    FIXED: ClassVar[tuple[str, ...]] = (
        "advantage", "advantage_eps", "advantage_clip", "zero_advantage", "loss", "aggregation",
        "kl_beta", "epsilon_low", "epsilon_high")

    method: str = method_field("sft")
    share_prompt: bool = _share_prompt_field()

    @property
    def accepted_only(self) -> bool:
        return self.method == "sft"

    def summary_settings(self) -> dict[str, Any]:
        return {**super().summary_settings(), **{name: getattr(self, name) for name in self.FIXED}}


@dataclass
class OcrlDPOConfig(OcrlTrainingArguments):
    """`ocrl train --method dpo`: TRL's DPOTrainer on (accepted, rejected) pairs of a problem;
    ``per_device_train_batch_size`` counts pairs."""

    methods: ClassVar[tuple[str, ...]] = ("dpo",)

    method: str = method_field("dpo")
    dpo_beta: float = field(default=0.1, metadata={"help": "DPO beta."})
    dpo_pairs_per_problem: int = field(default=4, metadata={
        "help": "At most this many (accepted, rejected) pairs per problem."})


@dataclass
class OcrlOnlineGRPOConfig(PolicyGradientArguments):
    """`ocrl train --method grpo_online`: TRL's GRPOTrainer on the dataset's training problems,
    rewarded by the sandbox. ``per_device_train_batch_size`` counts prompts (groups)."""

    methods: ClassVar[tuple[str, ...]] = ("grpo_online",)

    method: str = method_field("grpo_online")
    num_generations: int = field(default=4, metadata={
        "help": "Completions sampled per prompt (the group size)."})
    generation_temperature: float = field(default=0.8, metadata={
        "help": "Sampling temperature of the fresh completions."})

    def __post_init__(self):
        if self.num_generations < 2:
            raise InputError("must be at least 2 (a group needs two samples for an advantage)",
                             field="num_generations")
        super().__post_init__()
        # What TRL cannot honour fails here, before any loading, not when the trainer is built.
        from ocrl.trainer.online import online_algorithm_settings

        online_algorithm_settings(self)


METHOD_CONFIGS = (OfflineRLConfig, OcrlSFTConfig, OcrlDPOConfig, OcrlOnlineGRPOConfig)
# The configs OfflineRLTrainer trains (dpo and grpo_online are TRL's trainers).
GROUP_TRAINED_CONFIGS = (OfflineRLConfig, OcrlSFTConfig)


def config_class(method: str) -> type[OcrlTrainingArguments]:
    """The config class of an `ocrl train` method."""
    for cls in METHOD_CONFIGS:
        if method in cls.methods:
            return cls
    raise InputError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}",
                     field="method")


def _field_names(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls) if f.init}


def refuse_other_methods_settings(names, method: str, *, path: str | None = None) -> None:
    """InputError for the first of ``names`` that is a setting of other methods only."""
    own = _field_names(config_class(method))
    for name in names:
        owners = [m for m in METHODS if name not in own and name in _field_names(config_class(m))]
        if owners:
            raise InputError(f"{name} is a setting of method{'s' * (len(owners) > 1)} "
                             f"{', '.join(owners)}, not {method}", path=path, field=name)


def _flag_fields(argv: list[str]) -> list[str]:
    """The fields the ``--flag`` tokens of ``argv`` name, in any spelling HfArgumentParser
    takes (--name, --name-with-dashes, --name=value, --no_name for a boolean)."""
    known = set().union(*map(_field_names, METHOD_CONFIGS))
    names = []
    for token in argv:
        if not token.startswith("--"):
            continue
        name = token[2:].split("=", 1)[0].replace("-", "_")
        if name not in known and name.startswith("no_"):
            name = name[3:]
        if name in known:
            names.append(name)
    return names


def read_yaml_config(path: str | Path) -> dict[str, Any]:
    """The YAML file's settings, checked against the fields of every method's config."""
    from ocrl.config_files import read_yaml_mapping

    data = read_yaml_mapping(path)
    # Short names the command line also accepts.
    for short, long in (("model", "model_name_or_path"), ("data", "data_dir")):
        if short in data:
            data[long] = data.pop(short)
    unknown = sorted(set(data) - set().union(*map(_field_names, METHOD_CONFIGS)))
    if unknown:
        raise InputError("unknown setting (not a field of any `ocrl train` method's config or "
                         "of TrainingArguments)", path=str(path), field=unknown[0])
    return data


def requested_method(argv: list[str], file_values: dict[str, Any] | None = None) -> str:
    """The method ``argv`` asks for: the last --method flag, else the YAML file's (read from
    argv's --config when ``file_values`` is not given), else offline_rl."""
    for at in range(len(argv) - 1, -1, -1):
        if argv[at].startswith("--method="):
            return argv[at].split("=", 1)[1]
        if argv[at] == "--method" and at + 1 < len(argv):
            return argv[at + 1]
    if file_values is None:
        from ocrl.config_files import take_config_path

        path = take_config_path(list(argv), ("--config", "--config_file"))
        file_values = read_yaml_config(path) if path else {}
    return str(file_values.get("method", "offline_rl"))


def parse_config(argv: list[str]) -> OcrlTrainingArguments:
    """The method's config from ``[--config c.yaml] [--field value ...]``: file, then flags."""
    from ocrl.config_files import parse_flags, take_config_path

    argv = list(argv)
    config_path = take_config_path(argv, ("--config", "--config_file"))
    values = read_yaml_config(config_path) if config_path else {}
    method = requested_method(argv, values)
    cls = config_class(method)
    refuse_other_methods_settings(values, method, path=config_path)
    refuse_other_methods_settings(_flag_fields(argv), method)
    return parse_flags(cls, argv, prog="ocrl train", defaults=values,
                       unknown_hint=f"`ocrl train --method {method} --help` lists every flag")

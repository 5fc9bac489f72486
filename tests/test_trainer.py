"""OfflineRLTrainer on tiny random models: layouts, behaviour, SFT equivalence, resume."""

from __future__ import annotations

import json

import pytest
import torch

from tiny_lm import make_model, make_tokenizer, pattern_groups, save_tiny_model, uneven_groups

from ocrl.trainer.collator import block_attention_mask, collate_groups
from ocrl.trainer.config import OfflineRLConfig
from ocrl.trainer.groups import prepare_groups
from ocrl.trainer.logprobs import completion_logps
from ocrl.trainer.trainer import OfflineRLTrainer


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


def _args(tmp_path, **overrides) -> OfflineRLConfig:
    # pg: these tests need no reference log-probs (the default loss, ref_clip, reads them)
    settings = dict(output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, max_steps=4,
                    learning_rate=3e-3, report_to="none", save_strategy="no", logging_steps=1,
                    use_cpu=True, disable_tqdm=True, seed=0, loss="pg")
    settings.update(overrides)
    return OfflineRLConfig(**settings)


def _plain_logps(model, features) -> torch.Tensor:
    """Reference: each prompt + completion on its own, through a plain forward."""
    rows = []
    for feature in features:
        p = len(feature["prompt_ids"])
        for completion in feature["completion_ids"]:
            ids = torch.tensor([feature["prompt_ids"] + completion])
            logits = model(ids).logits[0, p - 1:-1].float()
            targets = torch.tensor(completion)[:, None]
            rows.append(torch.log_softmax(logits, -1).gather(1, targets)[:, 0])
    out = torch.zeros(len(rows), max(len(r) for r in rows))
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    return out


# ---- data preparation and collation ---------------------------------------------------------

def test_prepare_groups_tokens_advantages_and_policies(tokenizer):
    groups = pattern_groups(2) + [
        {"group_id": "same", "problem_id": "p", "prompt": "def g():\n", "style": "assert",
         "completions": ["    return 1\n", "    return 2\n"], "rewards": [1.0, 1.0],
         "statuses": ["Accepted", "Accepted"]},
        {"group_id": "one", "problem_id": "q", "prompt": "def h():\n", "style": "assert",
         "completions": ["    pass\n"], "rewards": [0.0], "statuses": ["Wrong Answer"]},
    ]
    data, stats = prepare_groups(groups, tokenizer, prompt_format="plain", advantage="rloo")
    assert stats.groups_in == 4 and stats.groups_zero_variance == 2 and stats.groups_dropped == 2
    assert stats.groups_kept == 2 and stats.samples_kept == 8 and stats.samples_dropped == 3
    row = data[0]
    assert row["prompt_ids"] == tokenizer("def f0(x):\n")["input_ids"]
    assert row["completion_ids"][0] == tokenizer(groups[0]["completions"][0])["input_ids"] + [1]
    assert row["advantages"] == pytest.approx([2 / 3, -2 / 3, 2 / 3, -2 / 3])

    kept, stats = prepare_groups(groups, tokenizer, prompt_format="plain", zero_advantage="keep")
    assert stats.groups_kept == 4 and stats.groups_dropped == 0
    # advantage "none": the all-accepted group keeps its signal; rejected samples (A=0) go with
    # drop_samples, and so does the group whose only sample was rejected
    raw, stats = prepare_groups(groups, tokenizer, prompt_format="plain", advantage="none",
                                zero_advantage="drop_samples")
    assert stats.groups_kept == 3 and stats.samples_kept == 6
    assert all(a == 1.0 for row in raw for a in row["advantages"])


def test_prepare_groups_drops_what_does_not_fit_and_rejects_bad_rows(tokenizer):
    from ocrl.errors import InputError

    groups = pattern_groups(2)
    groups[0]["completions"][0] += "    # a long accepted answer\n"
    long_ids = len(tokenizer(groups[0]["completions"][0])["input_ids"]) + 1  # + EOS
    short_ids = len(tokenizer(groups[0]["completions"][1])["input_ids"]) + 1
    data, stats = prepare_groups(groups, tokenizer, prompt_format="plain",
                                 max_completion_length=long_ids - 1)
    # the long completion is dropped whole, never cut; the rest of its group stays and its
    # advantages are those of the samples that remain (rewards 0, 1, 0: RLOO -0.5, 1, -0.5)
    assert stats.completions_dropped_too_long == 1 and stats.groups_kept == 2
    assert stats.longest_completion_tokens == long_ids
    assert all(ids[-1] == tokenizer.eos_token_id for row in data for ids in row["completion_ids"])
    assert data[0]["rewards"] == [0.0, 1.0, 0.0] and \
        data[0]["advantages"] == pytest.approx([-0.5, 1.0, -0.5])
    assert all(len(ids) <= long_ids - 1 for row in data for ids in row["completion_ids"])
    with pytest.raises(InputError, match="2 had a prompt over max_prompt_length=4"):
        prepare_groups(groups, tokenizer, prompt_format="plain", max_prompt_length=4)
    assert short_ids < long_ids

    bad = [{**groups[0], "rewards": [1.0]}]
    with pytest.raises(InputError, match="line 1.*rewards"):
        prepare_groups(bad, tokenizer, prompt_format="plain", source="groups.parquet")
    same = [{**groups[0], "rewards": [1.0] * 4}]
    with pytest.raises(InputError, match="no group left"):
        prepare_groups(same, tokenizer, prompt_format="plain")


def test_float_residue_is_no_advantage(tokenizer):
    """Equal rewards summed from parts (0.1 + 0.2 vs 0.3) leave RLOO residue of ~1e-17 under
    exact comparison; the one zero rule drops such a group and keeps a real difference."""
    from ocrl.errors import InputError

    group = {**pattern_groups(1)[0], "rewards": [0.1 + 0.2, 0.3, 0.3, 0.1 + 0.2]}
    with pytest.raises(InputError, match="1 had all rewards equal"):
        prepare_groups([group], tokenizer, prompt_format="plain")
    real = {**group, "rewards": [0.3, 0.3, 0.3, 0.3 + 1e-6]}
    data, stats = prepare_groups([real], tokenizer, prompt_format="plain")
    assert stats.groups_kept == 1 and max(map(abs, data[0]["advantages"])) > 1e-7


def test_collator_masks_prompt_and_padding():
    features = [
        {"prompt_ids": [10, 11, 12], "completion_ids": [[20, 21, 1], [30, 1]],
         "advantages": [1.0, -1.0], "rewards": [1.0, 0.0]},
        {"prompt_ids": [40], "completion_ids": [[50, 1]], "advantages": [0.5], "rewards": [1.0]},
    ]
    batch = collate_groups(features, pad_token_id=0, share_prompt=True)
    # one row per group: prompt, then each completion without its final (target-only) token
    assert batch["input_ids"].tolist() == [[10, 11, 12, 20, 21, 30], [40, 50, 0, 0, 0, 0]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 4, 3], [0, 1, 0, 0, 0, 0]]
    assert batch["segment_ids"].tolist() == [[0, 0, 0, 1, 1, 2], [0, 1, -1, -1, -1, -1]]
    # targets are completion tokens only, predicted from the last prompt token, then in turn
    assert batch["target_ids"].tolist() == [[20, 21, 1], [30, 1, 0], [50, 1, 0]]
    assert batch["target_mask"].tolist() == [[True] * 3, [True, True, False], [True, True, False]]
    assert batch["source_row"].tolist() == [0, 0, 1]
    assert batch["source_pos"].tolist()[:2] == [[2, 3, 4], [2, 5, 0]]
    assert batch["group_index"].tolist() == [0, 0, 1]
    assert int(batch["num_tokens"]) == (3 + 3) + (3 + 2) + (1 + 2)
    mask = block_attention_mask(batch["segment_ids"])[0, 0]
    assert mask[5].tolist() == [True, True, True, False, False, True]  # c2 skips c1
    assert mask[4].tolist() == [True, True, True, True, True, False]
    assert block_attention_mask(batch["segment_ids"])[1, 0].any(-1).all()  # no empty row

    flat = collate_groups(features, pad_token_id=0, share_prompt=False)
    assert flat["input_ids"].tolist() == [[10, 11, 12, 20, 21], [10, 11, 12, 30, 0],
                                          [40, 50, 0, 0, 0]]
    assert flat["attention_mask"].tolist() == [[1] * 5, [1, 1, 1, 1, 0], [1, 1, 0, 0, 0]]
    assert flat["source_pos"].tolist() == [[2, 3, 4], [2, 3, 0], [0, 1, 0]]


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_shared_prompt_layout_gives_the_plain_log_probs(tokenizer, attn):
    data, _ = prepare_groups(pattern_groups(3), tokenizer, prompt_format="plain")
    features = [data[i] for i in range(len(data))]
    features[1]["completion_ids"][0] = features[1]["completion_ids"][0] + [5, 6, 7]
    model = make_model(len(tokenizer), attn_implementation=attn).eval()
    with torch.no_grad():
        expected = _plain_logps(model, features)
        shared = completion_logps(model, collate_groups(features, pad_token_id=0))
        flat = completion_logps(model, collate_groups(features, pad_token_id=0,
                                                      share_prompt=False))
        full_head = completion_logps(model, collate_groups(features, pad_token_id=0),
                                     logits_to_keep=False)
    assert torch.allclose(shared, expected, atol=1e-5)
    assert torch.allclose(flat, expected, atol=1e-5)
    assert torch.allclose(full_head, expected, atol=1e-5)


def test_trainer_batches_keep_groups_whole(tmp_path, tokenizer):
    data, _ = prepare_groups(pattern_groups(6), tokenizer, prompt_format="plain")
    trainer = OfflineRLTrainer(model=make_model(len(tokenizer)), args=_args(tmp_path),
                               train_dataset=data, processing_class=tokenizer)
    for batch in trainer.get_train_dataloader():
        counts = torch.bincount(batch["group_index"])
        assert counts.tolist() == [4] * 4  # 4 groups per batch, each with all 4 completions
        break


# ---- the loss of a step does not depend on how the step is cut ------------------------------

AGGREGATION_MODES = ("token_mean", "sequence_mean", "group_mean", "sum_over_max_length")


def _one_sgd_step(tmp_path, tokenizer, data, **overrides) -> dict[str, torch.Tensor]:
    """The weight change of one plain-SGD optimizer step over all of ``data``."""
    model = make_model(len(tokenizer), seed=5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    args = _args(tmp_path, max_steps=1, optim="sgd", learning_rate=1.0, weight_decay=0.0,
                 max_grad_norm=0.0, lr_scheduler_type="constant", **overrides)
    OfflineRLTrainer(model=model, args=args, train_dataset=data,
                     processing_class=tokenizer).train()
    return {k: v - before[k] for k, v in model.state_dict().items()}


@pytest.mark.parametrize("aggregation", AGGREGATION_MODES)
def test_gradient_accumulation_gives_the_same_update(tmp_path, tokenizer, aggregation):
    data, _ = prepare_groups(uneven_groups(4), tokenizer, prompt_format="plain")
    assert len(data) == 4 and len({len(r["completion_ids"]) for r in data}) > 1
    whole = _one_sgd_step(tmp_path, tokenizer, data, aggregation=aggregation,
                          per_device_train_batch_size=4, gradient_accumulation_steps=1)
    cut = _one_sgd_step(tmp_path, tokenizer, data, aggregation=aggregation,
                        per_device_train_batch_size=1, gradient_accumulation_steps=4)
    norm = torch.sqrt(sum((v ** 2).sum() for v in whole.values()))
    assert norm > 0
    difference = torch.sqrt(sum(((whole[k] - cut[k]) ** 2).sum() for k in whole))
    assert difference / norm < 1e-5, (aggregation, float(difference / norm))


def test_gradient_accumulation_with_ref_clip_and_kl(tmp_path, tokenizer):
    data, _ = prepare_groups(uneven_groups(4), tokenizer, prompt_format="plain")
    data = data.map(lambda row: {"ref_logps": [[-3.0 + 0.1 * t for t in range(len(c))]
                                               for c in row["completion_ids"]]})
    settings = dict(loss="ref_clip", kl_beta=0.1, aggregation="token_mean")
    whole = _one_sgd_step(tmp_path, tokenizer, data, per_device_train_batch_size=4, **settings)
    cut = _one_sgd_step(tmp_path, tokenizer, data, per_device_train_batch_size=1,
                        gradient_accumulation_steps=4, **settings)
    for name in whole:
        assert torch.allclose(whole[name], cut[name], atol=1e-7, rtol=1e-4), name


# ---- behaviour ------------------------------------------------------------------------------

def _held_out_logps(model, data):
    model.eval()
    with torch.no_grad():
        batch = collate_groups([data[i] for i in range(len(data))], pad_token_id=0)
        logp = completion_logps(model, batch).sum(1)
    model.train()
    accepted = batch["rewards"] > 0.5
    return logp[accepted].mean().item(), logp[~accepted].mean().item()


def test_offline_rl_raises_accepted_and_lowers_rejected(tmp_path, tokenizer):
    train, _ = prepare_groups(pattern_groups(16), tokenizer, prompt_format="plain")
    held, _ = prepare_groups(pattern_groups(6, seed=1, offset=100), tokenizer,
                             prompt_format="plain", zero_advantage="keep")
    model = make_model(len(tokenizer))
    accepted_before, rejected_before = _held_out_logps(model, held)
    trainer = OfflineRLTrainer(model=model, args=_args(tmp_path, max_steps=8),
                               train_dataset=train, processing_class=tokenizer)
    trainer.train()
    accepted_after, rejected_after = _held_out_logps(model, held)
    assert accepted_after > accepted_before + 1.0
    assert rejected_after < rejected_before - 1.0
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert logged[-1]["reward/mean"] == pytest.approx(0.5)
    assert logged[-1]["advantage/max"] == pytest.approx(2 / 3, rel=1e-5)
    assert logged[-1]["tokens_per_second"] > 0 and "grad_norm" in logged[-1]
    # 8 steps of 4 groups = 2 epochs over the 16 groups; each sequence counts prompt + completion
    assert trainer.state.num_input_tokens_seen == 2 * sum(
        len(row["prompt_ids"]) + len(c) for row in train for c in row["completion_ids"])


def test_zeroed_advantages_change_nothing(tmp_path, tokenizer):
    train, _ = prepare_groups(pattern_groups(8), tokenizer, prompt_format="plain")
    train = train.map(lambda row: {"advantages": [0.0] * len(row["advantages"])})
    model = make_model(len(tokenizer))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for loss, kwargs in (("pg", {}), ("ref_clip", {"kl_beta": 0.0})):
        data = train
        if loss == "ref_clip":
            data = train.map(lambda row: {"ref_logps": [[-1.0] * len(c)
                                                        for c in row["completion_ids"]]})
        trainer = OfflineRLTrainer(model=model, args=_args(tmp_path, loss=loss, **kwargs),
                                   train_dataset=data, processing_class=tokenizer)
        trainer.train()
        for name, value in model.state_dict().items():
            assert torch.equal(value, before[name]), name


# ---- offline RL with advantage "none" on reward = accepted is SFT --------------------------

def _grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def test_offline_rl_none_pg_equals_sft_on_accepted(tmp_path, tokenizer):
    from ocrl.trainer.baselines import sft_groups
    from ocrl.trainer.config import OcrlSFTConfig

    groups = pattern_groups(4, seed=3)
    for group in groups:  # uneven lengths, so padding and normalisation both matter
        group["completions"][0] += "    # ok\n"

    # (a) offline RL: reward = accepted, advantage none, pg loss, zero-advantage samples dropped
    data, _ = prepare_groups(groups, tokenizer, prompt_format="plain", advantage="none",
                             zero_advantage="drop_samples")
    model = make_model(len(tokenizer), seed=7)
    trainer = OfflineRLTrainer(model=model, args=_args(tmp_path, advantage="none", loss="pg",
                                                       aggregation="token_mean"),
                               train_dataset=data, processing_class=tokenizer)
    batch = collate_groups([data[i] for i in range(len(data))], pad_token_id=0)
    trainer.compute_loss(model, batch).backward()
    offline = _grads(model)

    # (b) SFT the textbook way: the model's own LM loss, prompt and padding labelled -100
    model.zero_grad()
    ids, labels = [], []
    for group in groups:
        prompt = tokenizer(group["prompt"])["input_ids"]
        for completion, status in zip(group["completions"], group["statuses"]):
            if status == "Accepted":
                target = tokenizer(completion)["input_ids"] + [tokenizer.eos_token_id]
                ids.append(prompt + target)
                labels.append([-100] * len(prompt) + target)
    width = max(map(len, ids))
    input_ids = torch.tensor([x + [0] * (width - len(x)) for x in ids])
    label_ids = torch.tensor([x + [-100] * (width - len(x)) for x in labels])
    attention = (torch.arange(width)[None] < torch.tensor([len(x) for x in ids])[:, None]).long()
    model(input_ids=input_ids, attention_mask=attention, labels=label_ids).loss.backward()
    sft = _grads(model)

    # (c) the sft baseline of `ocrl train`
    model.zero_grad()
    args = OcrlSFTConfig(output_dir=str(tmp_path / "sft"), per_device_train_batch_size=4,
                         use_cpu=True, report_to="none", seed=0)
    data, _ = prepare_groups(sft_groups(groups, accepted_only=args.accepted_only), tokenizer,
                             prompt_format="plain", advantage=args.advantage,
                             zero_advantage=args.zero_advantage)
    trainer = OfflineRLTrainer(model=model, args=args, train_dataset=data,
                               processing_class=tokenizer)
    trainer.compute_loss(model, collate_groups([data[i] for i in range(len(data))],
                                               pad_token_id=0)).backward()
    baseline = _grads(model)

    assert set(offline) == set(sft) == set(baseline)
    for name in sft:
        assert torch.allclose(offline[name], sft[name], atol=1e-6, rtol=1e-4), name
        assert torch.allclose(baseline[name], sft[name], atol=1e-6, rtol=1e-4), name
    assert any(g.abs().sum() > 0 for g in sft.values())


# ---- the reference: cached once, used by ref_clip and the KL penalty ----------------------

def test_reference_logprobs_cached_and_used(tmp_path, tokenizer, monkeypatch):
    from ocrl.trainer import ref_logprobs

    data, _ = prepare_groups(pattern_groups(4), tokenizer, prompt_format="plain")
    model = make_model(len(tokenizer))
    cache = tmp_path / "cache"
    with_ref, path = ref_logprobs.attach_reference_logps(model, data, pad_token_id=0,
                                                         cache_dir=cache, batch_size=3)
    assert path.parent == cache and path.is_dir()
    with torch.no_grad():
        expected = _plain_logps(model, [data[i] for i in range(len(data))])
    got = [torch.tensor(x) for row in with_ref["ref_logps"] for x in row]
    for i, row in enumerate(got):
        assert torch.allclose(row, expected[i, :len(row)], atol=1e-5)

    def fail(*args, **kwargs):
        raise AssertionError("recomputed although cached")

    monkeypatch.setattr(ref_logprobs, "compute_reference_logps", fail)
    again, same_path = ref_logprobs.attach_reference_logps(model, data, pad_token_id=0,
                                                           cache_dir=cache)
    assert same_path == path and again["ref_logps"] == with_ref["ref_logps"]
    other_model = ref_logprobs.cache_key(data, make_model(len(tokenizer), seed=1))
    other_data = ref_logprobs.cache_key(data.select([0, 1]), model)
    assert len({path.name, other_model, other_data}) == 3

    # ref_clip + KL: at the first step the policy is the reference, so KL = 0 and nothing clips
    args = _args(tmp_path, loss="ref_clip", kl_beta=0.1, max_steps=3, learning_rate=1e-2)
    trainer = OfflineRLTrainer(model=model, args=args, train_dataset=with_ref,
                               processing_class=tokenizer)
    trainer.train()
    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert logged[0]["kl"] == pytest.approx(0.0, abs=1e-6)
    assert logged[0]["clip_fraction"] == 0.0
    assert logged[-1]["kl"] > 0
    # given data without them, the trainer attaches the reference log-probs of the model it
    # starts from: the same starting weights find the cached ones
    monkeypatch.undo()
    fresh = OfflineRLTrainer(model=make_model(len(tokenizer)),
                             args=_args(tmp_path, loss="ref_clip", ref_cache_dir=str(cache)),
                             train_dataset=data, processing_class=tokenizer)
    assert fresh.data_info["reference_cache"] == str(path)
    assert fresh.train_dataset["ref_logps"] == with_ref["ref_logps"]


# ---- checkpoints and resume, through the `ocrl train` pipeline ------------------------------

def test_resume_from_checkpoint_matches_uninterrupted_run(tmp_path):
    from safetensors.torch import load_file

    from ocrl.trainer.pipeline import run_training

    model_dir = save_tiny_model(tmp_path / "tiny")
    groups = pattern_groups(8)

    def run(out, max_steps):
        args = _args(tmp_path, output_dir=str(out), model_name_or_path=str(model_dir),
                     per_device_train_batch_size=2, max_steps=max_steps, save_strategy="steps",
                     save_steps=2, lr_scheduler_type="constant", prompt_format="plain",
                     learning_rate=1e-2)
        return run_training(args, groups=groups)

    straight = run(tmp_path / "straight", 4)
    # a run killed after its step-2 checkpoint: the same settings, stopped there
    from transformers import TrainerCallback

    from ocrl.trainer.pipeline import build_trainer

    class StopAfterTwo(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            control.should_training_stop = state.global_step >= 2

    killed = build_trainer(_args(tmp_path, output_dir=str(tmp_path / "killed"),
                                 model_name_or_path=str(model_dir), per_device_train_batch_size=2,
                                 max_steps=4, save_strategy="steps", save_steps=2,
                                 lr_scheduler_type="constant", prompt_format="plain",
                                 learning_rate=1e-2), groups=groups).trainer
    killed.add_callback(StopAfterTwo())
    killed.train()
    first = {"global_step": killed.state.global_step,
             "tokens_seen": killed.state.num_input_tokens_seen}
    assert first["global_step"] == 2 and (tmp_path / "killed" / "checkpoint-2").is_dir()
    # a kill while writing checkpoint-3 leaves it without trainer_state.json: not resumable
    (tmp_path / "killed" / "checkpoint-3").mkdir()
    (tmp_path / "killed" / "checkpoint-3" / "config.json").write_text("{}")
    resumed = run(tmp_path / "killed", 4)
    assert resumed["resumed_from"].endswith("checkpoint-2")
    assert resumed["global_step"] == 4 and resumed["tokens_seen"] == straight["tokens_seen"]
    assert resumed["tokens_this_session"] == straight["tokens_seen"] - first["tokens_seen"]
    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(tmp_path / "killed" / "model.safetensors"))
    start = load_file(str(model_dir / "model.safetensors"))
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6), name
    assert any(not torch.equal(a[name], start[name]) for name in a)
    summary = json.loads((tmp_path / "killed" / "train_summary.json").read_text())
    assert summary["global_step"] == 4 and summary["prompt_format"] == "plain"
    # what ran, as the accelerator saw it: one process, no engine, no mixed precision
    assert summary["distributed"] == {"type": "NO", "processes": 1, "mixed_precision": "no",
                                      "sharded": False}


def test_finished_run_drops_its_checkpoints_only_when_asked(tmp_path):
    from ocrl.trainer.pipeline import run_training

    model_dir = save_tiny_model(tmp_path / "tiny")
    for keep in (True, False):
        out = tmp_path / f"keep_{keep}"
        run_training(_args(tmp_path, output_dir=str(out), model_name_or_path=str(model_dir),
                           per_device_train_batch_size=2, max_steps=2, save_strategy="steps",
                           save_steps=1, prompt_format="plain", keep_checkpoints=keep),
                     groups=pattern_groups(4))
        left = sorted(path.name for path in out.glob("checkpoint-*"))
        assert left == (["checkpoint-1", "checkpoint-2"] if keep else [])
        assert (out / "model.safetensors").is_file() and (out / "train_summary.json").is_file()


def test_the_trainer_hooks_step_normalisation_relies_on_exist():
    """OfflineRLTrainer overrides Trainer.get_batch_samples and sets loss_is_scaled_for_ga;
    a transformers release without them would divide the loss by the accumulation steps a
    second time, which the accumulation tests above would catch as a 4x smaller update."""
    import inspect

    from transformers import Trainer

    assert "loss_is_scaled_for_ga" in vars(Trainer)
    assert list(inspect.signature(Trainer.get_batch_samples).parameters) == [
        "self", "epoch_iterator", "num_batches", "device"]


def test_reference_is_computed_in_the_training_precision(tmp_path, tokenizer):
    """Under bf16 training (CPU autocast here) the reference pass runs in bf16 too, so the
    policy equals its reference at the first step: KL 0, nothing clipped. The precision and
    the layout are part of the cache key."""
    from ocrl.trainer import ref_logprobs

    data, _ = prepare_groups(pattern_groups(4), tokenizer, prompt_format="plain")
    model = make_model(len(tokenizer))
    args = _args(tmp_path, loss="ref_clip", kl_beta=0.1, bf16=True, max_steps=1,
                 ref_cache_dir=str(tmp_path / "ref"))
    trainer = OfflineRLTrainer(model=model, args=args, train_dataset=data,
                               processing_class=tokenizer)
    trainer.train()
    first = [entry for entry in trainer.state.log_history if "loss" in entry][0]
    # exactly: the same forward in the same precision (an fp32 reference gives ~1e-7 here)
    assert first["kl"] == 0.0 and first["clip_fraction"] == 0.0
    keys = {ref_logprobs.cache_key(data, model, precision=p, share_prompt=s)
            for p in ("fp32", "bf16") for s in (True, False)}
    assert len(keys) == 4


def test_full_fine_tuning_of_a_bf16_model_keeps_fp32_master_weights(tmp_path, tokenizer):
    """AdamW at lr 1e-5 moves a weight by about 1e-5, which bf16 cannot hold next to 0.02
    (its spacing there is 1.2e-4): the trainer upcasts, and the weight moves."""
    assert torch.tensor(0.02, dtype=torch.bfloat16) + 1e-5 == torch.tensor(0.02,
                                                                           dtype=torch.bfloat16)
    data, _ = prepare_groups(pattern_groups(2), tokenizer, prompt_format="plain")
    model = make_model(len(tokenizer)).to(torch.bfloat16)
    weight = model.model.layers[0].mlp.up_proj.weight
    with torch.no_grad():
        weight[0, 0] = 0.02
    trainer = OfflineRLTrainer(model=model, args=_args(tmp_path, learning_rate=1e-5, max_steps=1,
                                                       weight_decay=0.0),
                               train_dataset=data, processing_class=tokenizer)
    assert {p.dtype for p in trainer.model.parameters()} == {torch.float32}
    start = trainer.model.model.layers[0].mlp.up_proj.weight[0, 0].item()
    trainer.train()
    moved = trainer.model.model.layers[0].mlp.up_proj.weight[0, 0].item() - start
    assert 1e-6 < abs(moved) < 3e-5


def test_reference_shards_are_whole_batches_dealt_round_robin():
    from ocrl.trainer.ref_logprobs import merge_shards, shard_of

    assert shard_of(10, 3, 0, 2) == [0, 1, 2, 6, 7, 8]
    assert shard_of(10, 3, 1, 2) == [3, 4, 5, 9]
    assert [shard_of(5, 2, rank, 3) for rank in range(3)] == [[0, 1], [2, 3], [4]]
    assert shard_of(2, 4, 1, 2) == []  # fewer groups than processes x batch: nothing to do
    shards = [(shard_of(5, 2, rank, 2), [[[float(i)]] for i in shard_of(5, 2, rank, 2)])
              for rank in (1, 0)]
    assert merge_shards(5, shards) == [[[0.0]], [[1.0]], [[2.0]], [[3.0]], [[4.0]]]
    with pytest.raises(RuntimeError, match=r"groups \[2, 3\]"):
        merge_shards(5, shards[1:])

"""Tiny random causal LMs and a character tokenizer, built without the hub, for trainer tests."""

from __future__ import annotations

import string
from pathlib import Path

SPECIALS = ("<pad>", "<eos>", "<bos>", "<unk>")


def make_tokenizer(chat: bool = False):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {name: i for i, name in enumerate(SPECIALS)}
    for char in string.printable:
        vocab.setdefault(char, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split(pattern=Regex(r"[\s\S]"), behavior="isolated")
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>",
                                        eos_token="<eos>", bos_token="<bos>", unk_token="<unk>")
    if chat:
        tokenizer.chat_template = (
            "{% for m in messages %}[{{ m['role'] }}]{{ m['content'] }}\n{% endfor %}"
            "{% if add_generation_prompt %}[assistant]{% endif %}")
    return tokenizer


def make_model(vocab_size: int, seed: int = 0, hidden: int = 32, layers: int = 2,
               attn_implementation: str = "sdpa"):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, pad_token_id=0, eos_token_id=1,
                         bos_token_id=2, tie_word_embeddings=False)
    config._attn_implementation = attn_implementation
    return LlamaForCausalLM(config)


def save_tiny_model(directory: str | Path, seed: int = 0, chat: bool = False) -> Path:
    """A loadable model directory (config, safetensors, tokenizer)."""
    directory = Path(directory)
    tokenizer = make_tokenizer(chat=chat)
    model = make_model(len(tokenizer), seed=seed)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def pattern_groups(n_problems: int, k: int = 4, seed: int = 0, offset: int = 0) -> list[dict]:
    """Groups whose accepted completions share one pattern and rejected ones another.

    Accepted: ``return x+<n>`` ; rejected: ``print(<n>)``. Half of each group is accepted."""
    import random

    rng = random.Random(seed)
    groups = []
    for index in range(offset, offset + n_problems):
        prompt = f"def f{index}(x):\n"
        completions, rewards, statuses = [], [], []
        for j in range(k):
            n = rng.randint(0, 9)
            if j % 2 == 0:
                completions.append(f"    return x+{n}\n")
                rewards.append(1.0)
                statuses.append("Accepted")
            else:
                completions.append(f"    print({n})\n")
                rewards.append(0.0)
                statuses.append("Wrong Answer")
        groups.append({"group_id": f"g{index}", "problem_id": f"p{index}", "prompt": prompt,
                       "style": "assert", "completions": completions, "rewards": rewards,
                       "statuses": statuses})
    return groups


def uneven_groups(n_problems: int = 4, seed: int = 0) -> list[dict]:
    """`pattern_groups` made uneven: groups of 2 to 4 samples and completions of different
    lengths, so that every loss normaliser (tokens, sequences, groups) differs between
    micro-batches and the way a step is cut would show."""
    groups = pattern_groups(n_problems, seed=seed)
    for index, group in enumerate(groups):
        keep = 4 - index % 3  # 4, 3, 2, 4, ...
        for name in ("completions", "rewards", "statuses"):
            group[name] = group[name][:keep]
        group["completions"] = [c + "    # pad\n" * ((index + j) % 3)
                                for j, c in enumerate(group["completions"])]
    return groups

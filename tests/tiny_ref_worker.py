"""One process of the sharded reference-pass test (launched by accelerate; see
test_trainer_distributed).

Builds the trainer (which attaches reference log-probs) for 10 groups with reference batches
of 3, then asks for them again (now cached). Each process writes OUT/<tag>_rank<i>.pt: the
log-probs it ended with and the groups it computed itself in each of the two passes."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from tiny_lm import pattern_groups  # noqa: E402

from ocrl.trainer import ref_logprobs  # noqa: E402
from ocrl.trainer.config import parse_config  # noqa: E402
from ocrl.trainer.data import reference_for  # noqa: E402
from ocrl.trainer.pipeline import build_trainer, end_distributed  # noqa: E402


def main(out: str, model_dir: str, tag: str) -> None:
    args = parse_config([
        "--model", model_dir, "--output_dir", f"{out}/{tag}", "--use_cpu", "true",
        "--report_to", "none", "--save_strategy", "no", "--loss", "ref_clip",
        "--prompt_format", "plain", "--ref_cache_dir", f"{out}/{tag}_ref",
        "--ref_batch_size", "3", "--disable_tqdm", "true", "--seed", "0"])
    computed: list[list[int]] = [[], []]
    compute = ref_logprobs.compute_reference_logps

    def counting(model, dataset, **kwargs):
        computed[passes].append(len(dataset))
        return compute(model, dataset, **kwargs)

    ref_logprobs.compute_reference_logps = counting
    passes = 0
    run = build_trainer(args, groups=pattern_groups(10, seed=2))
    first = run.trainer.train_dataset
    passes = 1
    again, _ = reference_for(args, run.trainer.model, first.remove_columns("ref_logps"),
                             run.tokenizer)
    assert again["ref_logps"] == first["ref_logps"]
    torch.save({"ref_logps": first["ref_logps"], "computed": computed,
                "cache": run.extra["reference_cache"]},
               Path(out) / f"{tag}_rank{args.process_index}.pt")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
    end_distributed()  # a clean exit: gloo's threads down before the interpreter

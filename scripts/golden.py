#!/usr/bin/env python3
"""Golden parity fixtures from Hugging Face transformers.

Makes small random models of each architecture we load (Llama, Qwen2, Qwen3,
Mistral), saves them with `save_pretrained`, reloads them from disk in float64
with eager attention, and writes reference next-token log-probs, entropies and
the gradient of loss = -(sum of all log-probs) w.r.t. every parameter.
The Rust tests compare against these; nobody here wrote the reference.

Throwaway environment (not committed; `.venv*` is gitignored):

    python3 -m venv .venv-golden
    .venv-golden/bin/pip install torch==2.15.0 transformers==5.24.0 \
        safetensors==0.8.0 numpy==2.4.6 jinja2==3.1.6
    .venv-golden/bin/python scripts/golden.py            # all cases
    .venv-golden/bin/python scripts/golden.py qwen3      # some cases
    .venv-golden/bin/python scripts/golden.py --exact-f64-check   # also print the noise floor

The PyPI torch wheel pulls the CUDA runtime wheels (about 5 GB in total); CPU is
all this script uses. `pip install torch --no-deps` alone does not import (it
preloads libcublasLt), so the full install is the documented one.

Output: tests/fixtures/golden/<case>/ with the HF model files, golden.json and
grads.safetensors. The format is described in tests/fixtures/golden/README.md.
Deterministic (fixed seeds, CPU) and idempotent (each case dir is rebuilt).
"""

from __future__ import annotations

import json
import math
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures" / "golden"

SEQ_LENS = (7, 13, 2)
WEIGHT_STD = 0.2  # visible scale so logits are not flat
NORM_JITTER = 0.2  # norm weights ~ 1 + N(0, 0.2)
BIAS_STD = 0.2


@dataclass
class Case:
    name: str
    arch: str  # "llama" | "qwen2" | "qwen3" | "mistral"
    config: dict
    seed: int
    store_dtype: torch.dtype = torch.float32
    max_shard_size: str | None = None
    # Rewrite config.json into the transformers 4.x layout after saving
    # (optionally without head_dim, as older 4.x configs are).
    v4_config: bool = False
    drop_head_dim: bool = False


def rope(theta: float, **scaling) -> dict:
    """rope_parameters in the transformers 5.x layout."""
    return {"rope_type": scaling.pop("rope_type", "default"), "rope_theta": theta, **scaling}


LLAMA3_SCALING = dict(
    rope_type="llama3",
    factor=8.0,
    low_freq_factor=1.0,
    high_freq_factor=4.0,
    # Small so that at head_dim 16 one frequency is kept, one is smoothed and
    # the rest are divided by `factor`.
    original_max_position_embeddings=64,
)

CASES = [
    Case(
        "llama_odd",
        "llama",
        dict(
            vocab_size=301,
            hidden_size=96,
            num_attention_heads=6,
            num_key_value_heads=2,
            intermediate_size=160,
            num_hidden_layers=2,
            rms_norm_eps=1e-5,
            rope_parameters=rope(10000.0),
            tie_word_embeddings=False,
            max_position_embeddings=128,
        ),
        seed=1,
    ),
    Case(
        "llama3_rope_tied",
        "llama",
        dict(
            vocab_size=257,
            hidden_size=64,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=112,
            num_hidden_layers=2,
            rms_norm_eps=1e-5,
            rope_parameters=rope(500000.0, **LLAMA3_SCALING),
            tie_word_embeddings=True,
            max_position_embeddings=512,
        ),
        seed=2,
    ),
    Case(
        "qwen2",
        "qwen2",
        dict(
            vocab_size=199,
            hidden_size=80,
            num_attention_heads=5,
            num_key_value_heads=1,
            intermediate_size=96,
            num_hidden_layers=2,
            rms_norm_eps=1e-6,
            rope_parameters=rope(1000000.0),
            tie_word_embeddings=False,
            max_position_embeddings=128,
            use_sliding_window=False,
        ),
        seed=3,
    ),
    Case(
        "qwen3",
        "qwen3",
        dict(
            vocab_size=271,
            hidden_size=64,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=24,
            intermediate_size=128,
            num_hidden_layers=2,
            rms_norm_eps=1e-6,
            rope_parameters=rope(1000000.0),
            tie_word_embeddings=True,
            max_position_embeddings=128,
            attention_bias=False,
            use_sliding_window=False,
        ),
        seed=4,
    ),
    Case(
        "mistral",
        "mistral",
        dict(
            vocab_size=269,
            hidden_size=64,
            num_attention_heads=8,
            num_key_value_heads=2,
            intermediate_size=96,
            num_hidden_layers=2,
            rms_norm_eps=1e-5,
            rope_parameters=rope(1000000.0),
            tie_word_embeddings=False,
            max_position_embeddings=128,
            sliding_window=None,
        ),
        seed=5,
    ),
    Case(
        "llama_bf16",
        "llama",
        dict(
            vocab_size=257,
            hidden_size=64,
            num_attention_heads=4,
            num_key_value_heads=4,  # plain multi-head attention
            intermediate_size=128,
            num_hidden_layers=2,
            rms_norm_eps=1e-5,
            rope_parameters=rope(10000.0),
            tie_word_embeddings=False,
            max_position_embeddings=128,
        ),
        seed=6,
        store_dtype=torch.bfloat16,
    ),
    Case(
        "qwen2_sharded",
        "qwen2",
        dict(
            vocab_size=257,
            hidden_size=64,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=128,
            num_hidden_layers=2,
            rms_norm_eps=1e-6,
            rope_parameters=rope(1000000.0),
            tie_word_embeddings=True,
            max_position_embeddings=128,
            use_sliding_window=False,
        ),
        seed=7,
        max_shard_size="80KB",
    ),
    Case(
        "llama_v4_config",
        "llama",
        dict(
            vocab_size=211,
            hidden_size=48,
            num_attention_heads=3,
            num_key_value_heads=1,
            intermediate_size=80,
            num_hidden_layers=2,
            rms_norm_eps=1e-6,
            rope_parameters=rope(10000.0),
            tie_word_embeddings=False,
            max_position_embeddings=128,
        ),
        seed=8,
        v4_config=True,
        drop_head_dim=True,
    ),
    Case(
        "llama3_v4_config",
        "llama",
        dict(
            vocab_size=223,
            hidden_size=64,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=96,
            num_hidden_layers=2,
            rms_norm_eps=1e-5,
            rope_parameters=rope(500000.0, **LLAMA3_SCALING),
            tie_word_embeddings=False,
            max_position_embeddings=512,
        ),
        seed=9,
        v4_config=True,
    ),
]

CONFIG_CLASSES = {
    "llama": transformers.LlamaConfig,
    "qwen2": transformers.Qwen2Config,
    "qwen3": transformers.Qwen3Config,
    "mistral": transformers.MistralConfig,
}


def init_weights(model: torch.nn.Module, seed: int) -> None:
    """Overwrite HF's init (std 0.02, norms = 1) with visible random values."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32)
            if name.endswith("norm.weight"):
                p.copy_(1.0 + NORM_JITTER * noise)
            elif name.endswith(".bias"):
                p.copy_(BIAS_STD * noise)
            else:
                p.copy_(WEIGHT_STD * noise)


def to_v4_config(path: Path, drop_head_dim: bool) -> None:
    """Rewrite a 5.x config.json into the layout transformers 4.x writes."""
    cfg = json.loads(path.read_text())
    if drop_head_dim:
        # Older 4.x configs (Qwen2.5, SmolLM2, early Llama 3) have no head_dim.
        del cfg["head_dim"]
    params = dict(cfg.pop("rope_parameters"))
    cfg["rope_theta"] = params.pop("rope_theta")
    cfg["rope_scaling"] = None if params.get("rope_type") == "default" else params
    if "dtype" in cfg:
        cfg["torch_dtype"] = cfg.pop("dtype")
    cfg["transformers_version"] = "4.57.1"
    path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def sequences(seed: int, vocab: int) -> list[list[int]]:
    rng = np.random.default_rng(1000 + seed)
    return [rng.integers(0, vocab, size=n).tolist() for n in SEQ_LENS]


def load(path: Path, config=None) -> torch.nn.Module:
    """Load the saved model the way a user would, upcast to float64 (bf16 -> f64 is exact)."""
    extra = {"config": config} if config is not None else {}
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float64, attn_implementation="eager", **extra)
    return model.eval()


def reference(model: torch.nn.Module, seqs: list[list[int]], grads: bool = True):
    """Per-sequence (batch 1, no padding) log-probs, entropies, and grads of -sum(log-probs)."""
    model.zero_grad(set_to_none=True)
    logprobs, entropies, total = [], [], 0.0
    for seq in seqs:
        ids = torch.tensor([seq], dtype=torch.long)
        with torch.set_grad_enabled(grads):
            logits = model(input_ids=ids).logits[0, :-1].double()  # temperature 1
            logp = torch.log_softmax(logits, dim=-1)
            target = torch.tensor(seq[1:], dtype=torch.long)
            lp = logp.gather(-1, target[:, None])[:, 0]
            ent = -(logp.exp() * logp).sum(-1)
            loss = -lp.sum()
        if grads:
            loss.backward()  # gradients accumulate over sequences
        logprobs.append(lp.detach().tolist())
        entropies.append(ent.detach().tolist())
        total += loss.item()
    if not grads:
        return logprobs, entropies, total, {}
    out = {}
    for name, p in model.named_parameters():
        if p.grad is None:
            raise RuntimeError(f"parameter {name} got no gradient")
        out[name] = p.grad.detach().to(torch.float32).contiguous()
    return logprobs, entropies, total, out


def max_abs_diff(a: list[list[float]], b: list[list[float]]) -> float:
    return max(abs(x - y) for sa, sb in zip(a, b) for x, y in zip(sa, sb))


def exact_f64_noise(model: torch.nn.Module, seqs, logprobs, grads) -> str:
    """How far HF's float64 run is from an all-float64 run.

    HF computes RMSNorm, the eager attention softmax and the RoPE angles in
    float32 even in a float64 model; patch those three to stay in float64 and
    compare. This is the noise floor of the references.
    """
    import torch.nn.functional as F

    def rms_forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(var + self.variance_epsilon))

    def rope_forward(self, x, position_ids):
        freqs = position_ids[..., None].double() * self.inv_freq.double()
        emb = torch.cat((freqs, freqs), dim=-1)
        return (emb.cos() * self.attention_scaling).to(x.dtype), (emb.sin() * self.attention_scaling).to(x.dtype)

    real_softmax = F.softmax

    def softmax64(x, dim=None, _stacklevel=3, dtype=None):
        return real_softmax(x, dim=dim, dtype=torch.float64 if x.dtype == torch.float64 else dtype)

    originals = {}  # class -> its forward, restored below so later cases use plain HF
    for m in model.modules():
        cls = type(m)
        if cls.__name__.endswith("RotaryEmbedding") and model.config.rope_parameters["rope_type"] == "default":
            # inv_freq itself was computed in float32 at init; recompute in float64 as well.
            base, dim = model.config.rope_parameters["rope_theta"], m.inv_freq.numel() * 2
            m.inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
        if cls in originals:
            continue
        if cls.__name__.endswith("RMSNorm"):
            originals[cls] = cls.forward
            cls.forward = rms_forward
        elif cls.__name__.endswith("RotaryEmbedding"):
            originals[cls] = cls.forward
            cls.forward = rope_forward
    F.softmax = softmax64
    try:
        lp, _, _, g = reference(model, seqs)
    finally:
        F.softmax = real_softmax
        for cls, fwd in originals.items():
            cls.forward = fwd
    grad_rel = max(((g[k].double() - grads[k].double()).norm() / grads[k].double().norm()).item() for k in grads)
    return (
        f"exact-f64 check: max |dlogprob| {max_abs_diff(lp, logprobs):.2e}, max per-tensor rel grad diff {grad_rel:.2e}"
    )


def write_json(path: Path, obj: dict) -> None:
    # One key per line, values compact: small, and diffs stay readable.
    body = ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in obj.items())
    path.write_text("{\n" + body + "\n}\n")


def build(case: Case, f64_check: bool) -> dict:
    out = OUT / case.name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    config = CONFIG_CLASSES[case.arch](**case.config)
    torch.manual_seed(case.seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    init_weights(model, case.seed)
    model = model.to(case.store_dtype)
    save_kwargs = {"max_shard_size": case.max_shard_size} if case.max_shard_size else {}
    model.save_pretrained(out, **save_kwargs)
    del model
    seqs = sequences(case.seed, config.vocab_size)
    checks = []

    if case.v4_config:
        before, _, _, _ = reference(load(out), seqs, grads=False)
        to_v4_config(out / "config.json", case.drop_head_dim)
        after, _, _, _ = reference(load(out), seqs, grads=False)
        if before != after:
            raise RuntimeError(f"{case.name}: 4.x-style config changed the outputs")
        checks.append("4.x config == 5.x config (bit-identical)")

    rope_type = case.config["rope_parameters"]["rope_type"]
    if rope_type != "default":
        cfg = transformers.AutoConfig.from_pretrained(out)
        cfg.rope_parameters = rope(cfg.rope_parameters["rope_theta"])
        plain, _, _, _ = reference(load(out, cfg), seqs, grads=False)
        scaled, _, _, _ = reference(load(out), seqs, grads=False)
        checks.append(f"{rope_type} vs default rope: max |dlogprob| {max_abs_diff(plain, scaled):.3f}")

    model = load(out)
    logprobs, entropies, loss, grads = reference(model, seqs)
    if config.tie_word_embeddings and "lm_head.weight" in grads:
        raise RuntimeError(f"{case.name}: tied model lists lm_head.weight as a parameter")
    save_file(grads, str(out / "grads.safetensors"))
    write_json(
        out / "golden.json",
        {
            "sequences": seqs,
            "logprobs": logprobs,
            "entropy": entropies,
            "loss": loss,
            "param_names": list(grads),
            "dtype": {torch.float32: "float32", torch.bfloat16: "bfloat16"}[case.store_dtype],
            "transformers_version": transformers.__version__,
            "torch_version": torch.__version__,
        },
    )
    if f64_check:
        checks.append(exact_f64_noise(load(out), seqs, logprobs, grads))

    size = sum(f.stat().st_size for f in out.iterdir())
    flat = [x for s in entropies for x in s]
    print(
        f"{case.name}: {len(list(out.iterdir()))} files, {size / 1024:.0f} KiB, loss {loss:.4f}, "
        f"entropy in [{min(flat):.3f}, {max(flat):.3f}] (log vocab {math.log(config.vocab_size):.3f})"
    )
    for c in checks:
        print(f"  {c}")


def main(argv: list[str]) -> None:
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    f64_check = "--exact-f64-check" in argv
    wanted = {a for a in argv if not a.startswith("--")}
    unknown = wanted - {c.name for c in CASES}
    if unknown:
        sys.exit(f"unknown case(s): {sorted(unknown)}; known: {[c.name for c in CASES]}")
    for case in CASES:
        if not wanted or case.name in wanted:
            build(case, f64_check)


if __name__ == "__main__":
    main(sys.argv[1:])

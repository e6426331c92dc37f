#!/usr/bin/env python3
"""Independent float64 numpy forward pass of a converted Llama directory (e.g. SmolLM2 from
scripts/get-smollm2.sh): greedy-decodes a ChatML prompt and writes reference logits as JSON.

It checks the GGUF import end to end (Q/K un-permutation, tokenizer, tied embeddings) without any
rlvr model code, and its output is the fixture the Rust model's logits are compared against.

    python3 scripts/smollm2_reference.py models/smollm2-135m-instruct OUT.json

Needs numpy and tokenizers (pip). Uses config.json, model.safetensors (f32) and tokenizer.json.
"""
import json
import sys

import numpy as np
from tokenizers import Tokenizer

# What SmolLM2's chat template renders for one user message (it adds this default system prompt).
PROMPT = (
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nWhat is 7 + 5?<|im_end|>\n<|im_start|>assistant\n"
)
MAX_NEW = 24
TOP = 10


def load(model_dir):
    raw = np.memmap(f"{model_dir}/model.safetensors", dtype=np.uint8, mode="r")
    n = int(np.frombuffer(raw[:8], dtype="<u8")[0])
    header = json.loads(bytes(raw[8 : 8 + n]))

    def tensor(name):
        info = header[name]
        assert info["dtype"] == "F32", f"{name}: expected F32 safetensors, got {info['dtype']}"
        a, b = info["data_offsets"]
        return np.frombuffer(raw[8 + n + a : 8 + n + b], dtype="<f4").reshape(info["shape"]).astype(np.float64)

    return tensor


def forward(cfg, W, ids):
    hidden, nh, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd, eps, theta = cfg["head_dim"], cfg["rms_norm_eps"], cfg["rope_theta"]
    t = len(ids)

    def rms(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w

    inv = 1.0 / theta ** (np.arange(0, hd, 2) / hd)
    ang = np.arange(t)[:, None] * inv[None, :]
    cos = np.cos(np.concatenate([ang, ang], -1))[:, None, :]
    sin = np.sin(np.concatenate([ang, ang], -1))[:, None, :]

    def rope(x):  # HF rotate_half convention
        rot = np.concatenate([-x[..., hd // 2 :], x[..., : hd // 2]], -1)
        return x * cos + rot * sin

    emb = W("model.embed_tokens.weight")
    x = emb[ids]
    mask = np.triu(np.full((t, t), -np.inf), 1)
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = rms(x, W(p + "input_layernorm.weight"))
        q = rope((h @ W(p + "self_attn.q_proj.weight").T).reshape(t, nh, hd))
        k = rope((h @ W(p + "self_attn.k_proj.weight").T).reshape(t, nkv, hd))
        v = (h @ W(p + "self_attn.v_proj.weight").T).reshape(t, nkv, hd)
        k, v = np.repeat(k, nh // nkv, axis=1), np.repeat(v, nh // nkv, axis=1)
        s = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(hd) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        o = np.einsum("hqk,khd->qhd", s, v).reshape(t, nh * hd)
        x = x + o @ W(p + "self_attn.o_proj.weight").T
        h = rms(x, W(p + "post_attention_layernorm.weight"))
        g, u = h @ W(p + "mlp.gate_proj.weight").T, h @ W(p + "mlp.up_proj.weight").T
        x = x + (g / (1 + np.exp(-g)) * u) @ W(p + "mlp.down_proj.weight").T
    x = rms(x, W("model.norm.weight"))
    head = emb if cfg["tie_word_embeddings"] else W("lm_head.weight")
    return x @ head.T


def main():
    model_dir, out = sys.argv[1], sys.argv[2]
    cfg = json.load(open(f"{model_dir}/config.json"))
    tok = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    W = load(model_dir)
    prompt_ids = tok.encode(PROMPT).ids
    logits = forward(cfg, W, prompt_ids)
    positions = []
    for pos in range(len(prompt_ids)):
        top = np.argsort(-logits[pos])[:TOP]
        positions.append({"top_ids": top.tolist(), "top_logits": [round(float(logits[pos, i]), 5) for i in top]})
    ids = list(prompt_ids)
    eos = cfg["eos_token_id"]
    for _ in range(MAX_NEW):
        nxt = int(np.argmax(forward(cfg, W, ids)[-1]))
        ids.append(nxt)
        if nxt == eos:
            break
    completion = tok.decode(ids[len(prompt_ids) :], skip_special_tokens=True)
    json.dump(
        {
            "model": model_dir.rstrip("/").split("/")[-1],
            "computed_by": "scripts/smollm2_reference.py (float64 numpy)",
            "prompt": PROMPT,
            "prompt_ids": prompt_ids,
            "prompt_logits_top": positions,
            "greedy_ids": ids[len(prompt_ids) :],
            "greedy_text": completion,
        },
        open(out, "w"),
        indent=1,
    )
    print(f"prompt ids {prompt_ids}\ngreedy: {completion!r}")


if __name__ == "__main__":
    main()

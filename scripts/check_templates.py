#!/usr/bin/env python3
"""Independent check of the chat-template fixtures.

Plain string code (no Jinja) written from tests/fixtures/templates/README.md
("Behaviour the Rust templates must reproduce"). It must reproduce every
`expected` string byte for byte. This is the shape a Rust implementation takes.
Standard library only:

    python3 scripts/check_templates.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "templates"

QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
QWEN_MATH_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
SMOLLM2_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def chatml(messages, add_generation_prompt, default_system):
    out = ""
    if messages[0]["role"] != "system" and default_system is not None:
        out += f"<|im_start|>system\n{default_system}<|im_end|>\n"
    for m in messages:
        out += f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n"
    return out + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def qwen3(messages, add_generation_prompt, enable_thinking=True):
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    out = ""
    for i, m in enumerate(messages):
        content = m["content"]
        if m["role"] != "assistant":
            out += f"<|im_start|>{m['role']}\n{content}<|im_end|>\n"
            continue
        reasoning = ""
        if "</think>" in content:
            reasoning = content.split("</think>")[0].rstrip("\n").split("<think>")[-1].lstrip("\n")
            content = content.split("</think>")[-1].lstrip("\n")
        if i > last_user and (i == len(messages) - 1 or reasoning):
            out += f"<|im_start|>assistant\n<think>\n{reasoning.strip(chr(10))}\n</think>\n\n{content.lstrip(chr(10))}"
        else:
            out += f"<|im_start|>assistant\n{content}"
        out += "<|im_end|>\n"
    if add_generation_prompt:
        out += "<|im_start|>assistant\n" + ("" if enable_thinking else "<think>\n\n</think>\n\n")
    return out


def llama3(messages, add_generation_prompt):
    # Jinja's trim strips Python whitespace, like str.strip().
    system = ""
    if messages[0]["role"] == "system":
        system, messages = messages[0]["content"].strip(), messages[1:]
    out = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
    out += f"Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n{system}<|eot_id|>"
    for m in messages:
        out += f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n{m['content'].strip()}<|eot_id|>"
    return out + ("<|start_header_id|>assistant<|end_header_id|>\n\n" if add_generation_prompt else "")


RENDER = {
    "qwen2_5": lambda c: chatml(c["messages"], c["add_generation_prompt"], QWEN_SYSTEM),
    "qwen2_5_math": lambda c: chatml(c["messages"], c["add_generation_prompt"], QWEN_MATH_SYSTEM),
    "qwen3": lambda c: qwen3(c["messages"], c["add_generation_prompt"], c.get("enable_thinking", True)),
    "llama3": lambda c: llama3(c["messages"], c["add_generation_prompt"]),
    "smollm2": lambda c: chatml(c["messages"], c["add_generation_prompt"], SMOLLM2_SYSTEM),
}


def main() -> None:
    failures, count = [], 0
    for family, render in RENDER.items():
        for case in json.loads((FIXTURES / f"{family}.json").read_text(encoding="utf-8"))["cases"]:
            count += 1
            got = render(case)
            if got != case["expected"]:
                failures.append(f"{family}/{case['name']}:\n  got      {got!r}\n  expected {case['expected']!r}")
    paper = json.loads((FIXTURES / "paper.json").read_text(encoding="utf-8"))
    for case in paper["cases"]:
        count += 1
        if paper["templates"][case["template"]].replace("{input}", case["input"]) != case["expected"]:
            failures.append(f"paper/{case['template']}: mismatch")
    if failures:
        sys.exit("\n".join(failures))
    print(f"{count} template cases reproduced")


if __name__ == "__main__":
    main()

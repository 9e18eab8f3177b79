"""python recipes/eval.py --data ../shared/data/banking/train.jsonl --tools ../shared/data/banking/job_description.json --model tiny-lfm2 --output runs/eval-banking

Evaluate a model on tool-calling tasks and write a report (results.json, summary.md, PNG plots).

1. Load the examples: `--data` is an env name (`smart_home`, `banking`, `shell`: its test split,
   every next-call and reply step of `episodes` generated episodes), a distil JSONL file (with
   `--tools`, a job_description.json-style tool file), a BFCL question file (answers from
   `possible_answer/<same name>` beside it, or `--answers`), or BFCL v4 from the installed
   bfcl-eval package: `--data bfcl:<category>`, `bfcl:a,b`, a group (`bfcl:single_turn`, `non_live`,
   `live`, `multi_turn`) or `bfcl:all` (every single-turn category and multi_turn_base).
   `limit` keeps the first N rows/episodes (per category for BFCL v4).
2. Pick the engine: `--model` is a model name/path (HF generate; `backend=vllm` for vLLM), an
   http(s) URL of an OpenAI-compatible server (with `--endpoint-model NAME`), or a .gguf file.
3. For every generation setting (default: LFM2 recommended, then temperature 1.0) generate, parse,
   check against the references, detect loops; env episodes are also played on the model's own
   history against the live env.
4. Write the report (BFCL v4: plus the BFCL summary table, per category and BFCL's non-live / live /
   irrelevance / multi-turn / overall aggregates, printed too); the last line printed is
   `tool-call equivalence: X.X% (n=N)` for the first setting.

Compare mode: `python recipes/eval.py --compare runs/base,runs/sft,runs/dpo --output runs/compare`
puts finished runs side by side (compare.md + plots). Every flag is also a config key
(recipes/configs/eval.yaml); `key=value` overrides work too.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from rlkit.chat import ToolStyle
from rlkit.chat_format import ChatFormat
from rlkit.config import parse_cli, save_config
from rlkit.eval import GenerationSetting, default_settings, evaluate, load_eval_data, write_report
from rlkit.eval.backends import engine_for_model
from rlkit.eval.compare import compare_runs
from rlkit.eval.report import bfcl_summary, bfcl_table, pct

log = logging.getLogger("recipes.eval")
DEFAULT_CONFIG = Path(__file__).parent / "configs" / "eval.yaml"


@dataclass
class EvalConfig:
    """Every key of recipes/configs/eval.yaml (flags `--key value` set the same keys)."""

    data: str = "smart_home"  # env name, distil JSONL, BFCL question file, or bfcl:<category|group|all>
    tools: str = ""  # distil: job_description.json-style tool file
    answers: str = ""  # BFCL: answer file (default: possible_answer/<same name> beside the questions)
    model: str = "tiny-lfm2"  # model name/path, http(s) endpoint URL, or .gguf file
    endpoint_model: str = ""  # the served model's name, when `model` is an endpoint URL
    backend: Literal["auto", "hf", "vllm", "openai", "gguf"] = "auto"
    tokenizer: str = ""  # endpoints: model name/path whose tokenizer counts the returned text's tokens
    api_key_env: str = "OPENAI_API_KEY"  # endpoints: environment variable holding the API key
    restore_call_markers: bool = True  # endpoints: re-insert the tool-call markers servers strip
    render_chat_locally: bool = False  # endpoints: render prompts here, send text to /completions (llama.cpp server)
    tool_style: ToolStyle = "compact"  # must match how the model was trained
    chat_format: ChatFormat = "auto"  # auto | lfm2 | native: how a template that drops tool calls is handled (rlkit.chat_format)
    output: str = "runs/eval"
    split: str = "test"  # env split
    episodes: int = 8  # env episodes to generate (each gives several examples)
    limit: int = 0  # keep the first N file rows / env episodes (0 = all)
    max_tokens: int = 128
    max_steps_per_turn: int = 4  # own-history episodes: call steps before a turn is cut off
    batch_size: int = 16
    seed: int = 0
    num_threads: int = 1  # torch CPU threads (shared machine); 0 = torch's default
    settings: list[GenerationSetting] = field(default_factory=default_settings)
    compare: list[str] | str = field(default_factory=list)  # run dirs to put side by side (compare mode)
    labels: list[str] | str = field(default_factory=list)  # names of the compared runs


def _as_list(value: list[str] | str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()] if isinstance(value, str) else list(value)


def main(config: EvalConfig):
    """Run the eval (or the comparison) that `config` describes; returns the EvalResult (or the paths)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)
    output = Path(config.output)

    if config.compare:
        paths = compare_runs(_as_list(config.compare), output, _as_list(config.labels) or None)
        print(paths["markdown"].read_text())
        print(f"comparison written to {paths['markdown']}")
        return paths

    data = load_eval_data(config.data, config.tools or None, config.answers or None, split=config.split,
                          episodes=config.episodes, limit=config.limit, seed=config.seed)
    log.info("%d examples and %d episodes from %s", len(data.examples), len(data.episodes), data.source)
    engine = engine_for_model(config.model, backend=config.backend, endpoint_model=config.endpoint_model,
                              tool_style=config.tool_style, batch_size=config.batch_size, tokenizer=config.tokenizer,
                              chat_format=config.chat_format,
                              restore_call_markers=config.restore_call_markers, api_key_env=config.api_key_env,
                              render_chat_locally=config.render_chat_locally)
    result = evaluate(
        engine, data.examples, config.settings, max_tokens=config.max_tokens, seed=config.seed,
        episodes=data.episodes, env_factory=data.env_factory, max_steps_per_turn=config.max_steps_per_turn,
        meta={"model": config.model, "data": data.source, "data_kind": data.kind, "tool_style": config.tool_style,
              "max_tokens": config.max_tokens},
    )
    if data.kind == "bfcl":
        result.meta["bfcl"] = bfcl_summary(result, max_steps_per_turn=config.max_steps_per_turn)
        result.meta["skipped_rows"] = data.skipped
    save_config(config, output / "config.yaml")
    paths = write_report(result, output)

    for setting, m in result.metrics.items():
        print(f"{setting:>20}: equivalence {pct(m['calls']['equivalence'])} (n={m['calls']['n']}), "
              f"parse errors {pct(m['calls']['parse_error_rate'])}, loop rate {pct(m['generation']['loop_rate'])}, "
              f"mean length {m['generation']['mean_length'] or 0:.1f} tokens")
    if data.kind == "bfcl":
        print("\n".join(bfcl_table(result.meta["bfcl"])))
    print("report: " + ", ".join(str(p) for p in paths.values()))
    print(result.summary_line())
    return result


if __name__ == "__main__":
    main(parse_cli(EvalConfig, sys.argv[1:], DEFAULT_CONFIG))

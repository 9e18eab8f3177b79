"""python recipes/synth_data.py [--config recipes/configs/synth_data.yaml] [section.key=value ...]

Teacher-driven synthetic data: from a job description (task text + tool schemas) and a few dozen
seed conversations to many validated training conversations, ready for `recipes/sft.py`.

1. Read the job description (`task_description`, `tools`), the seed rows and the test rows that must
   never leak (distil JSONL: a conversation and the single next call expected).
2. Plan `num_requests` teacher requests (target tool dealt round-robin, number of user turns,
   persona, phrasing style, noise, off-domain share) and ask the teacher(s) over the OpenAI API,
   with concurrency, retries, timeout and an on-disk cache. Replies go to `<output_dir>/raw.jsonl`
   as they arrive; a rerun continues from it.
3. Run every reply through the funnel: JSON parse (json.loads only, nothing evaluated), structure,
   every call validated against the tools, code-like text, test leaks, near-duplicates of seeds and
   of each other, optionally a plausibility jury (rlkit.jury LLM judges). Every drop is counted
   with its reason.
4. Write `synth.jsonl` (distil format), `tools.json`, `dataset/` (datasets.Dataset with `messages`,
   `tools`, `answer`), `report.md` + `report.json`, and the resolved config.

Train on the result: `python recipes/sft.py data.source=distil data.path=<output_dir>/synth.jsonl
data.tools_path=<output_dir>/tools.json`.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path


from rlkit.config import parse_cli, save_config
from rlkit.data.distil import load_distil_jsonl, load_job
from rlkit.model import cache_root, resolve_model_path
from rlkit.synth.conversation import conversation_from_row
from rlkit.synth.pipeline import apply_drops, generate, validate_records
from rlkit.synth.plausibility import JurySettings, build_jury, jury_drops
from rlkit.synth.prompts import Diversity, plan_requests
from rlkit.synth.report import render_markdown, summarize
from rlkit.synth.teacher import ReplyCache, Teacher, TeacherEndpoint, TeacherSampling
from rlkit.synth.validate import FilterSettings, Funnel

log = logging.getLogger("recipes.synth_data")
DEFAULT_CONFIG = Path(__file__).parent / "configs" / "synth_data.yaml"


@dataclass
class SynthInputs:
    """The `inputs:` section: job description, seed examples, test examples that must not leak."""

    job_path: str = "../shared/data/banking/job_description.json"
    seeds_path: str = "../shared/data/banking/train.jsonl"
    test_paths: list[str] = field(default_factory=list)
    max_seeds: int = 0  # 0 = all seed rows


@dataclass
class TeacherSection:
    """The `teacher:` section: endpoints (round-robin), request settings, parallelism, cache."""

    endpoints: list[TeacherEndpoint] = field(default_factory=lambda: [TeacherEndpoint()])
    sampling: TeacherSampling = field(default_factory=TeacherSampling)
    concurrency: int = 4
    use_cache: bool = True


@dataclass
class SynthRecipeConfig:
    """Everything `recipes/synth_data.py` reads."""

    output_dir: str = "runs/synth_banking"
    num_requests: int = 40
    seed: int = 0
    max_turn_chars: int = 1000  # longer user/assistant/tool turns are dropped (bad_conversation)
    inputs: SynthInputs = field(default_factory=SynthInputs)
    # The banking job with the embedded tiny LFM2 as teacher (see the YAML's header for serving it).
    teacher: TeacherSection = field(default_factory=lambda: TeacherSection(
        endpoints=[TeacherEndpoint(model="tiny-lfm2")],
        sampling=TeacherSampling(max_tokens=384, timeout_s=120.0, backoff_s=1.0), concurrency=2))
    diversity: Diversity = field(default_factory=lambda: Diversity(
        personas=["a busy parent", "an elderly customer", "a student", "a small-business owner", "a frustrated customer"],
        styles=["plain", "polite and wordy", "terse", "rambling with self-corrections"],
        noise=["none", "ASR transcription errors: homophones, dropped or merged words", "filler words such as um, uh, like"],
        turn_weights=[0.6, 0.3, 0.1], off_domain_share=0.1, off_domain_tool="intent_unclear"))
    filters: FilterSettings = field(default_factory=FilterSettings)
    jury: JurySettings = field(default_factory=lambda: JurySettings(concurrency=2))


def load_examples(path: str, tools_path: str, limit: int = 0) -> list:
    """Conversations from a distil JSONL file (the first `limit` rows; 0 = all)."""
    rows = load_distil_jsonl(path, tools_path)
    if limit and len(rows) > limit:
        rows = rows.select(range(limit))
    return [conversation_from_row(row["messages"], row["answer"], f"{path} row {i + 1}") for i, row in enumerate(rows)]


def main(config: SynthRecipeConfig) -> dict:
    """Generate, validate and write the synthetic data; returns the report summary."""
    output_dir = Path(config.output_dir)
    save_config(config, output_dir / "config.yaml")
    task_description, tools = load_job(config.inputs.job_path)
    seeds = load_examples(config.inputs.seeds_path, config.inputs.job_path, config.inputs.max_seeds)
    tests = [c for path in config.inputs.test_paths for c in load_examples(path, config.inputs.job_path)]
    log.info("job: %d tools; %d seeds; %d test examples guarded against leaks", len(tools), len(seeds), len(tests))

    # 2. Ask the teacher (resumable: raw.jsonl keeps every reply). `tiny-lfm2` names the served folder.
    for endpoint in [*config.teacher.endpoints, *config.jury.judges]:
        endpoint.model = resolve_model_path(endpoint.model)
    tool_names = [tool.get("function", tool)["name"] for tool in tools]
    plans = plan_requests(config.num_requests, tool_names, [s.next_call.name for s in seeds], config.diversity, config.seed)
    cache = ReplyCache(cache_root() / "synth_teacher") if config.teacher.use_cache else None
    teacher = Teacher(config.teacher.endpoints, config.teacher.sampling, cache)
    raw_path = output_dir / "raw.jsonl"
    records = generate(teacher, plans, task_description, tools, seeds, raw_path, config.teacher.concurrency, config.seed)

    # 3. Validate every reply.
    funnel = Funnel(tools, seeds, tests, config.filters)
    max_user_turns = len(config.diversity.turn_weights)
    outcomes, kept = validate_records(records, plans, funnel, max_user_turns, config.max_turn_chars)
    if config.jury.enabled and kept:
        jury_cache = cache_root() / "synth_jury" if config.teacher.use_cache else None
        jury = build_jury(config.jury, config.teacher.endpoints, jury_cache)
        kept = apply_drops(outcomes, kept, jury_drops(jury, kept, tools, config.jury.min_score))
        log.info("jury: %s", jury.stats.as_dict())

    # 4. Write the outputs.
    synth_path = output_dir / "synth.jsonl"
    synth_path.write_text("".join(json.dumps(c.to_distil(), ensure_ascii=False) + "\n" for _, c in kept))
    tools_path = output_dir / "tools.json"
    tools_path.write_text(json.dumps({"task_description": task_description, "tools": tools}, indent=2))
    if kept:
        load_distil_jsonl(synth_path, tools_path).save_to_disk(str(output_dir / "dataset"))
    endpoints = ", ".join(f"{e.model} @ {e.base_url}" for e in config.teacher.endpoints)
    cached = sum(bool(record.get("cached")) for record in records.values())
    notes = [
        f"teacher: {endpoints}",
        f"job: {config.inputs.job_path}; seeds: {len(seeds)}; test examples: {len(tests)}",
        f"teacher replies on record: {sum(r.get('reply') is not None for r in records.values())} ({cached} from the cache)",
    ]
    (output_dir / "report.md").write_text(render_markdown(outcomes, "Synthetic data report", notes))
    summary = summarize(outcomes)
    (output_dir / "report.json").write_text(json.dumps(summary, indent=2))
    log.info("kept %d of %d requests; report: %s", summary["kept"], summary["requests"], output_dir / "report.md")
    return summary


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    main(parse_cli(SynthRecipeConfig, sys.argv[1:], default_path=DEFAULT_CONFIG))

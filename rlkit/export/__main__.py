"""`python -m rlkit.export merge|gguf ...` (the same as `rlkit export ...`)."""

import sys

from rlkit.export.cli import main

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))

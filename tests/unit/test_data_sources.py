"""`data:` sections: several envs in one source share num_rows and alternate row by row."""

from __future__ import annotations

import pytest

from rlkit.data.sources import TaskSource, load_task_rows


def test_two_envs_share_the_rows_and_alternate():
    rows = load_task_rows(TaskSource(env="smart_home, banking", kind="next_call", num_rows=5, seed=0))
    assert [r["env"] for r in rows] == ["smart_home", "banking", "smart_home", "banking", "smart_home"]
    alone = load_task_rows(TaskSource(env="banking", kind="next_call", num_rows=2, seed=0))
    assert [r["messages"] for r in rows if r["env"] == "banking"] == list(alone["messages"])


def test_an_empty_env_list_is_an_error_naming_the_key():
    with pytest.raises(ValueError, match="data.env"):
        load_task_rows(TaskSource(env=" , "))

"""Shard bounds: every item owned by exactly one process, sizes balanced."""

from __future__ import annotations

import pytest

from rlkit.train.distributed import shard_bounds


@pytest.mark.parametrize("num_items", [0, 1, 5, 7, 48])
@pytest.mark.parametrize("world_size", [1, 2, 3, 8])
def test_shards_cover_every_item_once(num_items, world_size):
    owned = [i for rank in range(world_size) for i in range(*shard_bounds(num_items, rank, world_size))]
    assert owned == list(range(num_items))
    sizes = [end - start for start, end in (shard_bounds(num_items, r, world_size) for r in range(world_size))]
    assert max(sizes) - min(sizes) <= 1


def test_hand_computed_example():
    assert [shard_bounds(7, r, 3) for r in range(3)] == [(0, 3), (3, 5), (5, 7)]


def test_bad_rank_is_refused():
    with pytest.raises(ValueError, match="rank 2 is not in a world of 2"):
        shard_bounds(4, 2, 2)

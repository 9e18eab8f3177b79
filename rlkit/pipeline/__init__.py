"""Stage chaining support: `eval` scores one stage's model on held-out env tasks; `report` writes the per-stage table."""

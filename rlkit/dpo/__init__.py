"""Anti-loop DPO: `pairs` builds on-policy chosen/rejected pairs with the jury; `trainer` runs length-normalized DPO."""

"""Pure registry logic: the per-person fold, codes, statistics, suppression, KPR rules."""

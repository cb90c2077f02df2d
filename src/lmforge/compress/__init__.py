"""Make models smaller: int8/int4 weights, pruning, logit distillation."""

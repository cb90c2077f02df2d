"""Fine-tuning tasks: dataset adapters, heads and training loops per task (all through the one Trainer)."""

"""Training objectives: each turns (model, batch) into a scalar loss for the Trainer."""

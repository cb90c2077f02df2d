"""The one training loop (:class:`~lmforge.train.trainer.Trainer`) and what it needs."""

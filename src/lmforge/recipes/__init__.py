"""Runs that combine the library: one function per thing a user asks for from the command line.

``quickstart``, ``train_lm`` (``lmforge train``), ``pretrain``, ``translate_train`` + ``translator``
(``lmforge translate-train`` / ``translate``) and ``finetune`` (``lmforge finetune classify|ner|qa``)
read files, build models, call the one Trainer and write model directories. They sit between ``cli/``
(argument parsing) and the library packages, which never import them: see docs/architecture.md.
"""

"""``python -m lmforge``: what ``torchrun --nproc_per_node=N -m lmforge train ...`` runs on every rank."""

from lmforge.cli.main import main

if __name__ == "__main__":
    main()

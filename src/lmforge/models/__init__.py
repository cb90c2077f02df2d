"""Model families built from the shared blocks in :mod:`lmforge.models.blocks`."""

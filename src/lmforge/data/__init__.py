"""Token data on disk: text corpora -> memory-mapped token shards -> training batches."""

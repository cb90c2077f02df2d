"""Pictures of what models do: attention heatmaps."""

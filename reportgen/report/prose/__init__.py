"""The prose language: Markdown sanitised, images embedded from the manifest's folder, live references (@{…},
@fig:, @tab:, [@key]) expanded from the results, math drawn."""

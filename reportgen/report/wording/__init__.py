"""Words about numbers: formatting, the findings and what the statistics allow to be said, descriptions of
settings and sources."""

"""The manifest stage: schema, YAML loading, --set, sweeps and variants; imports no torch, numpy or Jinja."""

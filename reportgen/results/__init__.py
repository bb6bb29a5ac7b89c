"""The results stage: results.json, the run cache and embedded results; JSON only, imports no torch."""

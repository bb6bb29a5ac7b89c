"""The results stage: results.json, the run cache and embedded results; JSON only, imports no torch.

May import: nothing else of reportgen.
Never imports: torch, torchvision, timm, numpy, sklearn, jinja2, matplotlib, weasyprint.
"""

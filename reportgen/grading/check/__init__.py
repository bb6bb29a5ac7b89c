"""`reportgen check`: a submitted report checked against its own embedded results, offline and without torch.

May import: grading, results, report, grading.diff.
Never imports: torch, torchvision, timm, sklearn, numpy, matplotlib, jinja2, weasyprint.
"""

"""`reportgen grade`: checks every submission in a class folder, in parallel and resumably, into a class overview.

May import: grading, results, report, grading.check, grading.verify, grading.similar, manifest.
Never imports: torch, torchvision, timm, sklearn, numpy, matplotlib, jinja2, weasyprint.
"""

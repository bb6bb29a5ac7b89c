"""Graders' tools over submitted builds: check, diff, verify and grade; each subpackage states its own imports.

May import: nothing else of reportgen.
Never imports: torch, torchvision, timm, sklearn, numpy, matplotlib, jinja2, weasyprint.
"""

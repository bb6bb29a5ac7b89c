"""The manifest stage: schema, YAML loading, --set, sweeps and variants; imports no torch, numpy or Jinja.

May import: nothing else of reportgen.
Never imports: torch, torchvision, timm, numpy, sklearn, jinja2, markupsafe, markdown_it, nh3, PIL, matplotlib, weasyprint.
"""

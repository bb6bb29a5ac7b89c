"""The models stage: torch modules from layer lists, torchvision/timm networks and per-layer parameter records.

May import: manifest.
Never imports: jinja2, matplotlib, weasyprint, markdown_it, nh3.
"""

"""`reportgen init`: a commented starter manifest, its prose and a .gitignore, from the text files in starters/.

May import: manifest.
Never imports: torch, torchvision, timm, jinja2, weasyprint.
"""

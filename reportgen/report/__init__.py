"""The report stage: results (numbers and structured facts) → words, figures, HTML and PDF.

registry (every section kind: title, view builder, figures, template) → views/ (what each template prints) and
figures/ (what each section draws) → document (numbered sections) → html (Jinja templates) → pdf. All of the
report's wording lives on this side (wording, views, templates), so rewording never changes a run's cache key.

May import: manifest, results.
Never imports: torch, torchvision, timm, sklearn.
"""

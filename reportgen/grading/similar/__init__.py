"""`reportgen grade --similarity`: prose, code, experiment design and runs compared between every pair of a class.

May import: grading, manifest.
Never imports: torch, torchvision, timm, sklearn, numpy, matplotlib, jinja2, weasyprint.
"""

from reportgen.grading.similar.compare import DEFAULT_THRESHOLD, ClassSimilarity, Pair, compare_class
from reportgen.grading.similar.page import pair_page

__all__ = ["DEFAULT_THRESHOLD", "ClassSimilarity", "Pair", "compare_class", "pair_page"]

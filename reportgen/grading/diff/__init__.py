"""`reportgen diff`: compares two builds number by number and section by section; imports no torch.

May import: grading, results, report.
Never imports: torch, torchvision, timm, sklearn, numpy, matplotlib.
"""

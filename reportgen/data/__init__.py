"""The data stage: digits, CIFAR, MNIST-like sets and image folders as tensors, plus dataset exploration.

May import: manifest.
Never imports: jinja2, matplotlib, weasyprint, markdown_it, nh3.
"""

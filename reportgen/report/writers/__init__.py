"""The outputs written from the document: HTML (Jinja templates), the PDF (WeasyPrint), LaTeX and CSV."""

"""`reportgen verify`: re-run a submission's runs from its manifest and compare them with its recorded results.

May import: manifest, data, models, run, results, grading.check, grading.diff, reportgen.build.
Never imports: jinja2, matplotlib, weasyprint, markdown_it, nh3.
"""

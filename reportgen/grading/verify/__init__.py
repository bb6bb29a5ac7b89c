"""`reportgen verify`: re-run a submission's runs in a sandboxed child and compare them, here, with its recorded results.

May import: grading, manifest, data, models, run, results, grading.check, grading.diff, reportgen.build.
Never imports: jinja2, matplotlib, weasyprint, markdown_it, nh3.
"""

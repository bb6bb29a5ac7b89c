"""The run stage: plans and cache keys, one training run, the scheduler and its workers, the results record.

May import: manifest, data, models, results.
Never imports: jinja2, matplotlib, weasyprint, markdown_it, nh3.
"""

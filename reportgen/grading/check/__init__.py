"""`reportgen check`: a submitted report checked against its own embedded results, re-rendered from them and its
manifest as `reportgen render` would, offline and without torch (rendering brings in Jinja, matplotlib, WeasyPrint,
and recomputing statistics numpy and scipy, as `render` does).

May import: grading, results, report, grading.diff, manifest, run, reportgen.build.
Never imports: torch, torchvision, timm, sklearn.
"""

"""reportgen serve: a live preview of the report on 127.0.0.1 that re-renders and reloads when its sources change.

May import: manifest, results, report, reportgen.build.
Never imports: torch, torchvision, timm, sklearn.
"""

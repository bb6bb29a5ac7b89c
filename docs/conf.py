"""Sphinx configuration of reportgen's documentation: MyST Markdown pages and the schema-generated references."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "reportgen"
author = "reportgen contributors"
extensions = ["myst_parser", "schema_reference"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3  # [text](page.md#heading) links are checked by the build (-W), as GitHub resolves them
html_theme = "alabaster"
html_static_path = ["_static"]
html_title = "reportgen"

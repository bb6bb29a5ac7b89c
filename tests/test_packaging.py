"""The templates ship inside the wheel and are found from a non-editable install."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO


@pytest.mark.slow
def test_wheel_contains_templates_and_finds_them(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(REPO)], check=True, capture_output=True)
    wheel = next(wheels.glob("reportgen-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("reportgen/templates/base/report.html.j2", "reportgen/templates/base/style.css",
                   "reportgen/templates/base/sections/training.html.j2", "reportgen/templates/assignment/style.css",
                   "reportgen/templates/assignment/sections/cover.html.j2", "reportgen/templates/lab/style.css",
                   "reportgen/templates/paper/sections/cover.html.j2"):
        assert needed in names
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = "import reportgen.report.writers.html as r; print(r.templates_root()); print(r.__file__)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    root, module = out.stdout.split()
    assert root.startswith(str(site)) and module.startswith(str(site))

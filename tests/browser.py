"""A page in headless Chromium at a given width: how wide it lays out and what axe-core finds (tests' helper).

The page is opened inside an iframe of exactly that width (a desktop Chromium window cannot be narrower than
500 px), from a copy that has axe-core and a probe script inlined. The copy drops the page's
Content-Security-Policy, which would refuse the two scripts; nothing else of the page changes. Tests that use
it skip, saying why, where Chromium or axe-core (`npm install --prefix .ci axe-core@4`, as `.ci/run` does) is
absent.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
AXE_JS = next((p for p in (Path(os.environ.get("AXE_CORE_JS", "/nonexistent")),
                           REPO / ".ci" / "node_modules" / "axe-core" / "axe.min.js",
                           REPO / "node_modules" / "axe-core" / "axe.min.js") if p.is_file()), None)
# WCAG 2.1 A and AA, the rules that decide conformance (axe's best practices, e.g. landmarks, are reported too)
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
needs_axe = pytest.mark.skipif(CHROMIUM is None or AXE_JS is None,
                               reason="Chromium or axe-core is missing (apt-get install chromium; "
                                      "npm install --prefix .ci axe-core@4)")

PROBE = """
<script>
window.addEventListener('load', async () => {
  // width: the viewport's; clientWidth: less its scroll bar, the most the page may be wide
  const width = document.documentElement.clientWidth, out = {scrollWidth: document.documentElement.scrollWidth,
    width: window.innerWidth, clientWidth: width, outside: [], broken: [],
    dark: matchMedia('(prefers-color-scheme: dark)').matches};
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    // inside a scroll box an element may reach past the edge; the box itself may not
    if (r.width && r.right > width + 1 && !(el.parentElement && el.parentElement.closest('.scroll'))) {
      out.outside.push(el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' ' + Math.round(r.right));
    }
  }
  for (const el of document.querySelectorAll('th, td, h1, h2, h3, h4, button, a, dt')) {
    // a word broken inside: an element whose longest word is wider than the element's content box
    // words as reportgen breaks them: at spaces, after the separators of ids and names (<wbr>) and after hyphens
    // (digests break anywhere, and are left out)
    const words = (el.innerText || '').split(/\\s+|(?<=[\\/_=-])(?=[^\\/_=-])|(?<=\\.)(?=\\p{L})/u)
      .filter(w => w.length > 1 && !/[0-9a-f]{16,}/.test(w));
    if (!words.length || !el.getClientRects().length) continue;
    const longest = words.reduce((a, b) => a.length >= b.length ? a : b);
    const probe = document.createElement('span'), inner = [...el.querySelectorAll('*')].find(
      e => !e.children.length && (e.innerText || '').includes(longest));
    probe.textContent = longest;
    probe.style.font = getComputedStyle(inner || el).font;
    probe.style.position = 'absolute';
    probe.style.visibility = 'hidden';
    probe.style.whiteSpace = 'nowrap';
    el.appendChild(probe);
    const need = probe.getBoundingClientRect().width, style = getComputedStyle(el);
    const room = el.getBoundingClientRect().width - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    probe.remove();
    if (need > room + 1) out.broken.push(el.tagName.toLowerCase() + ': ' + longest);
  }
  // each folding box: in the keyboard's order, labelled by a cell of its block, and unchecking it hides exactly
  // that block's rows but its head, and nothing else; checking it again shows them
  const shown = () => [...document.querySelectorAll('tr')].map(tr => tr.offsetParent !== null);
  out.folds = [...document.querySelectorAll('input.fold:not([disabled])')].map(box => {
    const label = document.querySelector('label[for="' + box.id + '"]'), before = shown();
    const body = label ? label.closest('tbody') : null, rows = [...document.querySelectorAll('tr')];
    if (label) label.click();
    const folded = shown(), changed = rows.filter((tr, i) => before[i] !== folded[i]);
    const expected = body ? [...body.rows].filter(tr => !tr.classList.contains('block-head')) : [];
    if (label) label.click();
    box.focus();
    return {id: box.id, label: label ? label.innerText : null, tabbable: box.tabIndex >= 0 && !box.disabled,
            focused: document.activeElement === box, hidden: changed.length,
            exact: changed.length === expected.length && changed.every(tr => expected.includes(tr)),
            restored: shown().every((v, i) => v === before[i])};
  });
  out.outside = out.outside.slice(0, 20);
  out.broken = out.broken.slice(0, 20);
  if (window.axe) {
    const res = await axe.run(document, {resultTypes: ['violations'], runOnly: {type: 'tag', values: TAGS}});
    out.violations = res.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map(n => n.html.slice(0, 200))}));
  }
  const pre = document.createElement('pre');
  pre.id = 'probe-out';
  pre.textContent = JSON.stringify(out);
  parent.document.body.appendChild(pre);
});
</script>"""


def open_page(page: Path | str, width: int, axe: bool = True, dark: bool = False) -> dict:
    """Lay `page` out `width` px wide; its scroll width, elements past the edge, words broken, axe's violations."""
    text = page if isinstance(page, str) else page.read_text(encoding="utf-8")
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text, count=1)
    scripts = (f"<script>{AXE_JS.read_text(encoding='utf-8')}</script>" if axe and AXE_JS else "")
    scripts += PROBE.replace("TAGS", json.dumps(WCAG))
    text = text.replace("</head>", scripts + "</head>", 1) if "</head>" in text else scripts + text
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "page.html").write_text(text, encoding="utf-8")
        frame = Path(tmp, "frame.html")
        frame.write_text('<!DOCTYPE html><html lang="en"><body style="margin:0"><iframe src="page.html" '
                         f'title="page" style="border:0;width:{width}px;height:900px"></iframe></body></html>')
        args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--allow-file-access-from-files", f"--user-data-dir={tmp}/profile",
                f"--window-size={max(width, 800)},1000",
                "--virtual-time-budget=60000", "--dump-dom", frame.as_uri()]
        if dark:
            args.insert(1, "--blink-settings=preferredColorScheme=0")
        dom = subprocess.run(args, capture_output=True, text=True, timeout=240).stdout
    found = re.search(r'<pre id="probe-out">(.*?)</pre>', dom, re.S)
    assert found, f"the probe did not report from Chromium: {dom[-400:]!r}"
    return json.loads(html.unescape(found.group(1)))

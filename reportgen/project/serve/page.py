"""The served copy of a report: a relaxed CSP allowing one nonce'd reload script; error and waiting pages."""

from __future__ import annotations

import secrets
from html import escape

from reportgen.report.writers.html import CSP
from reportgen.textsafe import printable
from reportgen.toolpage import CSS as STYLE, breakable

EVENTS = "/_reportgen/events"
# EventSource on /_reportgen/events; on `reload` (a newer version than the page's) it keeps the scroll position
_SCRIPT = """(function () {
  var version = %d, key = "reportgen-serve-scroll:" + location.pathname;
  try { var y = sessionStorage.getItem(key); if (y !== null) { sessionStorage.removeItem(key);
    addEventListener("load", function () { scrollTo(0, +y); }); } } catch (e) {}
  var source = new EventSource("%s?v=" + version);
  source.addEventListener("reload", function (event) {
    if (+event.data !== version) {
      try { sessionStorage.setItem(key, String(scrollY)); } catch (e) {}
      source.close(); location.reload();
    }
  });
  source.addEventListener("pdf", function (event) {
    var parts = event.data.split(" "), box = document.getElementById("reportgen-serve-pdf");
    if (+parts[0] !== version || !box) return;
    box.textContent = "";
    if (parts[1] === "ready") {
      var link = document.createElement("a");
      link.href = "report.pdf?v=" + version; link.textContent = "PDF";
      box.appendChild(link);
    } else { box.textContent = "PDF failed (see the console)"; }
    box.setAttribute("data-state", parts[1]);
  });
})();"""


def served_csp(nonce: str) -> str:
    """The report's policy plus exactly one inline script (by nonce) and EventSource connections to this server."""
    return f"{CSP}; script-src 'nonce-{nonce}'; connect-src 'self'"


def _script(version: int, nonce: str) -> str:
    return f'<script nonce="{nonce}">{_SCRIPT % (int(version), EVENTS)}</script>'


PDF_MARK = "<!--reportgen-serve-pdf-->"  # where the served page says how its PDF stands (serve --pdf)
_PDF_STATES = {"rendering": "PDF rendering…", "failed": "PDF failed (see the console)"}
_PDF_BOX = ('<p id="reportgen-serve-pdf" data-state="{state}" aria-live="polite" style="position: fixed; right: 0.5em; '
            'bottom: 0.5em; margin: 0; padding: 0.2em 0.6em; background: #fff; color: #000; border: 1px solid #666; '
            'font: 14px/1.4 system-ui, sans-serif; z-index: 10">{body}</p>')


def pdf_status(state: str, version: int) -> str:
    """The served page's PDF box: a link to this version's PDF once it is ready, else what it is doing."""
    body = f'<a href="report.pdf?v={int(version)}">PDF</a>' if state == "ready" else _PDF_STATES.get(state, "")
    return _PDF_BOX.format(state=escape(state), body=body)


def served_copy(html: str, version: int, pdf: bool = False) -> str:
    """The report as served: its CSP meta swapped for served_csp and the reload script put before </body>, after
    PDF_MARK with `pdf` (the server puts the PDF's state there); the report written to disk never contains them."""
    nonce = secrets.token_urlsafe(16)
    meta = f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
    relaxed = f'<meta http-equiv="Content-Security-Policy" content="{served_csp(nonce)}">'
    if meta in html:
        html = html.replace(meta, relaxed, 1)
    else:  # not a reportgen report as expected: keep its policy and put the relaxed one nowhere (no live reload)
        return html
    end = html.lower().rfind("</body>")
    script = (PDF_MARK + "\n" if pdf else "") + _script(version, nonce)
    return html[:end] + script + "\n" + html[end:] if end >= 0 else html + script


def message_page(title: str, message: str, version: int, kind: str = "error") -> str:
    """A small page saying what went wrong (escaped), reloading itself when the sources change again."""
    nonce = secrets.token_urlsafe(16)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta http-equiv="Content-Security-Policy" content="{served_csp(nonce)}">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} - reportgen serve</title>
<style>
{STYLE}
body {{ font: 15px/1.5 system-ui, sans-serif; margin: 2em auto; max-width: 60em; padding: 0 1em; }}
.box {{ border-left: 6px solid var({"--bad" if kind == "error" else "--warn"}); background: var(--panel);
  padding: 0.5em 1em; }}
pre {{ white-space: pre-wrap; font-size: 14px; }}
</style>
</head>
<body>
<main class="box serve-{escape(kind)}">
<h1>{escape(title)}</h1>
<pre id="reportgen-serve-message">{breakable(printable(message))}</pre>
<p>reportgen serve keeps watching; this page reloads when the manifest, its prose or templates change.</p>
</main>
{_script(version, nonce)}
</body>
</html>
"""

"""Section view builders: each turns results into the numbered tables, figures and sentences its template prints
(see reportgen.report.document.registry for which builder serves which section kind)."""

"""`reportgen check`: a submitted report checked against its own embedded results, offline and without torch."""

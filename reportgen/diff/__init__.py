"""`reportgen diff`: compares two builds number by number and section by section; imports no torch."""

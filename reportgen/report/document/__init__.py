"""The document: numbered sections, tables and figures with their stable names, built by the section views
from the results; what every writer writes."""

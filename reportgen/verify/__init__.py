"""`reportgen verify`: re-run a submission's runs from its manifest and compare them with its recorded results."""

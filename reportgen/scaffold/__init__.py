"""`reportgen init`: a commented starter manifest, its prose and a .gitignore, from the text files in starters/."""

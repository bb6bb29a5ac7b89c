"""`reportgen grade`: checks every submission in a class folder, in parallel and resumably, into a class overview."""

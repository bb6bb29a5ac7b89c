"""The commands of `reportgen`, grouped: pipeline, grading and project; cli.py puts them together."""

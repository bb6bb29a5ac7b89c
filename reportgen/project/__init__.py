"""Project tools around the pipeline: init (starters), serve (live preview) and doctor (the machine's set-up)."""

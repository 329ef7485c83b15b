"""Log lines: formats, annotation rules, the annotator and the log view's store."""

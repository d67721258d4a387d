"""One core per command: options in, a report out. Nothing here knows about click; the
CLI (`pipeline.cli`) builds the options and prints the reports.

May import: every stage (config, render, sinks, review, report).
"""

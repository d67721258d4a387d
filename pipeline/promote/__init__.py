"""Promotion: moving a source commit from one environment to the next, and inside an
environment wave by wave, behind gates whose evidence lives in git (the clock, the
gates, the check records in `refs/notes/hydrate`, what is live where).

May import: `pipeline.review` and every stage below it.
"""

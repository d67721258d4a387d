"""Promotion: moving a source commit from one environment to the next, and inside an
environment wave by wave, behind gates whose evidence lives in git.

`attempt` decides what one try promotes and behind which gates; `gates` are functions of
its facts; `waves` recompute the next step from the configuration; `live` reads a
branch's timeline (what is live, since when, which checks count); `notes` holds the
evidence (records under `refs/notes/hydrate`); `reuse` plans what a step renders and
what it keeps; `record` is what a step writes into the ledger and its trailers. The
commands load, loop and land around them.

May import: `pipeline.review` and every stage below it.
"""

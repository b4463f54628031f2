"""Runs inside the extractor's sandbox child (so it imports nothing of its own): what has
the child loaded?"""

import sys

WATCHED = ("prefect", "torch", "tasks.stage", "tasks.extract", "trafilatura")


def loaded_modules(text: str) -> str:
    return ",".join(name for name in WATCHED if name in sys.modules)

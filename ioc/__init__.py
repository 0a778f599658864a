"""City IOC core: configuration, store, city packs, geography, ingest and the command chain.

Nothing in this package imports Dash or ``layouts``: it runs from the CLI, the worker and tests alone.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

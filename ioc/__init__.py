"""City IOC core, grouped by the way data flows: ``city`` (packs, geography) → ``store`` →
``intake`` (feeds in) and ``chain`` (command-chain writes) → ``read`` (read models) → ``web`` (API,
sign-in). Configuration, errors, screen words and the shared records sit at the top.

Nothing in this package imports Dash or ``layouts``: it runs from the CLI, the worker and tests alone.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

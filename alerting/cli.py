"""PLACEHOLDER: sub-commands are added by the work that owns this package."""
from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: "argparse._SubParsersAction[Any]") -> None:
    return None

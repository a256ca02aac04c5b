"""What every run judges by, built in one place: the mappings, the user's configuration and
the rules' policy from them. The command line, the service and the Spark command all load it
here, with the same two options (``--config``, ``--facility-timezone``), and the date argument
the commands share."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from adapter.config import load_settings
from adapter.mappings import Mappings, load_mappings
from adapter.numeric_options import path as path_option
from adapter.rules import Policy


@dataclass
class Judge:
    """The mappings and the policy built from them, loaded once per process."""

    mappings: Mappings
    policy: Policy

    @classmethod
    def load(cls, config: Path | None = None, facility_timezone: str | None = None) -> Judge:
        """The bundled mappings with ``config`` (TOML or JSON) over their defaults; raises
        ``ConfigError`` or ``MappingsError`` with the file and the problem."""
        mappings = load_mappings()
        settings = load_settings(mappings.thresholds, config, facility_timezone)
        return cls(mappings, Policy.from_mappings(
            mappings, settings.thresholds, settings.zone, settings.payers,
            notes_quote=settings.notes_quote, notes_required=settings.notes_required))


def add_judging_options(parser: argparse.ArgumentParser) -> None:
    """``--config`` and ``--facility-timezone``, for every command that judges claims."""
    parser.add_argument("--config", type=path_option, metavar="FILE",
                        help="TOML or JSON settings: thresholds and windows, facility_timezone, "
                        "payer policies ([policies]), notes ([notes]); see docs/configuration.md")
    parser.add_argument("--facility-timezone", metavar="ZONE",
                        help="the clinic's IANA time zone (America/New_York): the calendar day "
                        "of a timestamp (default: the offset each timestamp is written with)")


def day(value: str) -> date:
    """A ``YYYY-MM-DD`` argument (``audit --from/--to``, ``codes add --effective``)."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None

"""The ``smsbridge`` command.

smsbridge demo                 the embedded default: local Kafka, simulated sites, the bridge
smsbridge check-config FILE    validate a configuration and print it, secrets masked
smsbridge dev-stack            start the local Kafka and simulated sites, print their addresses
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from bridge.config import ConfigError, load_config

EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smsbridge", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check-config", help="validate a configuration, print it masked")
    check.add_argument("config", type=Path)

    demo = commands.add_parser("demo", help="run end to end on the embedded default")
    demo.add_argument("--short", action="store_true", help="a short run (CI)")

    commands.add_parser("dev-stack", help="start the local Kafka and simulated sites")

    args = parser.parse_args(argv)
    try:
        if args.command == "check-config":
            return check_config(args.config)
        if args.command == "demo":
            return run_demo(short=args.short)
        if args.command == "dev-stack":
            return run_dev_stack()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    parser.error(f"unknown command {args.command}")  # exits


def check_config(path: Path) -> int:
    config = load_config(path)
    print(yaml.safe_dump(config.masked(), sort_keys=False), end="")
    return 0


def run_demo(*, short: bool) -> int:
    from bridge.devstack.demo import main as demo_main

    return demo_main(short=short)


def run_dev_stack() -> int:
    from bridge.devstack.stack import main as stack_main

    return stack_main()

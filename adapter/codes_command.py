"""``b12-adapter codes``: the ICD-10-CM releases installed (SPEC 4.3).

    b12-adapter codes list
    b12-adapter codes add --tabular icd10cm-table-index-2027.zip \\
        --codes icd10cm-Code-Descriptions-2027.zip --effective 2026-10-01
"""

from __future__ import annotations

import argparse
import sys

from adapter.judge import day
from adapter.numeric_options import path as path_option
from adapter.output.terminal import shown

EXIT_OK, EXIT_REFUSED = 0, 2


def add_parser(commands: argparse._SubParsersAction) -> None:
    codes = commands.add_parser("codes", help="the ICD-10-CM releases claims are judged with: "
                                "list them, add one")
    actions = codes.add_subparsers(dest="codes_command", required=True, metavar="{list,add}")
    actions.add_parser("list", help="each installed release and the dates it is in force")
    add = actions.add_parser("add", help="install a release from the CDC/CMS files")
    add.add_argument("--tabular", type=path_option, required=True, metavar="FILE",
                     help="the tabular XML (icd10cm-tabular-2027.xml), or the zip holding it")
    add.add_argument("--codes", type=path_option, required=True, metavar="FILE",
                     help="the code-order file (icd10cm-order-2027.txt) or the codes file "
                     "(icd10cm-codes-2027.txt), or the zip holding it")
    add.add_argument("--effective", type=day, required=True, metavar="DATE",
                     help="the date the release takes effect: YYYY-10-01 for fiscal year "
                     "YYYY+1, YYYY-04-01 for an April update")


def run(args: argparse.Namespace) -> int:
    from adapter.terminology import install

    if args.codes_command == "list":
        for line in install.listing():
            print(line)
        return EXIT_OK
    try:
        done = install.add(args.tabular, args.codes, args.effective)
    except install.InstallError as exc:
        print(shown(f"b12-adapter: codes add: {exc}"), file=sys.stderr)
        return EXIT_REFUSED
    release = done.release
    print(f"installed {release.title} ({release.id}), in force from "
          f"{release.effective.isoformat()}: {done.billable} billable codes"
          + (" (replacing the one installed before)" if done.replaced else ""))
    return EXIT_OK

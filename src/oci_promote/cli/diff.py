"""`oci-promote diff A B` and `oci-promote verify REF... --digest D`: read-only forensics.

Exit status: 0 identical / every reference holds the digest; 1 they differ /
some reference does not; 2 bad input or an error (one line on stderr; for
`diff`, any error is 2, because 1 already means "they differ").
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import PromoteError, UsageError
from ..types.digest import parse_digest

if TYPE_CHECKING:
    from ..forensics.verify import VerifyOutcome
    from ..frontend.settings import Settings

COMMANDS = frozenset({"diff", "verify"})
_SAME, _DIFFER, _ERROR = 0, 1, 2


def add_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: Callable[..., None]
) -> None:
    """Register `diff` and `verify`; `common` adds the shared registry options."""
    diff = sub.add_parser(
        "diff",
        help="say why two references have different digests",
        description="Compare A and B (registry references or oci:PATH[:TAG|@DIGEST]) and name every "
        "cause their digests differ: reserialized, media-type-converted, platform-extracted, "
        "index-wrapped, platforms-differ, layers-recompressed, layers-differ, config-differ, "
        "annotations-differ, other. Exit 0 identical, 1 different, 2 error.",
    )
    diff.add_argument("a", metavar="A")
    diff.add_argument("b", metavar="B")
    diff.add_argument("--json", action="store_true", help="print one JSON object instead")
    common(diff, destination=False)

    verify = sub.add_parser(
        "verify",
        help="check that every reference resolves to a digest; never writes",
        description="Exit 0 when every REF resolves to DIGEST (or, with --lock, every destination of "
        "a lock file still gives its digest), 1 otherwise (each mismatch with its causes, when "
        "the digest can be read in that reference's repository), 2 on errors.",
    )
    verify.add_argument("references", metavar="REF", nargs="*")
    verify.add_argument("--digest", metavar="DIGEST", help="the digest every REF must hold")
    verify.add_argument("--lock", metavar="LOCK", help="check every destination of this lock file instead")
    verify.add_argument("--json", action="store_true", help="print one JSON object instead")
    common(verify, destination=False)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run `diff` or `verify`; print results to stdout and errors (one line) to stderr."""
    import anyio  # here, not above: `args.py` imports this module for every command's `--help`

    try:
        if args.command == "diff":
            return anyio.run(_diff, args, settings)
        return anyio.run(_verify, args, settings)
    except PromoteError as e:
        print(f"oci-promote: error: {e}", file=sys.stderr)
        if args.json:  # every --json run prints one object, a failed one too
            print(json.dumps({"error": str(e), "exit_code": _ERROR}, indent=2))
        return _ERROR


async def _diff(args: argparse.Namespace, settings: Settings) -> int:
    from ..api import diff_async
    from ..forensics import render

    credential, connect = settings.source_credential(), settings.connect_options()
    comparison = await diff_async(args.a, args.b, credential=credential, connect=connect)
    print(json.dumps(comparison.to_dict(), indent=2) if args.json else render(comparison))
    return _SAME if comparison.identical else _DIFFER


async def _verify(args: argparse.Namespace, settings: Settings) -> int:
    if args.lock is not None:
        if args.references or args.digest:
            raise UsageError("verify: give either --lock LOCK, or REF... with --digest, not both")
        return await _verify_lock(args, settings)
    if not args.references or not args.digest:
        raise UsageError("verify needs REF... and --digest DIGEST (or --lock LOCK)")
    from ..api import verify_async

    expected = parse_digest(args.digest.strip())
    credential, connect = settings.source_credential(), settings.connect_options()
    outcomes = await verify_async(args.references, expected, credential=credential, connect=connect)
    return _report(args, outcomes, {"digest": str(expected)})


async def _verify_lock(args: argparse.Namespace, settings: Settings) -> int:
    """Every destination tag of the lock must still give its digest: the release's deploy gate."""
    from ..release import ReleaseOptions, read_lock, verify_lock

    lock = read_lock(args.lock)
    options = ReleaseOptions(
        connect=settings.connect_options(), destination_credential=settings.source_credential()
    )
    return _report(args, await verify_lock(lock, options), {"lock": args.lock})


def _report(args: argparse.Namespace, outcomes: list[VerifyOutcome], head: dict[str, str]) -> int:
    verified = all(o.ok for o in outcomes)
    if args.json:
        report = {
            **head,
            "verified": verified,
            "references": [o.to_dict() for o in outcomes],
        }
        print(json.dumps(report, indent=2))
    else:
        print("\n".join(o.describe() for o in outcomes))
    return _SAME if verified else _DIFFER

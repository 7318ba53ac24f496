"""The CLI's arguments and the `OCI_PROMOTE_*` variables it reads, both built from the option schema.

Standard library only (no settings model): `--help` and `--version` load nothing else.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence
from typing import Any

from ..schema import ENV_PREFIX, Option, options_for
from . import diff as cli_diff
from . import release as cli_release

#: The options the CLI reads, in the schema's order; each is a flag, an argument or a variable.
_OPTIONS = options_for("cli")


def env_name(field_name: str) -> str:
    """The variable that sets a field: `OCI_PROMOTE_` and the name in capitals."""
    return ENV_PREFIX + field_name.upper()


def env_epilog() -> str:
    """Every variable the CLI reads, from the option schema itself, so none goes undocumented."""
    lines = ["environment (names only are logged when one is used; a flag wins over its variable):"]
    lines += [f"  {option.env:<36} {option.env_help}" for option in _OPTIONS]
    return "\n".join(lines)


def _version() -> str:
    # importlib.metadata (zipfile, email, ...) costs more start-up than argparse: only for --version.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("oci-promote")
    except PackageNotFoundError:
        return "unknown"


class _VersionAction(argparse.Action):
    """`--version`: the installed version, looked up only when asked for."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        print(f"{parser.prog} {_version()}")
        parser.exit()


def _verbosity(parser: argparse.ArgumentParser, *, default: object) -> None:
    # Accepted before and after the command: the command's copy must not reset the top one.
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default,
        help="also log every HTTP request (secrets redacted)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", default=default, help="log errors only")


def _flag(option: Option) -> bool:
    """Whether the option is a `--flag` (not an argument, nor a variable only)."""
    return option.flag is not None and option.cli_flag.startswith("--")


def _add(parser: argparse.ArgumentParser, option: Option) -> None:
    """The option's flag, as the schema declares it; values stay text for the settings to check."""
    assert option.flag is not None
    if option.kind == "switch":
        # Switches the environment can turn on have a --no- form to turn them off again.
        parser.add_argument(option.cli_flag, action=argparse.BooleanOptionalAction, help=option.help)
    elif option.many:
        parser.add_argument(
            option.cli_flag, dest=option.name, action="append", metavar=option.metavar, help=option.help
        )
    else:
        parser.add_argument(option.cli_flag, dest=option.name, metavar=option.metavar, help=option.help)


def common(parser: argparse.ArgumentParser, *, destination: bool) -> None:
    """The registry options every command shares (and `--dest-creds` where there is a destination)."""
    for option in _OPTIONS:
        if _flag(option) and (option.every_command or (destination and option.name == "dest_creds")):
            _add(parser, option)
    _verbosity(parser, default=argparse.SUPPRESS)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The arguments; `copy`'s SOURCE and DESTs are the words left over, in order.

    They may come from OCI_PROMOTE_SOURCE and _DESTINATIONS instead, so copy declares
    no positional: argparse would match optional positionals to the empty gap before
    the first flag (`copy --json SRC DST` would then fail, or take SRC for a DEST).
    """
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    unknown = [word for word in extras if word.startswith("-") and word != "-"]
    if unknown or (extras and args.command != "copy"):
        parser.error(f"unrecognized arguments: {' '.join(unknown or extras)}")
    if args.command == "copy":
        args.source = extras[0] if extras else None
        args.destinations = extras[1:]
    return args


def build_parser() -> argparse.ArgumentParser:
    epilog = env_epilog()
    parser = argparse.ArgumentParser(
        prog="oci-promote",
        description="Copy container images between registries without changing their digest.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show the version and exit")
    _verbosity(parser, default=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    copy = sub.add_parser(
        "copy",
        help="copy an image (every platform, verbatim) to one or more destinations",
        # The epilog's table needs a raw formatter, so the description is wrapped here.
        description=textwrap.fill(
            "Copy SOURCE to every DEST byte for byte and print one pinned reference "
            "(HOST/REPO@sha256:...) per destination. SOURCE is a registry reference "
            "(HOST/REPO[:TAG|@DIGEST], docker:// accepted) or oci:PATH[:TAG|@DIGEST]; DEST a registry "
            "reference or oci:DIR[:TAG] (an OCI layout, created or extended). A DEST without tag or "
            "digest takes the source's tag. SOURCE and DEST may come from OCI_PROMOTE_SOURCE and "
            "OCI_PROMOTE_DESTINATIONS instead (the arguments win).",
            width=100,
        ),
        usage="%(prog)s [options] SOURCE DEST [DEST ...]",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    copy.add_argument("--json", action="store_true", help="print one JSON object instead (also on failure)")
    for option in _OPTIONS:
        if _flag(option) and not option.every_command and option.name != "dest_creds":  # see common()
            _add(copy, option)
    common(copy, destination=True)

    digest = sub.add_parser("digest", help="print the manifest digest of a reference")
    digest.add_argument("source", metavar="REF")
    common(digest, destination=False)
    cli_diff.add_commands(sub, common)
    cli_release.add_commands(sub, common)
    return parser

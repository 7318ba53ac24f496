"""The CLI's arguments and the `OCI_PROMOTE_*` variables it reads, documented in one place."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence
from typing import Any

from ..frontend.settings import ENV_PREFIX, Settings, env_name
from . import diff as cli_diff
from . import release as cli_release

_CREDS_HELP = (
    "USER:PASSWORD for the {role} registry; or set {env}CREDS, or {env}USERNAME and "
    "{env}PASSWORD. Without them, the Docker config file ($DOCKER_CONFIG/config.json, else "
    "~/.docker/config.json, with its credential helpers) is used, else anonymous access."
)

#: What each `OCI_PROMOTE_*` variable sets; a flag given on the command line wins.
ENV_HELP = {
    "source": "SOURCE (the positional argument wins)",
    "destinations": "DESTs, separated by newlines or commas (the positional arguments win)",
    "expected_digest": "--expected-digest",
    "expected_from": "--expected-from",
    "protect": "--protect, separated by commas",
    "src_creds": "--src-creds",
    "dest_creds": "--dest-creds",
    "src_username": "source username (with _SRC_PASSWORD)",
    "src_password": "source password (with _SRC_USERNAME)",
    "dest_username": "destination username (with _DEST_PASSWORD)",
    "dest_password": "destination password (with _DEST_USERNAME)",
    "docker_config": "--docker-config",
    "insecure_registries": "--insecure-registry, separated by commas",
    "plain_http": "--plain-http, separated by commas",
    "https_only": "--https-only, separated by commas",
    "ca_file": "--ca-file",
    "dry_run": "--dry-run (true/false)",
    "jobs": "--jobs",
    "include_foreign_layers": "--include-foreign-layers (true/false)",
    "timeout": "--timeout",
    "retries": "--retries",
    "retry_delay": "first backoff delay in seconds (0.5)",
    "retry_max_delay": "longest backoff delay in seconds (10)",
    "retry_after_cap": "longest Retry-After honoured, in seconds (60)",
    "retry_budget": "retries allowed per copy in total (100)",
    "chunk_size": "--chunk-size",
    "chunked": "--chunked (true/false)",
    "referrers": "--referrers / --no-referrers (true/false)",
    "referrer_types": "--referrer-type, separated by commas",
    "require_referrers": "--require-referrer, separated by commas",
}


def env_epilog() -> str:
    """Every variable the CLI reads, from the settings model itself, so none goes undocumented."""
    lines = ["environment (names only are logged when one is used; a flag wins over its variable):"]
    for field in Settings.field_names():
        lines.append(f"  {env_name(field):<36} {ENV_HELP.get(field, field.replace('_', ' '))}")
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


def common(parser: argparse.ArgumentParser, *, destination: bool) -> None:
    """The registry options every command shares."""
    parser.add_argument(
        "--src-creds",
        metavar="USER:PASSWORD",
        help=_CREDS_HELP.format(role="source", env=ENV_PREFIX + "SRC_"),
    )
    if destination:
        parser.add_argument(
            "--dest-creds",
            metavar="USER:PASSWORD",
            help=_CREDS_HELP.format(role="destination", env=ENV_PREFIX + "DEST_"),
        )
    parser.add_argument(
        "--docker-config",
        metavar="PATH",
        help="Docker config file or directory to read credentials from (must exist)",
    )
    parser.add_argument(
        "--insecure-registry",
        metavar="HOST[:PORT]",
        action="append",
        dest="insecure_registries",
        help="allow plain HTTP to this registry: HTTPS when its port speaks TLS, else plain HTTP "
        "(as for loopback registries); repeatable",
    )
    parser.add_argument(
        "--plain-http",
        metavar="HOST[:PORT]",
        action="append",
        dest="plain_http",
        help="always talk plain HTTP to this registry, without trying HTTPS first; repeatable",
    )
    parser.add_argument(
        "--https-only",
        metavar="HOST[:PORT]",
        action="append",
        dest="https_only",
        help="always talk HTTPS to this registry, even on loopback (no plain-HTTP fallback); repeatable",
    )
    parser.add_argument("--ca-file", metavar="PEM", help="trust this CA bundle for TLS registries")
    parser.add_argument("--timeout", type=float, help="seconds before a stalled request fails (60)")
    parser.add_argument(
        "--retries",
        type=int,
        metavar="N",
        help="retries per request after a fault, 429 or 5xx (4); the environment's "
        f"{ENV_PREFIX}RETRY_DELAY, _RETRY_MAX_DELAY, _RETRY_AFTER_CAP and "
        "_RETRY_BUDGET tune backoff and the per-copy total",
    )
    _verbosity(parser, default=argparse.SUPPRESS)


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
            "digest takes the source's tag.",
            width=100,
        ),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    copy.add_argument("source", metavar="SOURCE")
    copy.add_argument("destinations", metavar="DEST", nargs="+")
    copy.add_argument(
        "--expected-digest",
        metavar="DIGEST",
        help="refuse to copy unless the source digest is DIGEST",
    )
    copy.add_argument(
        "--expected-from",
        metavar="REF",
        help="where the expected digest can be read (REF's repository or layout), to name the causes "
        "of a mismatch (default: the source's repository)",
    )
    copy.add_argument(
        "--protect",
        action="append",
        metavar="PATTERN",
        help="never move a destination tag matching PATTERN (shell-style, '*' every tag) to another "
        "digest; the copy fails before writing anything (repeatable)",
    )
    copy.add_argument("--jobs", type=int, metavar="N", help="blobs moved in parallel (8)")
    copy.add_argument("--json", action="store_true", help="print one JSON object instead (also on failure)")
    copy.add_argument(
        "--chunk-size",
        type=int,
        metavar="BYTES",
        help="largest PATCH chunk when a registry refuses monolithic uploads (4 MiB)",
    )
    # Switches the environment can turn on have a --no- form to turn them off again.
    switches = {
        "--dry-run": "resolve and print what would be sent, without writing",
        "--include-foreign-layers": "also copy non-distributable layers (left out by default)",
        "--chunked": "upload blobs in PATCH chunks from the start",
        "--referrers": "carry signatures, attestations and SBOMs (referrers) along (default; "
        "--no-referrers leaves them behind)",
    }
    for flag, text in switches.items():
        copy.add_argument(flag, action=argparse.BooleanOptionalAction, help=text)
    copy.add_argument(
        "--referrer-type",
        dest="referrer_types",
        action="append",
        metavar="TYPE",
        help="carry only referrers of this artifact type (repeatable)",
    )
    copy.add_argument(
        "--require-referrer",
        dest="require_referrers",
        action="append",
        metavar="TYPE",
        help="refuse a source image without a referrer of this type, before writing (repeatable)",
    )
    common(copy, destination=True)

    digest = sub.add_parser("digest", help="print the manifest digest of a reference")
    digest.add_argument("source", metavar="REF")
    common(digest, destination=False)
    cli_diff.add_commands(sub, common)
    cli_release.add_commands(sub, common)
    return parser

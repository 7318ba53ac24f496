"""`oci-promote copy|digest`: results on stdout, progress and errors on stderr.

Exit status: 0 success, 1 a failed copy or a mismatch, 2 bad usage or input.
An expected failure is one line, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from . import cli_diff
from .api import copy_async, resolve_digest_async
from .errors import PromoteError
from .present import summary_line
from .result import CopyResult
from .settings import ENV_PREFIX, Settings
from .transport import use_large_reads

log = logging.getLogger("oci_promote")

_CREDS_HELP = (
    "USER:PASSWORD for the {role} registry; or set {env}CREDS, or {env}USERNAME and "
    "{env}PASSWORD. Without them, the Docker config file ($DOCKER_CONFIG/config.json, else "
    "~/.docker/config.json, with its credential helpers) is used, else anonymous access."
)


def _common(parser: argparse.ArgumentParser, *, destination: bool) -> None:
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
        help="Docker config file or directory to read credentials from",
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
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also log every HTTP request (secrets redacted)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="log errors only")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oci-promote",
        description="Copy container images between registries without changing their digest.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    copy = sub.add_parser(
        "copy",
        help="copy an image (every platform, verbatim) to one or more destinations",
        description="Copy SOURCE to every DEST byte for byte and print one pinned reference "
        "(HOST/REPO@sha256:...) per destination. SOURCE is a registry reference or "
        "oci:PATH[:TAG|@DIGEST]; DEST a registry reference or oci:DIR[:TAG] (an OCI layout, "
        "created or extended). A DEST without tag or digest takes the source's tag.",
    )
    copy.add_argument("source", metavar="SOURCE")
    copy.add_argument("destinations", metavar="DEST", nargs="+")
    copy.add_argument(
        "--expected-digest",
        metavar="DIGEST",
        help="refuse to copy unless the source digest is DIGEST",
    )
    copy.add_argument(
        "--dry-run",
        action="store_true",
        help="resolve and print what would be sent, without writing",
    )
    copy.add_argument("--jobs", type=int, metavar="N", help="blobs moved in parallel (4)")
    copy.add_argument(
        "--include-foreign-layers",
        action="store_true",
        help="also copy non-distributable layers (left out by default)",
    )
    copy.add_argument("--json", action="store_true", help="print one JSON object instead")
    copy.add_argument(
        "--chunk-size",
        type=int,
        metavar="BYTES",
        help="largest PATCH chunk when a registry refuses monolithic uploads (4 MiB)",
    )
    copy.add_argument("--chunked", action="store_true", help="upload blobs in PATCH chunks from the start")
    copy.add_argument(
        "--no-referrers",
        dest="referrers",
        action="store_false",
        default=None,
        help="leave signatures, attestations and SBOMs (referrers) behind",
    )
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
    _common(copy, destination=True)

    digest = sub.add_parser("digest", help="print the manifest digest of a reference")
    digest.add_argument("source", metavar="REF")
    _common(digest, destination=False)
    cli_diff.add_commands(sub, _common)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    fields = set(Settings.model_fields)
    given: dict[str, Any] = {
        k: v
        for k, v in vars(args).items()
        if k in fields and v is not None and (v is not False or k == "referrers")
    }
    return Settings(**given)


def _setup_logging(args: argparse.Namespace) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.ERROR if args.quiet else logging.DEBUG if args.verbose else logging.INFO)


def _print_copy(result: CopyResult, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    elif not result.dry_run:
        for dest in result.destinations:
            print(dest.pinned)
    for dest in result.destinations:
        log.info("%s", summary_line(dest, result.dry_run))
    if result.dry_run and not as_json:
        for dest in result.destinations:
            print(
                f"{dest.reference}\t{dest.blobs_missing} blobs\t{dest.bytes_missing} bytes\t"
                f"{'up-to-date' if dest.up_to_date else 'would copy'}"
            )


def main(argv: Sequence[str] | None = None) -> int:
    # The objects made by importing live until exit: keep the cyclic GC from walking them
    # again in every full collection and at exit (about 40 ms of a short copy).
    gc.freeze()
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args)
    use_large_reads()
    try:
        settings = _settings(args)
        if args.command in cli_diff.COMMANDS:
            return cli_diff.run(args, settings)
        if args.command == "copy":
            _print_copy(asyncio.run(copy_async(settings.to_options())), args.json)
        else:
            digest = resolve_digest_async(
                settings.source, credential=settings.source_credential(), connect=settings.connect_options()
            )
            print(asyncio.run(digest))
    except PromoteError as e:
        print(f"oci-promote: error: {e}", file=sys.stderr)
        return e.exit_code
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(map(str, err['loc'])) or 'input'}: {err['msg']}" for err in e.errors()
        )
        print(f"oci-promote: error: {problems}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("oci-promote: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

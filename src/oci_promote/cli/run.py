"""What `oci-promote` does once its arguments are parsed: settings, the run, and how it ends.

Results go to stdout, logs and the one-line error to stderr; with `--json` a
failure is also a JSON object on stdout (`error`, `exit_code`, `tags_moved`).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ..errors import AuthenticationError, ManifestError, PromoteError, UsageError
from ..frontend.present import referrers_found_line, summary_line
from ..transport.allocator import keep_freed_buffers
from ..types.reference import parse_reference
from . import diff as cli_diff
from . import release as cli_release
from .args import env_name, parse
from .progress import Observer
from .signals import EXIT_CODES, Interrupted, interrupted_line, raise_interrupted
from .usage import parse_args

if TYPE_CHECKING:
    from ..frontend.settings import Settings
    from ..result import CopyResult

log = logging.getLogger("oci_promote")
T = TypeVar("T")


def settings_from(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Settings:
    """Flags first, then `OCI_PROMOTE_*`; logs which settings the environment supplied (names only).

    The settings model (pydantic) is loaded here, after `--help` and `--version` have exited.
    """
    from ..frontend.settings import Settings

    names = Settings.field_names()
    # No DEST argument is an empty list: OCI_PROMOTE_DESTINATIONS may then give them.
    given: dict[str, Any] = {k: v for k, v in vars(args).items() if k in names and v not in (None, [])}
    present = {name.upper() for name in (os.environ if environ is None else environ)}
    from_env = [env_name(f) for f in names if f not in given and env_name(f) in present]
    if from_env:
        log.info("settings from the environment: %s", ", ".join(from_env))
    settings = Settings.read(given, environ)
    if settings.docker_config is not None and not settings.docker_config.exists():
        where = "--docker-config" if "docker_config" in given else env_name("docker_config")
        raise UsageError(f"{where}: no such file or directory: {settings.docker_config}")
    return settings


def _setup_logging(args: argparse.Namespace) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.ERROR if args.quiet else logging.DEBUG if args.verbose else logging.INFO)


def _print_copy(result: CopyResult, as_json: bool, types: Sequence[str] = ()) -> None:
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    elif not result.dry_run:
        for dest in result.destinations:
            print(dest.pinned)
    for dest in result.destinations:
        log.info("%s", summary_line(dest, result.dry_run))
    if (found := referrers_found_line(result, types)) is not None:
        log.info("%s", found)
    if result.dry_run and not as_json:
        for dest in result.destinations:
            print(
                f"{dest.reference}\t{dest.blobs_missing} blobs\t{dest.bytes_missing} bytes\t"
                f"{'up-to-date' if dest.up_to_date else 'would copy'}"
            )


def run_interruptible(work: Callable[[], Awaitable[T]]) -> T:
    """Run `work`; SIGINT or SIGTERM cancels it (so upload sessions and tags are left clean),
    then raises `Interrupted`. A second signal during that clean-up exits at once."""
    import anyio  # with the engine, after the arguments (see `run`)

    from ..concurrency import alongside

    received: list[int] = []

    async def main() -> tuple[T | None, bool]:
        work_scope = anyio.CancelScope()

        async def cancellable() -> T | None:
            with work_scope:
                return await work()
            return None  # cancelled by the first signal

        try:
            with anyio.open_signal_receiver(*EXIT_CODES) as signals:

                async def watch() -> None:
                    async for signum in signals:
                        if received:
                            os._exit(EXIT_CODES[signal.Signals(received[0])])
                        received.append(signum)
                        work_scope.cancel()

                value = await alongside(cancellable, watch)
                return value, work_scope.cancelled_caught
        finally:
            for signum in EXIT_CODES:
                signal.signal(signum, raise_interrupted)

    try:
        value, cancelled = anyio.run(main)
    except BaseException:
        if received:
            raise Interrupted(received[0]) from None
        raise
    if cancelled:
        raise Interrupted(received[0])
    return cast(T, value)


def _explain(e: PromoteError, settings: Settings) -> str:
    """The error's line, with what only the CLI knows: which flag supplies credentials, which reference."""
    text = str(e)
    if isinstance(e, AuthenticationError):
        # The engine names the destination it failed at; a registry can be source and destination.
        at_source = e.destination is None and e.registry == _source_registry(settings)
        role = "src" if e.registry and at_source else "dest"
        flag = f"--{role}-creds (or {env_name(role + '_creds')})"
        if e.credentials_sent:
            text += f"; the credentials came from {flag} or the Docker config: check them"
        elif "or pass credentials" in text:  # the library's advice already names `docker login`
            text = text.replace("or pass credentials", f"or pass {flag}")
        else:
            text += f"; credentials come from {flag}, or `docker login {e.registry or 'HOST'}`"
    elif isinstance(e, ManifestError) and settings.source and settings.source not in text:
        text = f"{settings.source}: {text}"
    return text


def _source_registry(settings: Settings) -> str | None:
    try:
        return parse_reference(settings.source).registry
    except PromoteError:
        return None  # an OCI layout, or not a reference at all


def _fail(code: int, message: str, as_json: bool, moved: Sequence[str], destination: str | None) -> int:
    print(message, file=sys.stderr)
    if as_json:
        text = message.removeprefix("oci-promote: ").removeprefix("error: ")
        failure = {"error": text, "exit_code": code, "destination": destination, "tags_moved": list(moved)}
        print(json.dumps(failure, indent=2))
    return code


def _started() -> None:
    """Start-up is over. Its objects (modules, classes, the settings model) live until exit:
    the cyclic GC never walks them again (about 40 ms of a short copy), and collects from here on."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def run(argv: Sequence[str] | None = None) -> int:
    # No cyclic collection while start-up imports: it allocates much and frees little
    # (3 % of a short copy's instructions); `_started` turns it on again.
    gc.disable()
    try:
        return _run(argv)
    finally:
        _started()


def _run(argv: Sequence[str] | None) -> int:
    args = parse_args(parse, sys.argv[1:] if argv is None else list(argv))
    # The engine (httpx, anyio) only now: `--help`, `--version` and a usage error never load it.
    from ..api import copy_async, resolve_digest_async
    from ..transport.client import use_large_reads

    _setup_logging(args)
    use_large_reads()
    keep_freed_buffers()
    as_json = bool(getattr(args, "json", False)) and args.command == "copy"
    observer = Observer.for_stderr(quiet=args.quiet)
    settings: Settings | None = None
    try:
        settings = settings_from(args)
        _started()
        if args.command in cli_diff.COMMANDS:
            return cli_diff.run(args, settings)
        if args.command in cli_release.COMMANDS:
            return cli_release.run(args, settings, run_interruptible)
        if args.command == "copy":
            options = settings.to_options()
            with observer:
                result = run_interruptible(lambda: copy_async(options, on_event=observer))
            _print_copy(result, as_json, options.referrer_types)
        else:
            source = settings
            print(
                run_interruptible(
                    lambda: resolve_digest_async(
                        source.source,
                        credential=source.source_credential(),
                        connect=source.connect_options(),
                    )
                )
            )
    except PromoteError as e:
        line = _explain(e, settings) if settings is not None else str(e)
        return _fail(e.exit_code, f"oci-promote: error: {line}", as_json, e.tags_moved, e.destination)
    except Interrupted as e:  # no error to ask: the tags moved are the events seen
        return _fail(e.exit_code, interrupted_line(e.signum), as_json, observer.tags_moved, None)
    return 0

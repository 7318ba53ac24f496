"""Every option, declared once: name, kind, default, bounds, help, flag and Action input.

The library's `CopyOptions`/`ConnectOptions` take their defaults and bounds from here;
the CLI builds its flags and its environment help from here (`cli/args.py`); the settings
models that read `OCI_PROMOTE_*` are generated from here (`frontend/settings.py`); and
action.yml's inputs are written from here (`python -m tests.action.docs --write`) and checked
against it by a test. Plain dataclasses, no validation framework: `--help` is built
from it without loading pydantic. Adding an option is one `Option(...)` below plus the code that
uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from .concurrency import DEFAULT_JOBS
from .errors import UsageError

ENV_PREFIX = "OCI_PROMOTE_"

#: How an option's text is read. `digest` is text that must be a digest; `hosts` a list of
#: registries (`host[:port]`); `choice` one of `choices`.
Kind = Literal["text", "digest", "list", "hosts", "secret", "path", "switch", "int", "float", "choice"]
#: Which front end reads an option: both, the CLI only, or the Action only; `setup` is an
#: Action input that only action.yml's set-up steps read (no variable, no settings field).
Scope = Literal["both", "cli", "action", "setup"]


@dataclass(frozen=True)
class Bound:
    """A numeric option's range, checked alike by the library and by the settings models."""

    low: float
    high: float
    low_open: bool = False

    def describe(self) -> str:
        low = f"above {_number(self.low)}" if self.low_open else f"at least {_number(self.low)}"
        return f"{low} and at most {_number(self.high)}"

    def check(self, name: str, value: object, kind: type) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
            raise UsageError(f"{name} must be {'a number' if kind is float else 'an integer'}, got {value!r}")
        if value < self.low or (self.low_open and value == self.low) or value > self.high:
            raise UsageError(f"{name} must be {self.describe()}, got {value!r}")


def _number(value: float) -> str:
    """1073741824, not 1.07374e+09: a bound is printed as people type it."""
    return str(int(value)) if float(value).is_integer() else repr(value)


@dataclass(frozen=True)
class Option:
    """One option, as every front end and the library know it; its variable is `env`."""

    name: str
    kind: Kind
    default: object
    #: The CLI's help (for an option without a flag, its environment help).
    help: str
    #: The command-line argument; "" for the default (`--` + name with dashes), None for none.
    flag: str | None = ""
    metavar: str | None = None
    #: Commands that take the flag: copy only, or every command (the registry options).
    every_command: bool = False
    bound: Bound | None = None
    choices: tuple[str, ...] = ()
    scope: Scope = "both"
    #: The Action input that sets it, with its description; or why it is not an input.
    input: str | None = None
    input_help: str = ""
    input_required: bool = False
    #: action.yml's default when it is not the option's default written as text.
    input_default: str | None = None
    not_input: str = ""
    #: The library's field: "copy" (CopyOptions), "connect" (ConnectOptions), or None.
    library: Literal["copy", "connect"] | None = None

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def cli_flag(self) -> str:
        """How errors name the option when it came from the command line."""
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def many(self) -> bool:
        """A list: repeated flags, or text separated by commas and newlines."""
        return self.kind in ("list", "hosts")

    @property
    def secret(self) -> bool:
        return self.kind == "secret"

    @property
    def env_help(self) -> str:
        """One line of `--help`'s environment table."""
        if self.flag is None:
            return self.help
        if self.flag in ("SOURCE", "DEST"):
            return f"{self.flag} (the positional argument wins)" + (
                "; separated by newlines or commas" if self.many else ""
            )
        text = self.cli_flag + (" / --no-" + self.name.replace("_", "-") if self.kind == "switch" else "")
        if self.many:
            text += ", separated by commas"
        elif self.kind == "switch":
            text += " (true/false)"
        return text

    def action_default(self) -> str:
        if self.input_default is not None:
            return self.input_default
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        return "" if self.default in (None, (), "") else str(self.default)


_TUNING = "transport tuning whose defaults suit CI; set OCI_PROMOTE_<NAME> in env if needed"
_SCHEME = "scheme override for self-hosted registries; set it in env if needed"
_CREDS = (
    "USER:PASSWORD for the {role} registry; or set {env}CREDS, or {env}USERNAME and "
    "{env}PASSWORD. Without them, the Docker config file ($DOCKER_CONFIG/config.json, else "
    "~/.docker/config.json, with its credential helpers) is used, else anonymous access."
)
KiB = 1024

OPTIONS: tuple[Option, ...] = (
    Option("source", "text", "", "the image to copy", flag="SOURCE", metavar="SOURCE", input="source",
           input_help="Image to promote: a registry reference (`ghcr.io/acme/api:1.4.2`, `...@sha256:...`) "
           "or an OCI image layout directory (`oci:PATH[:TAG|@DIGEST]`). Required to copy; not used by "
           "`mode: verify`.", library="copy"),
    Option("destinations", "list", (), "where to copy it", flag="DEST", metavar="DEST",
           input="destinations", input_help="Where to copy it: references separated by newlines or commas. "
           "One without a tag or digest takes the source's tag. Every destination gets the same digest. "
           "Required to copy and verify; the release modes take `file` instead.",
           library="copy"),
    Option("expected_digest", "digest", None, "refuse to copy unless the source digest is DIGEST",
           metavar="DIGEST", input="expected-digest", input_help="If set, fail before writing anything "
           "unless the source's manifest digest is this one (`sha256:...`), e.g. the digest your build "
           "job pushed and tested. Blank counts as unset: to fail closed when that output comes out "
           "empty, pin the source to it as well (`REPO@` and the output: invalid when blank).",
           library="copy"),
    Option("expected_from", "text", None, "where the expected digest can be read (REF's repository or "
           "layout), to name the causes of a mismatch (default: the source's repository)", metavar="REF",
           not_input="where a mismatching expected digest is read; OCI_PROMOTE_EXPECTED_FROM in env",
           library="copy"),
    Option("mode", "choice", "copy", "copy, verify, or a release step", flag=None,
           choices=("copy", "verify", "plan", "stage", "commit", "apply"), scope="action",
           input="mode", input_help="`copy` to promote. `verify` to write nothing and only check that "
           "every destination resolves to `expected-digest` (then required): a deployment gate. The step "
           "fails on a mismatch, with its causes in the error annotation and the job summary; same outputs. "
           "With `lock`, `verify` checks every tag of that lock file instead. A whole release from a "
           "promotion file (`file`): `plan` (writes nothing; `matrix` and `plan` outputs), `stage` (one "
           "`shard` of the plan, by digest, moving no tag), `commit` (every digest checked at every "
           "destination, then every tag moved; the `lock` output), or `apply` (all three in one job)."),
    Option("src_creds", "secret", None, _CREDS.format(role="source", env=ENV_PREFIX + "SRC_"),
           metavar="USER:PASSWORD", every_command=True,
           not_input="USER:PASSWORD form of source-username/source-password; one spelling is enough",
           library="copy"),
    Option("src_username", "text", None, "source username (with _SRC_PASSWORD)", flag=None,
           input="source-username", input_help="User name for the source registry (with `source-password`)."),
    Option("src_password", "secret", None, "source password (with _SRC_USERNAME)", flag=None,
           input="source-password", input_help="Password or token for the source registry (masked)."),
    Option("dest_creds", "secret", None, _CREDS.format(role="destination", env=ENV_PREFIX + "DEST_"),
           metavar="USER:PASSWORD",
           not_input="USER:PASSWORD form of destination-username/destination-password", library="copy"),
    Option("dest_username", "text", None, "destination username (with _DEST_PASSWORD)", flag=None,
           input="destination-username",
           input_help="User name for the destination registries (with `destination-password`)."),
    Option("dest_password", "secret", None, "destination password (with _DEST_USERNAME)", flag=None,
           input="destination-password",
           input_help="Password or token for the destination registries (masked)."),
    Option("github_token", "secret", None, "token for ghcr.io", flag=None, scope="action",
           input="github-token", input_default="${{ github.token }}",
           input_help="Token used for `ghcr.io` when neither the inputs nor the Docker config file give "
           "a credential for it (masked). Needs `packages: read`, and `packages: write` to push."),
    Option("docker_config", "path", None, "Docker config file or directory to read credentials from "
           "(must exist)", metavar="PATH", every_command=True, input="docker-config",
           input_help="Docker config file (or a directory holding `config.json`) to read credentials and "
           "credential helpers from. Empty: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, "
           "where `docker/login-action` writes.", library="connect"),
    Option("insecure_registries", "hosts", (), "allow plain HTTP to this registry: HTTPS when its port "
           "speaks TLS, else plain HTTP (as for loopback registries); repeatable",
           flag="--insecure-registry", metavar="HOST[:PORT]", every_command=True,
           input="insecure-registries", input_help="Registries (`host[:port]`, separated by newlines or "
           "commas) to reach over plain HTTP. Loopback registries always are.", library="connect"),
    Option("plain_http", "hosts", (), "always talk plain HTTP to this registry, without trying HTTPS "
           "first; repeatable", metavar="HOST[:PORT]", every_command=True, not_input=_SCHEME,
           library="connect"),
    Option("https_only", "hosts", (), "always talk HTTPS to this registry, even on loopback (no plain-HTTP "
           "fallback); repeatable", metavar="HOST[:PORT]", every_command=True, not_input=_SCHEME,
           library="connect"),
    Option("ca_file", "path", None, "trust this CA bundle for TLS registries", metavar="PEM",
           every_command=True, not_input="hosted runners trust public CAs; set OCI_PROMOTE_CA_FILE in env "
           "if needed", library="connect"),
    Option("dry_run", "switch", False, "resolve and print what would be sent, without writing",
           input="dry-run", input_help="`true` to resolve and plan only: report what would be sent, "
           "write nothing.", library="copy"),
    Option("jobs", "int", DEFAULT_JOBS, "blobs moved in parallel (8)", metavar="N", bound=Bound(1, 64),
           input="jobs", input_help="How many blobs to move in parallel (1 to 64).", library="copy"),
    Option("include_foreign_layers", "switch", False, "also copy non-distributable layers (left out by "
           "default)", input="include-foreign-layers", input_help="`true` to also copy non-distributable "
           "(foreign) layers, which are left out by default as registries and the Docker CLI do.",
           library="copy"),
    Option("protect", "list", (), "never move a destination tag matching PATTERN (shell-style, '*' every "
           "tag) to another digest; the copy fails before writing anything (repeatable)", metavar="PATTERN",
           input="protect-tags", input_help="Tag patterns (shell-style globs, `*` for every tag; newlines "
           "or commas) that may not move: if a destination tag that matches already points to another "
           "digest, the step fails before anything is written. A protected tag that already holds the "
           "digest is fine.", library="copy"),
    Option("referrers", "switch", True, "carry signatures, attestations and SBOMs (referrers) along "
           "(default; --no-referrers leaves them behind)", input="referrers", input_help="`true` to copy "
           "the image's referrers (signatures, attestations, SBOMs) with it, before any tag moves; `false` "
           "to copy the image alone.", library="copy"),
    Option("referrer_types", "list", (), "carry only referrers of this artifact type (repeatable)",
           flag="--referrer-type", metavar="TYPE", input="referrer-types", input_help="Copy only referrers "
           "of these artifact types (newlines or commas, e.g. `application/spdx+json`). Empty: every "
           "referrer.", library="copy"),
    Option("require_referrers", "list", (), "refuse a source image without a referrer of this type, before "
           "writing (repeatable)", flag="--require-referrer", metavar="TYPE", input="require-referrers",
           input_help="Artifact types (newlines or commas) the source image must have a referrer of, e.g. "
           "`application/vnd.dev.sigstore.bundle.v0.3+json` to refuse an unsigned image; the step fails "
           "before writing anything otherwise.", library="copy"),
    Option("timeout", "float", 60.0, "seconds before a stalled request fails (60)", metavar="SECONDS",
           every_command=True, bound=Bound(0, 3600, low_open=True),
           not_input="the default suits CI; set OCI_PROMOTE_TIMEOUT in env if needed", library="connect"),
    Option("retries", "int", 4, "retries per request after a fault, 429 or 5xx (4); the environment's "
           f"{ENV_PREFIX}RETRY_DELAY, _RETRY_MAX_DELAY, _RETRY_AFTER_CAP and _RETRY_BUDGET tune backoff "
           "and the per-copy total", metavar="N", every_command=True, bound=Bound(0, 20), not_input=_TUNING,
           library="connect"),
    Option("retry_delay", "float", 0.5, "first backoff delay in seconds (0.5)", flag=None, bound=Bound(0, 60),
           not_input=_TUNING, library="connect"),
    Option("retry_max_delay", "float", 10.0, "longest backoff delay in seconds (10)", flag=None,
           bound=Bound(0, 600), not_input=_TUNING, library="connect"),
    Option("retry_after_cap", "float", 60.0, "longest Retry-After honoured, in seconds (60)", flag=None,
           bound=Bound(0, 3600), not_input=_TUNING, library="connect"),
    Option("retry_budget", "int", 100, "retries allowed per copy in total (100)", flag=None,
           bound=Bound(0, 10000), not_input=_TUNING, library="connect"),
    Option("chunk_size", "int", 4 * KiB * KiB, "largest PATCH chunk when a registry refuses monolithic "
           "uploads (4 MiB)", metavar="BYTES", bound=Bound(64 * KiB, KiB * KiB * KiB), not_input=_TUNING,
           library="connect"),
    Option("chunked", "switch", False, "upload blobs in PATCH chunks from the start", not_input=_TUNING,
           library="connect"),
    Option("file", "text", "", "the promotion file or the plan", flag=None, scope="action", input="file",
           input_help="`mode: plan` or `apply`: the promotion file (YAML, see the README). `stage` and "
           "`commit`: the plan, as a path or as the plan job's `plan` output itself (JSON)."),
    Option("shards", "text", "auto", "how many stage jobs", flag=None, scope="action", input="shards",
           input_help="`mode: plan`: how many stage jobs to spread the release over (1 to 256), or `auto` "
           "(one per 2 GiB to send). Images written to one repository stay in one shard."),
    Option("shard", "text", "", "which shard to stage", flag=None, scope="action", input="shard",
           input_help="`mode: stage`: which shard to push, `K/N` (the matrix's `shard`). "
           "Empty: every entry."),
    Option("lock", "text", "", "the lock file", flag=None, scope="action", input="lock",
           input_help="`mode: commit` or `apply`: where to write the lock file (default "
           "`promoted.lock.json`). `mode: verify`: the lock file to check, a path or its JSON."),
    Option("cache", "switch", True, "keep the Action's environment with actions/cache", flag=None,
           scope="setup", input="cache", input_help="`true` to keep the action's Python environment with "
           "actions/cache, so a later job restores it instead of installing; `false` on runners without a "
           "cache service."),
)  # fmt: skip

BY_NAME = {option.name: option for option in OPTIONS}
#: Every numeric option's range, by name.
BOUNDS: dict[str, Bound] = {o.name: o.bound for o in OPTIONS if o.bound is not None}


def default(name: str) -> Any:
    return BY_NAME[name].default


def options_for(scope: Scope) -> tuple[Option, ...]:
    """The options a front end reads ("cli" or "action"), in declaration order."""
    return tuple(o for o in OPTIONS if o.scope in ("both", scope))


def action_inputs() -> tuple[Option, ...]:
    """action.yml's inputs, in its order: the Action's options and its set-up's."""
    return tuple(o for o in OPTIONS if o.input and o.scope in ("both", "action", "setup"))

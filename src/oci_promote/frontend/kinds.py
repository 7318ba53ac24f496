"""How each kind of option is read: one validator per kind, run before pydantic's.

A variable's text or a flag's value goes in; the field's value comes out, or a
ValueError whose words never hold the value (it may be a secret). `annotation()` gives
the settings models' field type for an option, with its validator attached.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, SecretStr
from pydantic_settings import NoDecode

from ..errors import UsageError
from ..options import EMPTY_DIGEST
from ..schema import Option
from ..types.digest import parse_digest
from ..types.reference import parse_registry_host
from ..types.secret import Secret

#: The spellings of a switch's value (any case), as `1`, `true`, `yes`, `on` and their opposites.
_TRUE = frozenset({"1", "true", "yes", "on", "t", "y"})
_FALSE = frozenset({"0", "false", "no", "off", "f", "n"})


def split_list(text: str) -> tuple[str, ...]:
    """Text separated by newlines and commas (as workflow inputs are), blanks dropped."""
    return tuple(item.strip() for line in text.splitlines() for item in line.split(",") if item.strip())


def _text(value: object, option: Option) -> str | None:
    if not isinstance(value, str):
        raise ValueError("must be text")
    return None if option.default is None and not value.strip() else value


def _digest(value: object, option: Option) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be a digest (sha256:...)")
    if not value.strip():
        raise ValueError(f"is empty: {EMPTY_DIGEST}")
    try:
        parse_digest(value.strip())
    except UsageError as e:
        raise ValueError(str(e)) from None
    return value.strip()


def _list(value: object, option: Option) -> tuple[str, ...]:
    if isinstance(value, str):
        return split_list(value)
    if not isinstance(value, (list, tuple)):
        raise ValueError("must be a list of text")
    return tuple(map(str, value))


def _hosts(value: object, option: Option) -> tuple[str, ...]:
    hosts = _list(value, option)
    for host in hosts:
        try:
            parse_registry_host(host)
        except UsageError as e:
            raise ValueError(str(e)) from None
    return hosts


def _secret(value: object, option: Option) -> SecretStr | None:
    if isinstance(value, Secret):
        return SecretStr(value.get_secret_value())
    if value is None or isinstance(value, SecretStr):
        return value
    if not isinstance(value, str):
        raise ValueError("must be text")
    return SecretStr(value)


def _path(value: object, option: Option) -> Path | None:
    if isinstance(value, str):
        return Path(value) if value.strip() else None
    if not isinstance(value, Path):
        raise ValueError("must be a path")
    return value


def _switch(value: object, option: Option) -> bool:
    if isinstance(value, bool):
        return value
    word = value.strip().lower() if isinstance(value, str) else None
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ValueError("must be true or false (or 1/0, yes/no, on/off)")


def _integer(value: object, option: Option) -> int:
    number: object = value
    if isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            try:
                number = float(value)  # "8.0" is 8
            except ValueError:
                number = math.nan
            number = int(number) if number.is_integer() else None
    if isinstance(number, bool) or not isinstance(number, int):
        raise ValueError("must be an integer")
    _bounded(number, option)
    return number


def _number(value: object, option: Option) -> float:
    number: object = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise ValueError("must be a number") from None
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise ValueError("must be a number")
    if not math.isfinite(number):
        raise ValueError("must be a finite number")
    _bounded(number, option)
    return float(number)


def _bounded(number: float, option: Option) -> None:
    if option.bound is not None:
        try:
            option.bound.check(option.name, number, float if option.kind == "float" else int)
        except UsageError as e:
            raise ValueError(str(e).removeprefix(option.name + " ")) from None


def _choice(value: object, option: Option) -> str:
    if not isinstance(value, str) or value not in option.choices:
        raise ValueError("must be " + " or ".join(option.choices))
    return value


#: Kind -> (the field's type, its validator); WHAT: what a wrong value of that kind "must be".
_KINDS: dict[str, tuple[Any, Callable[[object, Option], object]]] = {
    "text": (str | None, _text),
    "digest": (str | None, _digest),
    "list": (Annotated[tuple[str, ...], NoDecode], _list),
    "hosts": (Annotated[tuple[str, ...], NoDecode], _hosts),
    "secret": (SecretStr | None, _secret),
    "path": (Path | None, _path),
    "switch": (bool, _switch),
    "int": (int, _integer),
    "float": (float, _number),
    "choice": (str, _choice),
}
WHAT = {
    "text": "text",
    "digest": "a digest (sha256:...)",
    "list": "a list of text",
    "hosts": "a list of registries (HOST[:PORT])",
    "secret": "text",
    "path": "a path",
    "switch": "true or false",
    "int": "an integer",
    "float": "a number",
    "choice": "one of the choices",
}


def annotation(option: Option) -> Any:
    kind, validate = _KINDS[option.kind]
    return Annotated[kind, BeforeValidator(lambda value: validate(value, option))]

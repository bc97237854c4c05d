"""What every config is built from, and the registries that families declare themselves in.

``Settings`` is the frozen, validated base of every config (a process's, a model family's, the
trainer's). A ``Registry`` holds the members of one family — processes, model families — each
declared in its own module: the registry imports every module of its package the first time it
is asked, so a new member is one new file and nothing else keeps a list.

>>> Settings.model_config["frozen"]
True
"""

from __future__ import annotations

import importlib
import pkgutil
import types
from collections.abc import Callable, Iterator
from typing import Any, Generic, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from lagnet.errors import LagnetError

# The largest finite float32: every number of a config ends up in a float32 computation,
# where a larger one is an infinity (1e308 as a learning rate trained 0 steps; as a budget,
# its deadline overflowed).
FLOAT32_MAX = 3.4028234663852886e38


class Settings(BaseModel):
    """A frozen config: unknown settings, NaN and infinities are refused, and so are numbers
    beyond float32's finite range, and true or false where a number is asked for (pydantic
    reads ``steps=True`` as 1 step)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_number(cls, v: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and _holds_bool(v):
            kinds = _scalar_types(field.annotation)
            if kinds & {int, float} and not kinds & {bool, Any}:
                whole = float not in kinds
                raise ValueError(f"must be a {'whole ' if whole else ''}number, not true or false")
        return v

    @field_validator("*", mode="after")
    @classmethod
    def _finite_float32(cls, v: Any) -> Any:
        if _too_large(v):
            raise ValueError(f"must be finite in float32 (at most {FLOAT32_MAX:.4g} in size)")
        return v


def _holds_bool(v: Any) -> bool:
    """``v`` is true or false, or a list, tuple or table holding one."""
    if isinstance(v, bool):
        return True
    if isinstance(v, (list, tuple)):
        return any(_holds_bool(x) for x in v)
    if isinstance(v, dict):
        return any(_holds_bool(x) for x in v.values())
    return False


def _scalar_types(tp: Any) -> set:
    """The types a field's values (or their items) may take: ``Optional[tuple[float, ...]]``
    → {float, NoneType}; a nested config is left to its own validation (``Any``)."""
    origin = get_origin(tp)
    if tp is Any or (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return {Any}
    if origin is Literal:
        return {type(a) for a in get_args(tp)}
    if origin is Union or origin is types.UnionType or origin in (list, tuple, set):
        found: set = set()
        for arg in get_args(tp):
            if arg is not Ellipsis:
                found |= _scalar_types(arg)
        return found or {Any}  # a bare list: anything
    if origin is dict:
        args = get_args(tp)
        return _scalar_types(args[1]) if len(args) == 2 else {Any}
    if origin is not None:  # Annotated, SerializeAsAny, ...: the type inside
        args = get_args(tp)
        return _scalar_types(args[0]) if args else {Any}
    return {tp} if isinstance(tp, type) else {Any}


def _too_large(v: Any) -> bool:
    """A float (or one inside a list, tuple or table) beyond float32's range, NaN or infinite."""
    if isinstance(v, float):
        return not abs(v) <= FLOAT32_MAX
    if isinstance(v, (list, tuple)):
        return any(_too_large(x) for x in v)
    if isinstance(v, dict):
        return any(_too_large(x) for x in v.values())
    return False


def first_error(err: ValidationError, prefix: str = "") -> LagnetError:
    """The first problem pydantic found, as one line naming the dotted field and the value."""
    e = err.errors()[0]
    inner = (e.get("ctx") or {}).get("error")
    if isinstance(inner, LagnetError):  # raised by a validator (a spec, a family): keep it
        return inner
    loc = [str(p) for p in e["loc"]]
    value = e.get("input")
    unknown = e["type"] in ("extra_forbid", "extra_forbidden")
    while unknown and isinstance(value, dict) and value:  # foo.bar=1: foo.bar and 1, not
        name, value = next(iter(value.items()))  # foo and {'bar': 1}
        loc.append(str(name))
    field = ".".join(p for p in (prefix, *loc) if p) or "config"
    msg = (
        "unknown setting"
        if unknown
        else e["msg"].removeprefix("Value error, ")  # a validator's ValueError: its words
    )
    return LagnetError(field, value, msg)


M = TypeVar("M")


class Registry(Generic[M]):
    """Members of one family by kind name. ``package``'s modules are imported on first use, so
    every member that declares itself there (``registry.register(...)`` at module level) is
    found; ``field`` names the config field that chooses a member, for error messages."""

    def __init__(self, field: str, package: str, kind: Callable[[M], str]):
        self.field = field
        self.package = package
        self._kind = kind
        self._members: dict[str, M] = {}
        self._loaded = False

    def register(self, member: M) -> M:
        name = self._kind(member)
        old = self._members.get(name)
        if old is not None and old is not member:
            raise ValueError(f"{self.field}: {name!r} is registered twice")
        self._members[name] = member
        return member

    def unregister(self, name: str) -> None:
        """Forget a member (a test's throw-away family)."""
        self._members.pop(name, None)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        pkg = importlib.import_module(self.package)
        for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
            if not info.name.startswith("_"):
                importlib.import_module(f"{self.package}.{info.name}")

    def get(self, name: Any) -> M:
        self._load()
        member = self._members.get(name) if isinstance(name, str) else None
        if member is None:
            raise LagnetError(self.field, name, f"unknown (known: {', '.join(self.names())})")
        return member

    def names(self) -> list[str]:
        self._load()
        return list(self._members)

    def __iter__(self) -> Iterator[M]:
        self._load()
        return iter(list(self._members.values()))

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._members


def validate_member(cls: type[Settings], data: Any, prefix: str) -> Settings:
    """``data`` (a dict or an instance) validated as ``cls``; bad input → LagnetError naming
    ``prefix.field``."""
    if isinstance(data, cls):
        return data
    if isinstance(data, BaseModel):
        data = data.model_dump()
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise first_error(err, prefix) from None

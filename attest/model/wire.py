r"""The wire models' constraints as ``msgspec`` Structs, derived from the pydantic models at import.

The pydantic models in :mod:`attest.model` are the one definition of the wire format: they
generate the JSON Schemas, validate user-written files and explain every refusal. The
readers on the verifier's hot path decode the same formats with ``msgspec`` (a C decoder)
into Structs derived here from those models, field by field:

- types: ``str``, ``int``, ``float``, ``bool``, ``Literal``, ``X | None``, ``list[X]``,
  ``dict[K, V]`` and nested wire models, with each field's alias as its JSON name;
- constraints: ``annotated_types`` ``Ge``/``Gt``/``Le``/``Lt``/``MinLen``/``MaxLen`` and
  pydantic's ``pattern`` become :class:`msgspec.Meta`; every string without its own
  ``max_length`` gets the models' ``str_max_length``; a pattern's final ``$`` becomes
  ``\Z`` (pydantic's regular expressions end at the end of the text, Python's ``$`` also
  before a final newline);
- custom types (:data:`~attest.model.base.Timestamp`, :data:`~attest.model.base.CountryCode`):
  their ``BeforeValidator``/``AfterValidator`` functions run on the decoded value, the very
  functions the models run;
- defaults: an absent field decodes as :data:`msgspec.UNSET` and takes the model's default
  (not validated, as pydantic does not validate defaults), and the built model records
  which fields were given, as a validated one does;
- validators: ``after`` field validators and ``after`` model validators run on the built
  model, in pydantic's order (fields first, then the model's).

Anything the deriver cannot honour (another constraint, a ``before``/``wrap`` model
validator, a field validator of another mode, a config other than the wire models') raises
:class:`TypeError` at import, so a model change can never silently loosen a reader.

A derived reader accepts a subset of what the model accepts and builds equal values:
``tests/model/test_wire.py`` proves it with hypothesis, field by field. Whoever reads with
it still has to exclude what a Struct decoder takes and a strict parser refuses — repeated
keys (msgspec keeps the last) — which :mod:`attest.model.fastread` does by re-encoding.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ForwardRef, Literal, Union, get_args, get_origin, get_type_hints

import annotated_types
import msgspec
from pydantic import AfterValidator, BaseModel, BeforeValidator, PlainSerializer
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from attest.model.base import WireModel, assemble, parse_timestamp

__all__ = ["Derived", "derive", "field_reader", "model_checks", "view"]

_STR_MAX = WireModel.model_config.get("str_max_length")
_CONFIG = {
    "strict": True,
    "extra": "forbid",
    "frozen": True,
    "allow_inf_nan": False,
    "str_max_length": _STR_MAX,
    "populate_by_name": True,
}
_BOUNDS = {
    annotated_types.Ge: "ge",
    annotated_types.Gt: "gt",
    annotated_types.Le: "le",
    annotated_types.Lt: "lt",
    annotated_types.MinLen: "min_length",
    annotated_types.MaxLen: "max_length",
}
_UNSET = msgspec.UNSET
Convert = Callable[[Any], Any]
"""Turns a decoded value into the model's value (None: the decoded value is the model's)."""


@dataclass(frozen=True)
class Derived:
    """A model's Struct, its JSON decoder and the function that builds the model from a decoded Struct."""

    model: type[BaseModel]
    struct: type[msgspec.Struct]
    decoder: msgspec.json.Decoder[Any]
    to_model: Callable[[Any], Any]


def model_checks(model: type[BaseModel]) -> list[Callable[[Any], Any]]:
    """The ``after`` model validators of ``model``; :class:`TypeError` for validators no reader can honour."""
    decorators = model.__pydantic_decorators__
    if decorators.root_validators or decorators.validators:
        raise TypeError(f"{model.__name__} has v1-style validators; the wire reader would skip them")
    for field_dec in decorators.field_validators.values():
        if field_dec.info.mode != "after":
            raise TypeError(f"{model.__name__} has a {field_dec.info.mode!r} field validator")
    checks = []
    for model_dec in decorators.model_validators.values():
        if model_dec.info.mode != "after":
            raise TypeError(f"{model.__name__} has a {model_dec.info.mode!r} model validator")
        checks.append(model_dec.func)
    return checks  # (serializers shape output only, never what is accepted)


def _field_checks(model: type[BaseModel]) -> dict[str, list[Callable[[Any], Any]]]:
    out: dict[str, list[Callable[[Any], Any]]] = {}
    for dec in model.__pydantic_decorators__.field_validators.values():
        for name in dec.info.fields:
            if name not in model.model_fields:
                raise TypeError(f"{model.__name__}: a validator names unknown field {name!r}")
            out.setdefault(name, []).append(dec.func)
    return out


def _pattern(pattern: str) -> str:
    """``pattern`` for Python's ``re.search`` matching what pydantic's (Rust) engine matches."""
    if not pattern.startswith("^") or not pattern.endswith("$") or "$" in pattern[:-1]:
        raise TypeError(f"pattern {pattern!r} is not anchored ^...$ once; the wire reader cannot mirror it")
    return pattern[:-1] + r"\Z"


def _meta(base: type, bounds: dict[str, Any]) -> Any:
    """A scalar type with its bounds as :class:`msgspec.Meta` (strings: the models' length limit by default)."""
    if base is str:
        bounds = {"max_length": _STR_MAX, **bounds}
    if not bounds:
        return base
    allowed = {
        str: {"min_length", "max_length", "pattern"},
        int: {"ge", "gt", "le", "lt"},
        float: {"ge", "gt", "le", "lt"},
    }.get(base, set())
    if not set(bounds) <= allowed:
        raise TypeError(f"constraints {sorted(set(bounds) - allowed)} on {base.__name__}")
    return Annotated[base, msgspec.Meta(**bounds)]


def _collect(metadata: list[Any], bounds: dict[str, Any], hooks: list[Any]) -> None:
    """Sort ``Annotated`` metadata into Meta bounds and validator hooks; refuse anything else."""
    for m in metadata:
        if type(m) in _BOUNDS:
            key = _BOUNDS[type(m)]
            bounds[key] = getattr(m, key)
        elif isinstance(m, FieldInfo):
            _check_field_info(m)
            _collect(m.metadata, bounds, hooks)
        elif isinstance(m, _Pattern):
            bounds["pattern"] = m.pattern
        elif type(m).__name__ == "_PydanticGeneralMetadata":
            extra = set(vars(m)) - {"pattern"}
            if extra:
                raise TypeError(f"constraints {sorted(extra)}: the wire reader cannot honour them")
            bounds["pattern"] = _pattern(str(vars(m)["pattern"]))
        elif isinstance(m, BeforeValidator | AfterValidator):
            hooks.append(m)
        elif isinstance(m, PlainSerializer):
            pass  # output only
        else:
            raise TypeError(f"annotation {m!r}: the wire reader cannot honour it")


def _check_field_info(info: FieldInfo) -> None:
    if info.validation_alias not in (None, info.alias):
        raise TypeError(f"validation_alias {info.validation_alias!r}: the wire reader cannot honour it")
    for attr in ("discriminator", "strict"):
        if getattr(info, attr, None) is not None:
            raise TypeError(f"field option {attr}={getattr(info, attr)!r}: the wire reader cannot honour it")


class _Deriver:
    """Derives Structs in one member order (the models' or RFC 8785's sorted one), memoised per model."""

    def __init__(self, order: Literal["model", "sorted"]) -> None:
        self.order = order
        self.done: dict[type[BaseModel], Derived] = {}

    def model(
        self, model: type[BaseModel], members: Mapping[str, tuple[Any, Convert]] | None = None
    ) -> Derived:
        """The derived reader of ``model``; fields named in ``members`` are read as the type given and converted."""
        if members is None and model in self.done:
            return self.done[model]
        if not issubclass(model, WireModel) or dict(model.model_config) != _CONFIG:
            raise TypeError(f"{model.__name__} is not a wire model with the wire models' config")
        checks = model_checks(model)
        field_checks = _field_checks(model)
        fields: list[tuple[str, Any, Any]] = []
        specs: list[tuple[str, Convert | None, Callable[[], Any] | None, list[Callable[[Any], Any]]]] = []
        for name, info in model.model_fields.items():
            _check_field_info(info)
            wire_name = info.alias or name
            tp: Any
            conv: Convert | None
            if members is not None and name in members:
                tp, conv = members[name]
            else:
                tp, conv = self.type(_annotation(model, name, info), list(info.metadata))
            default = _default(info)
            if default is None:
                fields.append((name, tp, msgspec.field(name=wire_name)))
            else:
                fields.append((name, tp | msgspec.UnsetType, msgspec.field(name=wire_name, default=_UNSET)))
            specs.append((name, conv, default, field_checks.get(name, [])))
        if self.order == "sorted":  # RFC 8785 order: by UTF-16 code units (these names are ASCII)
            fields.sort(key=lambda f: f[2].name)
        struct = msgspec.defstruct(
            f"{model.__name__}Wire", fields, kw_only=True, forbid_unknown_fields=True, module=__name__
        )
        derived = Derived(model, struct, msgspec.json.Decoder(struct), _builder(model, specs, checks))
        if members is None:
            self.done[model] = derived
        return derived

    def type(self, tp: Any, metadata: list[Any]) -> tuple[Any, Convert | None]:
        """The msgspec type of one annotation and its converter."""
        bounds: dict[str, Any] = {}
        hooks: list[Any] = []
        _collect(metadata, bounds, hooks)
        while get_origin(tp) is Annotated:
            inner, *more = get_args(tp)
            _collect(list(more), bounds, hooks)
            tp = inner
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            nullable = len(args) < len(get_args(tp))
            literal_str = [
                a for a in args if get_origin(a) is Literal and all(isinstance(v, str) for v in get_args(a))
            ]
            if str in args and len(args) == 1 + len(literal_str):
                args = [str]  # Literal[...] | str accepts every string
            if len(args) != 1:
                raise TypeError(f"union {tp!r}: the wire reader reads only X | None")
            if hooks:
                raise TypeError(f"a validator on the union {tp!r}: the wire reader cannot honour it")
            wire, conv = self.type(args[0], _as_metadata(bounds))
            if not nullable:
                return wire, conv
            return wire | None, (None if conv is None else _nullable(conv))
        if hooks:
            return self._hooked(tp, bounds, hooks)
        if origin is Literal:
            if bounds:
                raise TypeError(f"constraints on {tp!r}")
            return tp, None
        if tp in (str, int, float):
            return _meta(tp, bounds), None
        if tp is bool:
            if bounds:
                raise TypeError("constraints on bool")
            return bool, None
        if origin is list:
            (item,) = get_args(tp)
            wire, conv = self.type(item, [])
            return _sized(list[wire], bounds), _listed(conv)  # type: ignore[valid-type]
        if origin is dict:
            key, value = get_args(tp)
            kwire, kconv = self.type(key, [])
            vwire, vconv = self.type(value, [])
            if kconv is not None or vconv is not None:
                raise TypeError(f"{tp!r}: converted dict keys or values")
            return _sized(dict[kwire, vwire], bounds), None  # type: ignore[valid-type]
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if bounds:
                raise TypeError(f"constraints on model {tp.__name__}")
            derived = self.model(tp)
            return derived.struct, derived.to_model
        raise TypeError(f"type {tp!r}: the wire reader cannot read it")

    def _hooked(self, tp: Any, bounds: dict[str, Any], hooks: list[Any]) -> tuple[Any, Convert | None]:
        """A type with a BeforeValidator (parsing, e.g. Timestamp) or an AfterValidator (e.g. CountryCode)."""
        if len(hooks) != 1:
            raise TypeError(f"{len(hooks)} validators on {tp!r}: the wire reader honours one")
        (hook,) = hooks
        func = hook.func
        if isinstance(hook, BeforeValidator):
            # The function sees the JSON value as it is; the model then accepts only an instance.
            if bounds or tp is not datetime:
                raise TypeError(f"a BeforeValidator on {tp!r}: the wire reader handles datetime only")

            if func is parse_timestamp or _returns_datetime(func):
                return Any, func  # it returns a datetime or raises, so the model's datetime check holds

            def parse(value: Any) -> Any:
                out = func(value)
                if not isinstance(out, datetime):
                    raise ValueError("not a datetime")
                return out

            return Any, parse
        wire, inner = self.type(tp, _as_metadata(bounds))
        if inner is None:
            return wire, func
        return wire, lambda value: func(inner(value))


def _returns_datetime(func: Callable[..., Any]) -> bool:
    """Whether ``func``'s annotations say it returns a datetime (a compiled function has none: False)."""
    try:
        return get_type_hints(func).get("return") is datetime
    except (TypeError, NameError):
        return False


def _sized(tp: Any, bounds: dict[str, Any]) -> Any:
    """A list or dict type with its length bounds."""
    if not bounds.keys() <= {"min_length", "max_length"}:
        raise TypeError(f"constraints {sorted(bounds)} on {tp!r}")
    return Annotated[tp, msgspec.Meta(**bounds)] if bounds else tp


def _as_metadata(bounds: dict[str, Any]) -> list[Any]:
    """Bounds collected on a union, handed to its member (pydantic applies them to the non-None type)."""
    out: list[Any] = []
    for key, value in bounds.items():
        if key == "pattern":
            out.append(_Pattern(value))
        else:
            cls = next(c for c, k in _BOUNDS.items() if k == key)
            out.append(cls(value))
    return out


class _Pattern:
    """A pattern already translated for Python (see :func:`_pattern`)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern


def _annotation(model: type[BaseModel], name: str, info: FieldInfo) -> Any:
    """A field's annotation, with a forward reference (a model defined further down) resolved."""
    if isinstance(info.annotation, ForwardRef | str):
        return get_type_hints(model)[name]
    return info.annotation


def _default(info: FieldInfo) -> Callable[[], Any] | None:
    if info.default_factory is not None:
        factory = info.default_factory
        return lambda: factory()  # type: ignore[call-arg]
    if info.default is PydanticUndefined:
        return None
    value = info.default
    if isinstance(value, list | dict | set):
        raise TypeError("a mutable default: give a default_factory")
    return _Constant(value)


class _Constant:
    """A field's default value (immutable), which the generated builders write in as a constant."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __call__(self) -> Any:
        return self.value


class _Nullable:
    """The converter of ``X | None``: None stays None (the generated builders test it inline)."""

    __slots__ = ("inner",)

    def __init__(self, inner: Convert) -> None:
        self.inner = inner

    def __call__(self, value: Any) -> Any:
        return None if value is None else self.inner(value)


def _nullable(conv: Convert) -> Convert:
    return _Nullable(conv)


def _listed(conv: Convert | None) -> Convert | None:
    if conv is None:
        return None
    return lambda values: [conv(v) for v in values]


def _builder(
    model: type[BaseModel],
    specs: list[tuple[str, Convert | None, Callable[[], Any] | None, list[Callable[[Any], Any]]]],
    checks: list[Callable[[Any], Any]],
) -> Callable[[Any], Any]:
    """The function that builds ``model`` from its decoded Struct, as pydantic's validation would.

    Written out as straight-line code per model (a loop over the fields costs more than the
    decoding): each given field is converted and passed through its ``after`` field
    validators, each absent one takes its default; the model is then built with
    :func:`~attest.model.base.assemble`, recording the given fields, and its ``after`` model
    validators run. Only field names (Python identifiers, checked) enter the code.
    """
    env: dict[str, Any] = {"_assemble": assemble, "_model": model, "_UNSET": _UNSET}
    all_given = not any(default for _, _, default, _ in specs)
    lines = ["def to_model(s):"]
    if not all_given:
        required = [name for name, _, default, _ in specs if default is None]
        lines.append(f"    given = {{{', '.join(map(repr, required))}}}" if required else "    given = set()")
    for i, (name, conv, default, validators) in enumerate(specs):
        if not name.isidentifier():
            raise TypeError(f"field name {name!r}")
        body: list[str] = []
        if default is not None:
            body.append(f"given.add({name!r})")
        if isinstance(conv, _Nullable):
            env[f"_c{i}"] = conv.inner
            body.append(f"if f{i} is not None: f{i} = _c{i}(f{i})")
        elif conv is not None:
            env[f"_c{i}"] = conv
            body.append(f"f{i} = _c{i}(f{i})")
        for j, validate in enumerate(validators):
            env[f"_v{i}_{j}"] = validate
            body.append(f"f{i} = _v{i}_{j}(f{i})")
        lines.append(f"    f{i} = s.{name}")
        if default is None:
            lines += [f"    {line}" for line in body]
        else:
            if isinstance(default, _Constant):
                env[f"_d{i}"] = default.value
                made = f"_d{i}"
            else:
                env[f"_d{i}"] = default
                made = f"_d{i}()"
            lines += [f"    if f{i} is _UNSET:", f"        f{i} = {made}", "    else:"]
            lines += [f"        {line}" for line in body or ["pass"]]
    values = ", ".join(f"{name!r}: f{i}" for i, (name, *_) in enumerate(specs))
    given = "given" if not all_given else "set(" + repr(tuple(n for n, *_ in specs)) + ")"
    lines.append(f"    obj = _assemble(_model, {{{values}}}, {given})")
    for k, check in enumerate(checks):
        env[f"_m{k}"] = check
        lines.append(f"    _m{k}(obj)")
    lines.append("    return obj")
    exec("\n".join(lines), env)  # noqa: S102 - code built above from identifiers only
    to_model: Callable[[Any], Any] = env["to_model"]
    return to_model


_DERIVERS = {"model": _Deriver("model"), "sorted": _Deriver("sorted")}


def derive(
    model: type[BaseModel],
    *,
    order: Literal["model", "sorted"] = "model",
    members: Mapping[str, tuple[Any, Convert]] | None = None,
) -> Derived:
    """The Struct reader of a wire model, its members in the model's order or sorted (RFC 8785).

    Fields named in ``members`` are decoded as the msgspec type given — :class:`msgspec.Raw`
    (their JSON text) or another derived Struct — and turned into the field's value by the
    function given, which must validate what the derived type would not have.

    Raises:
        TypeError: the model has a constraint or validator the Struct cannot honour.
    """
    return _DERIVERS[order].model(model, members)


def field_reader(
    model: type[BaseModel], name: str, *, order: Literal["model", "sorted"] = "model"
) -> tuple[Any, Convert]:
    """The msgspec type of one field of ``model`` and the function that turns its decoded value into the field's."""
    info = model.model_fields[name]
    wire, conv = _DERIVERS[order].type(_annotation(model, name, info), list(info.metadata))
    if model.__pydantic_decorators__.field_validators:
        for dec in model.__pydantic_decorators__.field_validators.values():
            if name in dec.info.fields:
                raise TypeError(f"{model.__name__}.{name} has a field validator: read the model")
    return wire, conv or (lambda value: value)


def view(model: type[BaseModel], fields: Mapping[str, Any]) -> type[msgspec.Struct]:
    """A Struct reading only ``fields`` of ``model`` (others skipped), each with the model's constraints.

    ``fields`` maps a field name to None (read it whole), to the same kind of mapping for a
    nested model (read those of its fields), or to ``bytes`` for a string field that holds
    base64 (decoded by msgspec as it reads; the string's own bounds are not applied). For pre-reading a few values before anything is
    verified — to order or group input, never to judge it.
    """
    out: list[tuple[str, Any, Any]] = []
    for name, sub in fields.items():
        info = model.model_fields[name]
        if sub is bytes:
            if _annotation(model, name, info) is not str:
                raise TypeError(f"{model.__name__}.{name} is not a string: it cannot hold base64")
            tp: Any = bytes
        elif sub is None:
            tp, _ = _DERIVERS["model"].type(_annotation(model, name, info), list(info.metadata))
        else:
            inner = _annotation(model, name, info)
            nested = (
                [a for a in get_args(inner) if a is not type(None)]
                if get_origin(inner) in (Union, types.UnionType)
                else [inner]
            )
            if get_origin(nested[0]) is list:
                (item,) = get_args(nested[0])
                tp = _sized(list[view(item, sub)], _list_bounds(info))  # type: ignore[misc]
            else:
                tp = view(nested[0], sub)
        default = _default(info)
        if default is None:
            out.append((name, tp, msgspec.field(name=info.alias or name)))
        else:
            out.append((name, tp | msgspec.UnsetType, msgspec.field(name=info.alias or name, default=_UNSET)))
    return msgspec.defstruct(f"{model.__name__}View", out, kw_only=True, module=__name__)


def _list_bounds(info: FieldInfo) -> dict[str, Any]:
    bounds: dict[str, Any] = {}
    _collect(list(info.metadata), bounds, [])
    return bounds

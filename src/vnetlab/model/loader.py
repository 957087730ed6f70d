"""Loading a lab file: safe YAML with line numbers, schema, then cross-part rules.

Every problem is collected and reported together as one LabFileError, each
with file, line, dotted field path and advice. Pure; no root, no kernel.
"""

from __future__ import annotations

import datetime
import difflib
import os
import types
import typing
from typing import Any, Collection

from pydantic import BaseModel, Tag, ValidationError

from vnetlab.model.errors import LabFileError, Problem, quoted
from vnetlab.model.schema import LabSpec
from vnetlab.model.validate import semantic_problems, semantic_warnings
from vnetlab.model.yamltree import MAX_FILE_BYTES, YamlTree, size_problem
from vnetlab.names import LAB_NAME


def load_lab(path: str | os.PathLike) -> LabSpec:
    """Reads and validates a lab file.

    Args:
        path: the lab file; problems are reported under this name.

    Returns:
        The validated lab.

    Raises:
        LabFileError: with every problem found in the file.
        OSError: if the file cannot be read.
    """
    return check_lab_file(path)[0]


def check_lab_file(path: str | os.PathLike,
                   missing_packages: Collection[str] = ()) -> tuple[LabSpec, list[Problem]]:
    """Reads and validates a lab file, and says what may not work as written.

    Args:
        path: the lab file; problems are reported under this name.
        missing_packages: what this environment lacks (e.g. "os-ken"), so
            the warnings can say what ``up`` would refuse here.

    Returns:
        The validated lab and its warnings (in line order): things the
        file may ask for in vain, on some machines or on this one.

    Raises:
        LabFileError: with every problem found in the file.
        OSError: if the file cannot be read.
    """
    filename = os.fspath(path)
    with open(path, "rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)  # never more: the size alone decides
        if len(data) > MAX_FILE_BYTES:
            size = os.fstat(handle.fileno()).st_size  # 0 for a pipe
            raise LabFileError([size_problem(filename, size, exact=size > MAX_FILE_BYTES)])
    # Bytes that are not UTF-8 become surrogates, which the YAML reader step
    # reports with their line and column (every line that has one).
    return _load(data.decode("utf-8", "surrogateescape"), filename, len(data), missing_packages)


def load_lab_text(text: str, filename: str = "<string>") -> LabSpec:
    """Validates a lab given as YAML text.

    Args:
        text: the YAML document.
        filename: the name problems are reported under.

    Returns:
        The validated lab.

    Raises:
        LabFileError: with every problem found, in line order.
    """
    return _load(text, filename, None, ())[0]


def _load(text: str, filename: str, size: int | None,
          missing_packages: Collection[str]) -> tuple[LabSpec, list[Problem]]:
    tree = YamlTree(filename)
    data = tree.parse(text, size)
    if data is None:  # nothing usable to validate: syntax error, empty, not a mapping
        raise LabFileError(tree.problems)
    spec = validate_into(tree, data, (), missing_packages)
    if spec is None:
        name = data.get("lab")
        raise LabFileError(tree.problems, lab=name if isinstance(name, str) and LAB_NAME.fullmatch(name) else None)
    return spec, sorted(tree.problems, key=lambda p: (p.line, p.path))


def validate_into(tree: YamlTree, data: Any, prefix: tuple = (),
                  missing_packages: Collection[str] = ()) -> LabSpec | None:
    """Validates a lab given as parsed data, reporting into ``tree``.

    ``prefix`` is where the lab sits in the file ``tree`` parsed: ``()`` for
    a lab file, ``("lab",)`` for the starting lab inside a course exercise,
    so every problem still names its own line and field.

    Returns:
        The lab, or None when the file has problems (they are in ``tree``);
        warnings are added only to a file without problems.
    """
    spec = None
    try:
        spec = LabSpec.model_validate(data)
    except ValidationError as err:
        for error in err.errors(include_url=False):
            path, message, at_key = _translate(error)
            # A value already reported by the YAML layer (a refused tag) would
            # only produce a second, confusing message here.
            if not tree.refused(prefix + path):
                tree.report(prefix + path, message, at_key=at_key)
    if spec is not None:  # the cross-part rules need a schema-valid lab
        for path, message in semantic_problems(spec):
            tree.report(prefix + path, message)
    if any(not p.warning for p in tree.problems):  # here or elsewhere in the file
        return None
    for path, message in semantic_warnings(spec, missing_packages):
        tree.report(prefix + path, message, warning=True)
    return spec


def _translate(error: dict) -> tuple[tuple, str, bool]:
    """Maps one pydantic error to (path, message, located-at-key).

    The path is the file's: a union's tag (``checks[2]`` is a ``state``
    check) is pydantic's, not a key of the file, and is left out."""
    tagged = tuple(error["loc"])
    loc = _file_path(tagged)
    kind = error["type"]
    if loc and loc[-1] == "[key]":  # a dict key (node or interface name) is wrong
        loc = loc[:-1]
        return loc, _value_message(error), True
    if kind == "extra_forbidden":
        return loc, _unknown_key_message(tagged), True
    if kind == "missing":
        return loc, _missing_message(tagged), False
    return loc, _value_message(error), False


def _missing_message(loc: tuple) -> str:
    """A field's own advice (``json_schema_extra={"missing": ...}``), else a generic one."""
    model = _model_at(loc[:-1])
    fields = {f.alias or name: f for name, f in model.model_fields.items()} if model else {}
    extra = getattr(fields.get(loc[-1]), "json_schema_extra", None)
    if isinstance(extra, dict) and "missing" in extra:
        return str(extra["missing"])
    return f"missing required key {loc[-1]!r} — add {loc[-1]}: ..."


def _value_message(error: dict) -> str:
    kind, value = error["type"], error.get("input")
    got = _describe(value)
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping (key: value), got {got} — write it as key: value lines"
    if kind == "list_type":
        return f"expected a list, got {got} — write it as [a, b] or as '- item' lines"
    if kind == "string_type":
        if isinstance(value, (dict, list)) or value is None or _huge(value):
            return f"expected a string, got {got} — write text, e.g. \"...\""
        return f"expected a string, got {got} — quote it, e.g. \"{_plain(value)}\""
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {got} — write e.g. 1500"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {got} — write true or false"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, got {got} — write e.g. 1.5"
    bounds = error.get("ctx", {})
    if kind == "greater_than_equal":
        return f"{_plain(value)} is too small — use {bounds['ge']} or more"
    if kind == "greater_than":
        return f"{_plain(value)} is too small — use more than {bounds['gt']}"
    if kind == "less_than_equal":
        return f"{_plain(value)} is too large — use {bounds['le']} or less"
    if kind == "less_than":
        return f"{_plain(value)} is too large — use less than {bounds['lt']}"
    # Anything else: pydantic's own sentence, with what was found.
    message = error["msg"].removeprefix("Value error, ")
    return f"{message[0].lower()}{message[1:]}, got {got}"


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, (int, float)):
        return f"{_plain(value)} (a number)"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"{value.isoformat()} (a date)"
    if isinstance(value, bytes):
        return f"{len(value):,} bytes of binary data"
    return quoted(str(value))


def _huge(value: Any) -> bool:
    return isinstance(value, int) and value.bit_length() > 200


def _plain(value: Any) -> str:
    """A scalar as the file would write it; a huge integer (``1:0:0:...``
    in base 60) by its size, which str() refuses past 4,300 digits."""
    if isinstance(value, bool):
        return str(value).lower()
    if _huge(value):
        return f"a {value.bit_length():,}-bit number"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return str(value)


def _unknown_key_message(loc: tuple) -> str:
    key = loc[-1]
    allowed = _allowed_keys(loc[:-1])
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key {quoted(str(key))} — did you mean {close[0]!r}?"
    return f"unknown key {quoted(str(key))} — allowed keys here: {', '.join(allowed)}"


def _allowed_keys(path: tuple) -> list[str]:
    """The keys (aliases where set) of the model found at ``path`` in the file."""
    model = _model_at(path)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_at(path: tuple) -> type[BaseModel] | None:
    """The model at ``path`` (a pydantic location: union tags included), or None."""
    return _walk(path)[1]


def _file_path(path: tuple) -> tuple:
    """``path`` without the union tags pydantic puts in its locations."""
    return _walk(path)[0]


def _walk(path: tuple) -> tuple[tuple, type[BaseModel] | None]:
    """Follows a pydantic location from LabSpec: (the location without union
    tags, the model found at its end or None)."""
    annotation: Any = LabSpec
    kept = []
    for part in path:
        annotation = _unwrap_optional(annotation)
        members = _tagged_members(annotation)
        if isinstance(part, str) and part in members:  # a tag: the union's member, not a key
            annotation = members[part]
            continue
        kept.append(part)
        annotation = _unwrap_annotated(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields = {f.alias or name: f for name, f in annotation.model_fields.items()}
            annotation = fields[part].annotation if part in fields else None
        elif typing.get_origin(annotation) in (list, dict):
            annotation = typing.get_args(annotation)[-1]  # the item / value type
        else:
            annotation = None
    annotation = _unwrap_annotated(_unwrap_optional(annotation))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return tuple(kept), annotation
    return tuple(kept), None


def _tagged_members(annotation: Any) -> dict[str, Any]:
    """A discriminated union's members by tag (``Annotated[Union[Annotated[M, Tag(t)], ...], Discriminator]``)."""
    if typing.get_origin(annotation) is not typing.Annotated:
        return {}
    union = typing.get_args(annotation)[0]
    if typing.get_origin(union) not in (typing.Union, types.UnionType):
        return {}
    members = {}
    for member in typing.get_args(union):
        for meta in getattr(member, "__metadata__", ()):
            if isinstance(meta, Tag):
                members[meta.tag] = typing.get_args(member)[0]
    return members


def _unwrap_annotated(annotation: Any) -> Any:
    return typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation


def _unwrap_optional(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return annotation

"""Loading a lab file: safe YAML with line numbers, schema, then cross-part rules.

Every problem is collected and reported together as one LabFileError, each
with file, line, dotted field path and advice. Pure; no root, no kernel.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from vnetlab.model.errors import LabFileError, Problem
from vnetlab.model.schema import LabSpec
from vnetlab.model.validate import semantic_problems

# Aliases let one node appear many times; cap the walk so "billion laughs"
# files fail fast instead of eating memory.
MAX_YAML_NODES = 100_000
YAML_TAG_PREFIX = "tag:yaml.org,2002:"
# Tags SafeConstructor builds from scalars; anything else (python/..., custom
# '!tags') is refused before construction, so nothing is ever instantiated.
SAFE_SCALAR_TAGS = {
    YAML_TAG_PREFIX + name
    for name in ("null", "bool", "int", "float", "str", "binary", "timestamp")
}


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
    filename = os.fspath(path)
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise LabFileError([Problem(filename, line, "", "the file is not UTF-8 text — "
                                    "save it as UTF-8")]) from None
    return load_lab_text(text, filename)


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
    tree = _Tree(filename)
    data = tree.parse(text)
    if data is None:  # nothing usable to validate: syntax error, empty, not a mapping
        raise LabFileError(tree.problems)
    spec = None
    try:
        spec = LabSpec.model_validate(data)
    except ValidationError as err:
        for error in err.errors(include_url=False):
            path, message, at_key = _translate(error)
            # A value already reported by the YAML layer (a refused tag) would
            # only produce a second, confusing message here.
            if not any(path[: len(bad)] == bad for bad in tree.bad_paths):
                tree.report(path, message, at_key=at_key)
    if spec is not None:  # the cross-part rules need a schema-valid lab
        for path, message in semantic_problems(spec):
            tree.report(path, message)
    if tree.problems:
        raise LabFileError(tree.problems)
    return spec


class _Tree:
    """Turns a YAML node tree into plain data, remembering where each path is."""

    def __init__(self, filename: str):
        self.filename = filename
        self.problems: list[Problem] = []
        self.bad_paths: list[tuple] = []
        self.lines: dict[tuple, int] = {}  # path -> line of its value (or key, for collections)
        self.key_lines: dict[tuple, int] = {}  # path -> line of the key naming it
        self.visited = 0
        self.constructor = yaml.SafeLoader("")

    def parse(self, text: str) -> dict | None:
        """Returns the top-level mapping, or None if there is nothing to validate."""
        loader = _fast_loader(text)
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            what = " ".join(p for p in (err.context, err.problem) if p)
            if err.context_mark and mark and err.context_mark.line != mark.line:
                what += f" (the construct began at line {err.context_mark.line + 1})"
            self.add(mark.line + 1 if mark else 1, "",
                     f"YAML syntax error: {what} — fix the indentation, quoting or brackets here")
            return None
        except yaml.YAMLError as err:
            self.add(1, "", f"YAML error: {err} — fix the file's syntax")
            return None
        finally:
            loader.dispose()
        if root is None:
            self.add(1, "", "the file is empty — start it with lab: NAME and nodes:")
            return None
        self.lines[()] = root.start_mark.line + 1
        if not isinstance(root, yaml.MappingNode):
            self.add(root.start_mark.line + 1, "",
                     f"the top level is {_yaml_kind(root)} — it must be a mapping with "
                     "lab:, nodes:, links: and checks:")
            return None
        try:
            return self.build(root, ())
        except _TooLarge:
            self.problems = [Problem(self.filename, 1, "", f"the file expands to more than "
                                     f"{MAX_YAML_NODES} values (aliases?) — write it out plainly")]
            return None

    def build(self, node: yaml.Node, path: tuple) -> Any:
        """Plain Python data for ``node``; refused parts become None and are reported."""
        self.visited += 1
        if self.visited > MAX_YAML_NODES:
            raise _TooLarge
        tag = node.tag
        if isinstance(node, yaml.MappingNode) and tag == YAML_TAG_PREFIX + "map":
            return self.build_mapping(node, path)
        if isinstance(node, yaml.SequenceNode) and tag == YAML_TAG_PREFIX + "seq":
            return [self.build_item(item, (*path, i)) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.ScalarNode) and tag in SAFE_SCALAR_TAGS:
            return self.constructor.construct_object(node)
        self.bad_paths.append(path)
        self.add(node.start_mark.line + 1, _dotted(path),
                 f"YAML tag {_short_tag(tag)!r} is not allowed — lab files use plain YAML "
                 "values; remove the tag")
        return None

    def build_item(self, node: yaml.Node, path: tuple) -> Any:
        self.lines[path] = node.start_mark.line + 1
        return self.build(node, path)

    def build_mapping(self, node: yaml.MappingNode, path: tuple) -> dict:
        result: dict = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == YAML_TAG_PREFIX + "merge":
                self.add(key_line, _dotted(path), "merge keys (<<) are not supported — "
                                                  "write the keys out")
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.add(key_line, _dotted(path), "a key must be a plain name — "
                                                  "write name: value")
                continue
            # Keys are names (nodes, interfaces, fields), so keep the text as
            # written: "no:" or "1:" stay strings instead of false or 1.
            key = key_node.value
            child = (*path, key)
            if key in result:
                first = self.key_lines[child]
                self.add(key_line, _dotted(child),
                         f"duplicate key {key!r} (first at line {first}) — keep one")
                continue
            self.key_lines[child] = key_line
            scalar = isinstance(value_node, yaml.ScalarNode)
            self.lines[child] = value_node.start_mark.line + 1 if scalar else key_line
            result[key] = self.build(value_node, child)
        return result

    def locate(self, path: tuple, at_key: bool = False) -> int:
        """The line of ``path``, else of its nearest ancestor that is in the file."""
        if at_key and path in self.key_lines:
            return self.key_lines[path]
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)

    def report(self, path: tuple, message: str, at_key: bool = False) -> None:
        self.add(self.locate(path, at_key), _dotted(path), message)

    def add(self, line: int, path: str, message: str) -> None:
        self.problems.append(Problem(self.filename, line, path, message))


class _TooLarge(Exception):
    pass


def _dotted(path: tuple) -> str:
    """('nodes', 'red', 'routes', 0, 'via') -> 'nodes.red.routes[0].via'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(YAML_TAG_PREFIX):] if tag.startswith(YAML_TAG_PREFIX) else tag


def _fast_loader(text: str) -> "_Composer":
    """libyaml's composer when present (a 1,000-node lab composes in 0.08 s
    instead of 0.4 s), falling back to the pure-Python loader on a syntax
    error so the messages keep their wording and marks."""
    return _Composer(text)


class _Composer:
    """get_single_node/dispose, like a yaml loader."""

    def __init__(self, text: str):
        self.text = text

    def get_single_node(self) -> yaml.Node:
        fast = getattr(yaml, "CSafeLoader", None)
        if fast is not None:
            loader = fast(self.text)
            try:
                return loader.get_single_node()
            except yaml.YAMLError:
                pass  # reported below, in the pure loader's words
            finally:
                loader.dispose()
        loader = yaml.SafeLoader(self.text)
        try:
            return loader.get_single_node()
        finally:
            loader.dispose()

    def dispose(self) -> None:
        """Nothing left to free (each parse disposes of its loader)."""


def _yaml_kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "a single value" if isinstance(node, yaml.ScalarNode) else "not a mapping"


def _translate(error: dict) -> tuple[tuple, str, bool]:
    """Maps one pydantic error to (path, message, located-at-key)."""
    loc = tuple(error["loc"])
    kind = error["type"]
    if loc and loc[-1] == "[key]":  # a dict key (node or interface name) is wrong
        loc = loc[:-1]
        return loc, _value_message(error), True
    if kind == "extra_forbidden":
        return loc, _unknown_key_message(loc), True
    if kind == "missing":
        return loc, _missing_message(loc), False
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
        return f"expected a string, got {got} — quote it, e.g. \"{value}\""
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {got} — write e.g. 1500"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {got} — write true or false"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, got {got} — write e.g. 1.5"
    bounds = error.get("ctx", {})
    if kind == "greater_than_equal":
        return f"{value} is too small — use {bounds['ge']} or more"
    if kind == "greater_than":
        return f"{value} is too small — use more than {bounds['gt']}"
    if kind == "less_than_equal":
        return f"{value} is too large — use {bounds['le']} or less"
    if kind == "less_than":
        return f"{value} is too large — use less than {bounds['lt']}"
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
        return f"{value} (a number)"
    return repr(value)


def _unknown_key_message(loc: tuple) -> str:
    key = loc[-1]
    allowed = _allowed_keys(loc[:-1])
    close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key {key!r} — did you mean {close[0]!r}?"
    return f"unknown key {key!r} — allowed keys here: {', '.join(allowed)}"


def _allowed_keys(path: tuple) -> list[str]:
    """The keys (aliases where set) of the model found at ``path`` in the file."""
    model = _model_at(path)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_at(path: tuple) -> type[BaseModel] | None:
    annotation: Any = LabSpec
    for part in path:
        annotation = _unwrap_optional(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields = {f.alias or name: f for name, f in annotation.model_fields.items()}
            if part not in fields:
                return None
            annotation = fields[part].annotation
        elif typing.get_origin(annotation) in (list, dict):
            annotation = typing.get_args(annotation)[-1]  # the item / value type
        else:
            return None
    annotation = _unwrap_optional(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _unwrap_optional(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return annotation

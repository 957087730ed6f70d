"""Lab-file YAML to plain Python data, with the line of every key and value.

Pure; no root. The data is built straight from the parser's events (libyaml's
when it is installed), never from PyYAML's node graph, so that every limit is
judged while the file is read rather than after it was all composed:

- characters YAML refuses (control characters, bytes that are not UTF-8, a
  byte-order mark after the start) are found first, each at its line and
  column, one problem per line;
- a file over :data:`MAX_FILE_BYTES` is refused before it is parsed;
- values (keys and values; an alias counts as everything it repeats) are
  counted as they are read, and nesting depth is bounded, so a huge, dense or
  "billion laughs" file stops at the line where it crossed the limit;
- an alias inside the value it names (``a: &r [*r]``) is a problem, never a
  recursion;
- only plain YAML values are built: any other tag (``!!python/...``,
  ``!custom``) is refused before anything is constructed.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Optional

import yaml
from yaml.events import (
    AliasEvent, MappingEndEvent, MappingStartEvent, ScalarEvent, SequenceEndEvent,
    SequenceStartEvent, StreamEndEvent,
)

from vnetlab.model.errors import Problem, quoted

# Measured (benchmarks/lab_file_size.py): a 10,000-host tree lab is 0.8 MB
# and 110,000 values written compactly, 2.4 MB and 270,000 values with every
# key on its own line and a check per host. The limits leave room for twice
# that, and reading up to them takes well under a second.
MAX_FILE_BYTES = 4_000_000
MAX_VALUES = 500_000
MAX_DEPTH = 64  # a lab file nests about 8 deep (nodes.X.firewall.input.rules[0].port)
TEN_THOUSAND_HOSTS = "a 10,000-host lab is 0.8–2.4 MB and 110,000–270,000 values"
MAX_CHARACTER_LINES = 10  # lines with refused characters reported one by one

YAML_TAG_PREFIX = "tag:yaml.org,2002:"
STR_TAG, SEQ_TAG, MAP_TAG = (YAML_TAG_PREFIX + name for name in ("str", "seq", "map"))
# Tags SafeConstructor builds from scalars; anything else (python/..., custom
# '!tags') is refused before construction, so nothing is ever instantiated.
SAFE_SCALAR_TAGS = {
    YAML_TAG_PREFIX + name
    for name in ("null", "bool", "int", "float", "str", "binary", "timestamp")
}
SCALAR_KINDS = {"null": "null", "bool": "true or false", "int": "a whole number", "float": "a number",
                "binary": "base64 data", "timestamp": "a date"}

# What YAML's reader accepts (PyYAML's printable set, which libyaml shares)
# minus U+FEFF: a byte-order mark belongs only at the very start, and the
# two parsers disagree about one anywhere else. Surrogates stand for bytes
# that are not UTF-8 (load_lab decodes with "surrogateescape").
_REFUSED_CHARACTER = re.compile(
    "[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")
# YAML's line breaks: its marks count these, so our own line numbers must too.
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
# The first characters of every implicit type the resolver knows (null,
# bool, int, float, timestamp, merge, value); plain text starting otherwise
# is a string (checked against the resolver in tests/unit/test_yamltree.py).
_RESOLVED_FIRST = frozenset(yaml.SafeLoader.yaml_implicit_resolvers) - {None}
_MAX_INT_DIGITS = sys.get_int_max_str_digits() or 4300  # 0: no limit
_VALUE_EVENTS = (ScalarEvent, SequenceStartEvent, MappingStartEvent, AliasEvent)
_DISCARDED = object()  # path part under which a value that is not kept is built


class _Stop(Exception):
    """A limit was crossed: the problem is recorded; nothing more is read."""


@dataclass(frozen=True)
class _Anchor:
    """What an alias ``*name`` repeats."""

    value: Any
    size: int  # values it counts for, aliases inside it expanded
    bad: tuple  # paths (relative to the anchor) already reported as refused
    key_text: Optional[str]  # its text if it is a scalar (usable as a key)


def size_problem(filename: str, size: int, exact: bool = True) -> Problem:
    """The problem of a lab file of ``size`` bytes (over :data:`MAX_FILE_BYTES`)."""
    shown = _megabytes(size) if exact else f"more than {_megabytes(MAX_FILE_BYTES)}"
    return Problem(filename, 1, "", f"the file is {shown} — a lab file may have at most "
                                    f"{_megabytes(MAX_FILE_BYTES)} ({TEN_THOUSAND_HOSTS}); "
                                    "split it into several labs")


class YamlTree:
    """Turns one YAML document into plain data, remembering where each path is.

    Paths are tuples of keys and list indexes, e.g. ``("nodes", "red",
    "routes", 0, "via")``; the problems found on the way are in
    :attr:`problems`, and :meth:`refused` tells whether a path is in a value
    already reported (a refused tag, an alias that cannot be built).
    """

    def __init__(self, filename: str):
        self.filename = filename
        self._reset()
        self._yaml = yaml.SafeLoader("")  # its resolver and scalar constructors

    def _reset(self) -> None:
        self.problems: list[Problem] = []
        self.bad_paths: list[tuple] = []  # in file order: an anchor keeps those inside it
        self._refused: set[tuple] | None = None  # the same as a set, once reading is done
        self.lines: dict[tuple, int] = {}  # path -> line of its value (or key, for collections)
        self.key_lines: dict[tuple, int] = {}  # path -> line of the key naming it
        self._anchors: dict[str, _Anchor] = {}
        self._open: dict[str, int] = {}  # anchors being built -> their line
        self._written = 0  # values in the text
        self._expanded = 0  # values with every alias counted as what it repeats
        self._muted = 0  # > 0 while building a value that is dropped anyway

    def parse(self, text: str, size: Optional[int] = None) -> dict | None:
        """The top-level mapping of ``text``, or None if there is nothing to validate.

        Args:
            text: the file's text (invalid UTF-8 bytes as surrogate escapes).
            size: the file's size in bytes, if known (else measured from ``text``).
        """
        text = text.removeprefix("\ufeff")  # a byte-order mark may start a file
        if size is None and len(text) > MAX_FILE_BYTES // 4:  # else it cannot be too large
            size = len(text.encode("utf-8", "surrogateescape"))
        if size is not None and size > MAX_FILE_BYTES:
            self.problems.append(size_problem(self.filename, size))
            return None
        if self._refuse_characters(text):
            return None
        size = len(text) if size is None else size
        if size > MAX_VALUES // 4:  # fewer bytes cannot write that many values (one takes a byte or more)
            try:
                self._count_written(text)
            except _Stop:
                return None
        failure: yaml.YAMLError | None = None
        for make_parser in _PARSERS:  # libyaml; then PyYAML, whose messages are clearer
            self._reset()
            parser = make_parser(text)
            try:
                return self._document(parser)
            except _Stop:
                return None
            except yaml.YAMLError as err:
                failure = err
            finally:
                parser.dispose()
        self._reset()
        self._syntax_error(failure, text)
        return None

    # -- reporting ------------------------------------------------------------
    def refused(self, path: tuple) -> bool:
        """Whether ``path`` is, or is inside, a value the reader already reported."""
        if self._refused is None:
            self._refused = set(self.bad_paths)
        return any(path[:end] in self._refused for end in range(len(path) + 1))

    def locate(self, path: tuple, at_key: bool = False) -> int:
        """The line of ``path``, else of its nearest ancestor that is in the file."""
        if at_key and path in self.key_lines:
            return self.key_lines[path]
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, 1)

    def report(self, path: tuple, message: str, at_key: bool = False, warning: bool = False) -> None:
        """Records a problem at ``path``'s line."""
        self.problems.append(Problem(self.filename, self.locate(path, at_key), dotted(path), message,
                                     warning=warning))

    def add(self, line: int, path: str, message: str) -> None:
        """Records a problem at ``line`` (unless the value is being dropped)."""
        if not self._muted:
            self.problems.append(Problem(self.filename, line, path, message))

    def _stop(self, event, path: tuple, message: str) -> None:
        """Records the one problem that ends reading; the others are dropped
        (what was read so far would give only part of the picture)."""
        self.problems = [Problem(self.filename, _line(event), dotted(path), message)]
        raise _Stop

    # -- characters -----------------------------------------------------------
    def _refuse_characters(self, text: str) -> bool:
        """Reports every line with a character YAML refuses; True if any."""
        match = _REFUSED_CHARACTER.search(text)
        line, line_start, scanned = 1, 0, 0
        reported = more = 0
        while match:
            for brk in _LINE_BREAK.finditer(text, scanned, match.start()):  # each break once
                line, line_start = line + 1, brk.end()
            if reported < MAX_CHARACTER_LINES:
                self.add(line, "", _character_message(match.group(), match.start() - line_start + 1))
                reported += 1
            elif not more:
                more, first_more = 1, line
            else:
                more += 1
            end = _LINE_BREAK.search(text, match.start())  # on to the next line
            if end is None:
                break
            line, line_start = line + 1, end.end()
            scanned = line_start
            match = _REFUSED_CHARACTER.search(text, line_start)
        if more:
            self.add(first_more, "", f"{more} more line{'s' if more > 1 else ''} from here on "
                                     "have such characters — fix the lines above first")
        return bool(self.problems)

    def _count_written(self, text: str) -> None:
        """Counts the values of a large file before any is built: the parser
        alone is a quarter of the cost, so a dense file over the limit stops
        in a fraction of a second (a syntax error is left to the build)."""
        parser = _PARSERS[0](text)
        values = 0
        try:
            while True:
                event = parser.get_event()
                kind = type(event)
                if kind in _VALUE_EVENTS:
                    values += 1
                    if values > MAX_VALUES:
                        self._stop(event, (), self._too_many_message())
                elif kind is StreamEndEvent:
                    return
        except yaml.YAMLError:
            return
        finally:
            parser.dispose()

    def _syntax_error(self, err: yaml.YAMLError, text: str) -> None:
        if isinstance(err, yaml.MarkedYAMLError):
            mark = err.problem_mark or err.context_mark
            what = " ".join(p for p in (err.context, err.problem) if p)
            if err.context_mark and mark and err.context_mark.line != mark.line:
                what += f" (the construct began at line {err.context_mark.line + 1})"
            self.add(mark.line + 1 if mark else 1, "",
                     f"YAML syntax error: {_one_line(what)} — fix the indentation, quoting or brackets here")
        elif isinstance(err, yaml.reader.ReaderError):  # not expected: _refuse_characters comes first
            line, column = _position(text, err.position)
            self.add(line, "", f"column {column}: {_one_line(err.reason)} — fix the file's text here")
        else:
            self.add(1, "", f"YAML error: {_one_line(str(err))} — fix the file's syntax")

    # -- events to data -------------------------------------------------------
    # Each method is handed the event that starts its value and takes the
    # rest of the value's events from the parser: one parser call per event.
    def _document(self, parser) -> dict | None:
        parser.get_event()  # StreamStartEvent
        if parser.check_event(StreamEndEvent):
            self.add(1, "", "the file is empty — start it with lab: NAME and nodes:")
            return None
        parser.get_event()  # DocumentStartEvent
        root = parser.get_event()
        self.lines[()] = _line(root)
        if not isinstance(root, MappingStartEvent):
            self.add(_line(root), "", f"the top level is {_event_kind(root)} — it must be a mapping "
                                      "with lab:, nodes:, links: and checks:")
            return None
        data = self._node(parser, root, (), 0)
        parser.get_event()  # DocumentEndEvent
        if not parser.check_event(StreamEndEvent):
            self.add(_line(parser.peek_event()), "", "a second YAML document starts here — a lab file "
                                                     "is one document; remove the '---' and what follows")
            return None
        return data

    def _node(self, parser, event, path: tuple, depth: int) -> Any:
        kind = type(event)
        if kind is AliasEvent:
            anchor = self._aliased(event, path)
            if anchor is None:
                self.bad_paths.append(path)
                return None
            self.bad_paths.extend((*path, *bad) for bad in anchor.bad)
            return anchor.value
        self._count(event, path, 1)
        name = event.anchor
        if name is not None:
            name = self._opened(name, event, path)
            before = (self._expanded - 1, len(self.bad_paths))
        if kind is ScalarEvent:
            value = self._scalar(event, path)
        elif kind is MappingStartEvent:
            value = self._mapping(parser, event, path, depth)
        else:
            value = self._sequence(parser, event, path, depth)
        if name is not None:
            del self._open[name]
            bad = tuple(p[len(path):] for p in self.bad_paths[before[1]:])
            self._anchors[name] = _Anchor(value, self._expanded - before[0], bad,
                                          event.value if kind is ScalarEvent else None)
        return value

    def _mapping(self, parser, event, path: tuple, depth: int) -> dict | None:
        kept = self._allowed_collection(event, MAP_TAG, path, depth)
        result: dict = {}
        next_event = parser.get_event
        while True:
            key_event = next_event()
            if type(key_event) is MappingEndEvent:
                return result if kept else None
            key_line = _line(key_event)
            key = self._key(parser, key_event, path, depth)
            if key is None:  # reported; its value goes too
                self._discard(parser, path, depth)
                continue
            # Keys are names (nodes, interfaces, fields), so keep the text as
            # written: "no:" or "1:" stay strings instead of false or 1.
            child = (*path, key)
            if key in result:
                self.add(key_line, dotted(child),
                         f"duplicate key {quoted(key)} (first at line {self.key_lines[child]}) — keep one")
                self._discard(parser, child, depth)
                continue
            self.key_lines[child] = key_line
            value = next_event()
            self.lines[child] = _line(value) if type(value) in (ScalarEvent, AliasEvent) else key_line
            result[key] = self._node(parser, value, child, depth + 1)

    def _sequence(self, parser, event, path: tuple, depth: int) -> list | None:
        kept = self._allowed_collection(event, SEQ_TAG, path, depth)
        items: list = []
        next_event = parser.get_event
        while True:
            item_event = next_event()
            if type(item_event) is SequenceEndEvent:
                return items if kept else None
            item = (*path, len(items))
            self.lines[item] = _line(item_event)
            items.append(self._node(parser, item_event, item, depth + 1))

    def _key(self, parser, event, path: tuple, depth: int) -> str | None:
        """The key's text; None (reported) if it is not a plain name."""
        line, where = _line(event), dotted(path)
        if type(event) is ScalarEvent:
            self._count(event, path, 1)
            if event.tag == YAML_TAG_PREFIX + "merge" or (event.tag is None and event.implicit[0]
                                                           and event.value == "<<"):
                self.add(line, where, "merge keys (<<) are not supported — write the keys out")
                return None
            if event.anchor is not None:  # an anchored key repeats as its text
                name = self._opened(event.anchor, event, path)
                if name is not None:
                    del self._open[name]
                    self._anchors[name] = _Anchor(event.value, 1, (), event.value)
            return event.value
        if type(event) is AliasEvent:
            anchor = self._aliased(event, path)
            if anchor is None:
                return None
            if anchor.key_text is not None:
                return anchor.key_text
        else:
            self._muted += 1
            try:
                self._node(parser, event, (*path, _DISCARDED), depth + 1)
            finally:
                self._muted -= 1
        self.add(line, where, "a key must be a plain name — write name: value")
        return None

    def _discard(self, parser, path: tuple, depth: int) -> None:
        """Reads the next value, which is not kept (its problems are not the file's news)."""
        self._muted += 1
        try:
            self._node(parser, parser.get_event(), (*path, _DISCARDED), depth + 1)
        finally:
            self._muted -= 1

    def _scalar(self, event: ScalarEvent, path: tuple) -> Any:
        tag, value = event.tag, event.value
        if tag is None:
            if not event.implicit[0] or value[:1] not in _RESOLVED_FIRST:
                return value  # quoted, or plain text no implicit type can start with
            if value.isdigit() and value.isascii() and (value[0] != "0" or value == "0") \
                    and len(value) <= _MAX_INT_DIGITS:
                return int(value)  # decimal (a leading 0 is octal in YAML 1.1: the constructor decides)
            tag = self._yaml.resolve(yaml.ScalarNode, value, event.implicit)
            if tag not in SAFE_SCALAR_TAGS:
                return value  # "=" or "<<" as a value: types PyYAML resolves but cannot build
        elif tag == "!":
            tag = STR_TAG
        if tag == STR_TAG:
            return value
        if tag not in SAFE_SCALAR_TAGS:
            self._refuse_tag(event, tag, path)
            return None
        node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark, event.style)
        try:
            return self._yaml.yaml_constructors[tag](self._yaml, node)
        # SafeConstructor raises what int(), float(), date() or its own table
        # lookups raise on text that does not fit the tag (!!bool maybe, 2020-13-45).
        except (ArithmeticError, AttributeError, KeyError, ValueError, yaml.YAMLError) as err:
            self.bad_paths.append(path)
            self.add(_line(event), dotted(path), _unreadable(event, tag, err))
            return None

    def _allowed_collection(self, event, default_tag: str, path: tuple, depth: int) -> bool:
        """Whether a mapping or list is kept (its contents are read either way)."""
        if depth >= MAX_DEPTH:
            self._stop(event, path[:3], f"values nest more than {MAX_DEPTH} levels deep here — a lab file "
                                    "needs about 8; close the brackets or fix the indentation")
        if event.tag in (None, "!", default_tag):
            return True
        self._refuse_tag(event, event.tag, path)
        return False

    def _refuse_tag(self, event, tag: str, path: tuple) -> None:
        self.bad_paths.append(path)
        self.add(_line(event), dotted(path), f"YAML tag {quoted(_short_tag(tag))} is not allowed — lab files "
                                             "use plain YAML values; remove the tag")

    # -- anchors, aliases and size ------------------------------------------------
    def _opened(self, name: str, event, path: tuple) -> str | None:
        """Starts anchor ``name``; None (reported) if that name is taken."""
        if name in self._open or name in self._anchors:
            self.add(_line(event), dotted(path), f"the anchor &{name} is defined twice — give each "
                                                 "anchor its own name")
            return None
        self._open[name] = _line(event)
        return name

    def _aliased(self, event: AliasEvent, path: tuple) -> _Anchor | None:
        """What alias ``event`` repeats; None (reported) if it cannot."""
        name, where = event.anchor, dotted(path)
        self._count(event, path, 1)  # the alias as written; what it repeats is counted below
        if name in self._open:
            self.add(_line(event), where, f"the alias *{name} refers to itself (it is inside &{name}, line "
                                          f"{self._open[name]}) — a value cannot contain itself; write "
                                          "out what it should repeat")
            return None
        anchor = self._anchors.get(name)
        if anchor is None:
            self.add(_line(event), where, f"the alias *{name} has no anchor &{name} before it — mark the "
                                          f"value to repeat with &{name} first")
            return None
        self._count(event, path, anchor.size - 1, alias=True)
        return anchor

    def _count(self, event, path: tuple, values: int, alias: bool = False) -> None:
        self._expanded += values
        if not alias:
            self._written += values
        if self._expanded <= MAX_VALUES:
            return
        if self._written < self._expanded:
            self._stop(event, path, f"aliases expand the file to more than {MAX_VALUES:,} values by this "
                                    f"line ({self._written:,} written out) — the limit is {MAX_VALUES:,} "
                                    f"({TEN_THOUSAND_HOSTS}); repeat less through aliases")
        self._stop(event, path, self._too_many_message())

    @staticmethod
    def _too_many_message() -> str:
        return (f"the file has more than {MAX_VALUES:,} values (keys and values) by this line — the limit "
                f"is {MAX_VALUES:,} ({TEN_THOUSAND_HOSTS}); split it into several labs")


def _parsers() -> list[Callable[[str], Any]]:
    fast = getattr(yaml, "CSafeLoader", None)  # libyaml: events 5x faster than PyYAML's
    return [fast, yaml.SafeLoader] if fast is not None else [yaml.SafeLoader]


_PARSERS = _parsers()


def dotted(path: tuple) -> str:
    """('nodes', 'red', 'routes', 0, 'via') -> 'nodes.red.routes[0].via'."""
    text = ""
    for part in path:
        if part is _DISCARDED:
            continue
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _line(event) -> int:
    return event.start_mark.line + 1


def _position(text: str, index: int) -> tuple[int, int]:
    """(line, column), both from 1, of ``text[index]``, counting lines as YAML does."""
    line, start = 1, 0
    for brk in _LINE_BREAK.finditer(text, 0, index):
        line, start = line + 1, brk.end()
    return line, index - start + 1


def _character_message(char: str, column: int) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, kept by "surrogateescape"
        return f"column {column}: byte 0x{code - 0xDC00:02X} is not UTF-8 — save the file as UTF-8"
    if char == "\ufeff":
        return (f"column {column}: a byte-order mark (U+FEFF) — only the very start of a file may "
                "have one; delete it (it comes from joining files that each began with one)")
    what = "a control character" if unicodedata.category(char) == "Cc" else "a character YAML does not allow"
    escape = f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return (f"column {column}: {what} (U+{code:04X}) — delete it, or write it as {escape} inside a "
            "\"double-quoted\" string")


def _unreadable(event: ScalarEvent, tag: str, err: Exception) -> str:
    short = tag[len(YAML_TAG_PREFIX):] if tag.startswith(YAML_TAG_PREFIX) else tag
    kind = SCALAR_KINDS.get(short, short)
    if short == "int" and "digits" in str(err):
        why = f" (more than {sys.get_int_max_str_digits():,} digits)"
    elif short == "timestamp" and isinstance(err, ValueError):
        why = f" ({err})"
    else:
        why = ""
    if event.tag is None:
        return f"{quoted(event.value)} reads as {kind} but is not one{why} — quote it to keep it as text"
    return f"{quoted(event.value)} is not {kind}{why}, as its tag {_short_tag(tag)} says — fix the value or remove the tag"


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(YAML_TAG_PREFIX):] if tag.startswith(YAML_TAG_PREFIX) else tag


def _event_kind(event) -> str:
    if isinstance(event, SequenceStartEvent):
        return "a list"
    return "a single value" if isinstance(event, ScalarEvent) else "not a mapping"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB ({size:,} bytes)"

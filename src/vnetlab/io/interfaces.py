"""Reading ifupdown / ifupdown2 ``interfaces`` files into stanzas (pure).

The reader keeps every line it does not understand as a report instead of
guessing: it follows ``source`` and ``source-directory`` (globs too, always
resolved inside ROOT — a path or symlink that leaves ROOT is refused), and
turns the file into :class:`Stanza` objects whose options keep their file
and line. Option names are normalised (``bridge_ports`` and
``bridge-ports`` are one option). Nothing is executed: hook lines
(``up``, ``post-up`` …) are kept as options for :mod:`vnetlab.io.hooks`.

Syntax understood (interfaces(5), ifupdown2): ``auto`` (several names on a
line), ``allow-CLASS`` (``allow-hotplug``, ``allow-ovs``, ``allow-vmbr0``),
``iface NAME [FAMILY [METHOD]]`` including the method-less ifupdown2 form,
``mapping`` (reported: its scripts never run), ``source``,
``source-directory``, comments, blank lines, options with or without
indentation, tabs, trailing whitespace and ``\\`` line continuations.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field
from typing import Optional

from vnetlab.io.report import Report, SourceFileError, not_imported, note, problem

FAMILIES = ("inet", "inet6", "ipx", "can")
METHODS = ("static", "manual", "dhcp", "loopback", "auto", "v4tunnel", "6to4", "ppp", "bootp", "tunnel",
           "wvdial", "ipv4ll")
MAX_FILE_BYTES = 1024 * 1024  # a real interfaces file is a few kilobytes
MAX_INCLUDES = 64  # source loops and glob bombs stop here
# Why a line is not imported, for readers that tell these apart (ifupdown itself refuses a misplaced option)
MISPLACED = "an option outside any `iface` stanza belongs to no interface"
IN_MAPPING = "part of the mapping stanza"
UNKNOWN_METHOD = "not a family (inet, inet6) or method (static, manual, dhcp, loopback) vnetlab knows"
# source-directory reads files whose names are made of these only (run-parts rules)
SOURCE_DIRECTORY_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Option:
    """One option line of a stanza: ``key`` normalised (lowercase, ``_`` → ``-``)."""

    key: str
    value: str
    file: str
    line: int
    text: str  # the line as written, stripped

    @property
    def words(self) -> list[str]:
        """The value split on whitespace."""
        return self.value.split()


@dataclass
class Stanza:
    """An ``iface`` stanza: the interface, its family and method, its options in order."""

    name: str
    family: Optional[str]
    method: Optional[str]
    file: str
    line: int
    options: list[Option] = field(default_factory=list)

    def get(self, *keys: str) -> list[Option]:
        """The options with one of these (normalised) keys, in file order."""
        return [option for option in self.options if option.key in keys]


@dataclass(frozen=True)
class Mark:
    """A name on an ``auto`` or ``allow-CLASS`` line."""

    name: str
    what: str  # "auto", "allow-hotplug", "allow-ovs", "allow-vmbr0" ...
    file: str
    line: int


@dataclass
class InterfacesFile:
    """What one interfaces file (with everything it sources) says."""

    stanzas: list[Stanza] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    reports: list[Report] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # every file read, shown names
    # (file, line, text) of every non-comment line, for the line-level lints
    lines: list[tuple[str, int, str]] = field(default_factory=list)

    def names(self) -> list[str]:
        """Interface names with a stanza, in file order."""
        return list(dict.fromkeys(stanza.name for stanza in self.stanzas))


def normalise_key(key: str) -> str:
    """``bridge_ports`` → ``bridge-ports``: ifupdown2 reads both spellings."""
    return key.strip().lower().replace("_", "-")


def read_interfaces(path: str, root: Optional[str] = None, shown: Optional[str] = None,
                    etc: Optional[str] = None) -> InterfacesFile:
    """Reads an interfaces file and every file it sources.

    Args:
        path: the file on this machine.
        root: the directory absolute ``source`` paths are resolved in (a
            copy of a host's ``/``); every file read must lie inside it.
            Default: the directory ``path`` would be ``/etc/network`` of.
        shown: the name reports use for ``path`` (default: ``path``).
        etc: instead of ``root``, the directory that stands for ``/etc``
            (a node's own ``/etc/netns/NAME``): absolute paths under
            ``/etc/`` resolve inside it, others are refused as leaving it,
            and sourced files are shown as ``/etc/…``.

    Returns:
        The stanzas, ``auto``/``allow-`` marks and reports.

    Raises:
        SourceFileError: ``path`` itself is missing, unreadable, too big or not text.
    """
    if etc is not None:
        root = etc
    root = os.path.realpath(root if root is not None else _guess_root(path))
    result = InterfacesFile()
    _Reader(root, result, as_etc=etc is not None).read(path, shown or path, None)
    return result


def read_interfaces_text(text: str, shown: str) -> InterfacesFile:
    """Reads the text of an interfaces file that is not on disk (one vnetlab
    wrote itself); ``source`` lines in it are reported, never followed."""
    result = InterfacesFile(files=[shown])
    reader = _Reader(None, result)
    for number, line in _logical_lines(text, shown, result.reports):
        reader._line(shown, number, line, "")
    return result


def _guess_root(path: str) -> str:
    """ROOT for a lone file: the prefix before ``etc/network/…`` if the path
    has one, else the file's own directory."""
    real = os.path.realpath(path)
    marker = os.sep + os.path.join("etc", "network") + os.sep
    if marker in real:
        return real[:real.index(marker)] or os.sep
    return os.path.dirname(real)


class _Reader:
    """Reads files into one InterfacesFile, following includes inside ``root``."""

    def __init__(self, root: Optional[str], result: InterfacesFile, as_etc: bool = False):
        self.root = root  # None: text without a file system, nothing is sourced
        self.as_etc = as_etc  # root stands for /etc, not for /
        self.result = result
        self.seen: set[str] = set()
        self.current: Optional[Stanza] = None
        self.in_mapping: Optional[tuple[str, int]] = None

    # -- files --------------------------------------------------------
    def read(self, path: str, shown: str, included_from: Optional[tuple[str, int]]) -> None:
        real = os.path.realpath(path)
        if real in self.seen:
            if included_from:
                self.result.reports.append(problem(*included_from, f"{shown} is sourced twice (a source loop?) "
                                                                   "— it is read once"))
            return
        if len(self.seen) >= MAX_INCLUDES:
            self.result.reports.append(problem(*(included_from or (shown, 0)),
                                               f"more than {MAX_INCLUDES} files sourced — {shown} is not read"))
            return
        text = self._text(path, shown, included_from)
        if text is None:
            return
        self.seen.add(real)
        self.result.files.append(shown)
        self.current, self.in_mapping = None, None  # a stanza never continues into another file
        for number, line in _logical_lines(text, shown, self.result.reports):
            self._line(shown, number, line, os.path.dirname(real))
        self.current, self.in_mapping = None, None

    def _text(self, path: str, shown: str, included_from: Optional[tuple[str, int]]) -> Optional[str]:
        def fail(message: str) -> None:
            if included_from is None:
                raise SourceFileError([Report(shown, 0, message, "problem")])
            self.result.reports.append(problem(*included_from, f"{shown}: {message}"))

        if os.path.exists(path) and not os.path.isdir(path) and not os.path.isfile(path):
            fail("is not a regular file (a FIFO or device would block the reader) — not read")
            return None
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            fail("no such file")
            return None
        except IsADirectoryError:
            fail("is a directory, not an interfaces file")
            return None
        except OSError as err:
            fail(f"cannot be read ({err.strerror})")
            return None
        if len(data) > MAX_FILE_BYTES:
            fail(f"is over {MAX_FILE_BYTES // 1024} KiB — not an interfaces file")
            return None
        if b"\0" in data:
            fail("is binary (it holds NUL bytes), not an interfaces file")
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as err:
            line = data[:err.start].count(b"\n") + 1
            if included_from is None:
                raise SourceFileError([Report(shown, line, "is not UTF-8 text here — "
                                                           "an interfaces file is plain text", "problem")]) from None
            self.result.reports.append(problem(shown, line, "not UTF-8 text — the file is not read"))
            return None

    def inside(self, target: str) -> Optional[str]:
        """``target`` resolved (symlinks too) if it stays inside ROOT, else None."""
        real = os.path.realpath(target)
        if real == self.root or real.startswith(self.root.rstrip(os.sep) + os.sep):
            return real
        return None

    def _resolve(self, pattern: str, base: str) -> str:
        """An include path as this machine sees it: absolute ones under ROOT,
        relative ones next to the including file (ifupdown's rule)."""
        if pattern.startswith("/"):
            if self.as_etc:
                inside_etc = pattern.startswith("/etc/")
                return os.path.join(self.root, pattern[len("/etc/"):]) if inside_etc else pattern
            return os.path.join(self.root, pattern.lstrip("/"))
        return os.path.join(base, pattern)

    def _shown_name(self, real: str) -> str:
        relative = os.path.relpath(real, self.root)
        return f"/etc/{relative}" if self.as_etc else relative

    # -- lines --------------------------------------------------------
    def _line(self, file: str, number: int, line: str, base: str) -> None:
        self.result.lines.append((file, number, line))
        words = line.split()
        keyword = words[0]
        if keyword == "iface":
            self._iface(file, number, line, words)
        elif keyword == "auto" or keyword.startswith("allow-"):
            self.current, self.in_mapping = None, None
            if len(words) == 1:
                self.result.reports.append(problem(file, number, f"`{keyword}` names no interface — "
                                                                 "the line is cut off or empty"))
            for name in words[1:]:
                self.result.marks.append(Mark(name, keyword, file, number))
        elif keyword == "mapping":
            self.current = None
            self.in_mapping = (file, number)
            self.result.reports.append(not_imported(file, number, line, "mapping stanzas choose a "
                                                    "configuration by running a script, which vnetlab never runs"))
        elif keyword in ("source", "source-directory", "source-dir"):
            self.current, self.in_mapping = None, None
            self._include(file, number, line, keyword, words[1:], base)
        elif keyword in ("no-auto-down", "no-scripts", "rename"):
            self.current, self.in_mapping = None, None
            self.result.reports.append(not_imported(file, number, line, f"`{keyword}` only changes how "
                                                    "ifup/ifdown run on the real host"))
        elif self.in_mapping is not None:
            self.result.reports.append(not_imported(file, number, line, f"{IN_MAPPING} at "
                                                    f"line {self.in_mapping[1]}"))
        elif self.current is None:
            self.result.reports.append(not_imported(file, number, line, MISPLACED))
        else:
            key, _, value = line.partition(" ")
            key = key.split("\t")[0]
            value = line[len(key):].strip()
            self.current.options.append(Option(normalise_key(key), value, file, number, line))

    def _iface(self, file: str, number: int, line: str, words: list[str]) -> None:
        self.in_mapping = None
        if len(words) < 2:
            self.current = None
            self.result.reports.append(problem(file, number, "`iface` without an interface name — "
                                                             "the line is cut off"))
            return
        name, family, method = words[1], None, None
        rest = words[2:]
        if rest and rest[0] in FAMILIES:
            family, rest = rest[0], rest[1:]
        if rest and rest[0] in METHODS:
            method, rest = rest[0], rest[1:]
        if rest:
            self.result.reports.append(not_imported(file, number, " ".join(rest),
                                                    UNKNOWN_METHOD))
        self.current = Stanza(name, family, method, file, number)
        self.result.stanzas.append(self.current)

    def _include(self, file: str, number: int, line: str, keyword: str, args: list[str], base: str) -> None:
        if not args:
            self.result.reports.append(problem(file, number, f"`{keyword}` names no file — the line is cut off"))
            return
        if self.root is None:
            self.result.reports.append(note(file, number, f"`{line}` is not followed: this text has no files beside it"))
            return
        for pattern in args:
            target = self._resolve(pattern, base)
            if keyword == "source":
                matches = sorted(glob.glob(target)) if glob.has_magic(pattern) else [target]
            else:
                matches = self._directory(file, number, target, pattern)
            if not matches:
                self.result.reports.append(note(file, number, f"`{keyword} {pattern}` matches no file "
                                                              "under ROOT — nothing to read"))
            for match in matches:
                real = self.inside(match)
                if real is None:
                    self.result.reports.append(problem(file, number, f"`{keyword} {pattern}` leads out of "
                                                                     "ROOT — refused, not read"))
                    continue
                if os.path.isdir(real) and keyword == "source":
                    continue  # `source dir/*` also matches subdirectories; ifupdown skips them
                self.read(real, self._shown_name(real), (file, number))

    def _directory(self, file: str, number: int, target: str, pattern: str) -> list[str]:
        directories = sorted(glob.glob(target)) if glob.has_magic(pattern) else [target]
        found = []
        for directory in directories:
            if self.inside(directory) is None:
                self.result.reports.append(problem(file, number, f"`source-directory {pattern}` leads out of "
                                                                 "ROOT — refused, not read"))
                continue
            if not os.path.isdir(directory):
                self.result.reports.append(problem(file, number, f"`source-directory {pattern}`: "
                                                                 "no such directory under ROOT"))
                continue
            found += [os.path.join(directory, name) for name in sorted(os.listdir(directory))
                      if SOURCE_DIRECTORY_NAME.match(name)]
        return found


def _logical_lines(text: str, file: str, reports: list[Report]):
    """(first line number, line) of each non-blank, non-comment line, with
    ``\\`` continuations joined and whitespace trimmed."""
    pending: Optional[tuple[int, str]] = None
    number = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if pending is None and (not stripped or stripped.startswith("#")):
            continue
        if pending is not None:
            start, joined = pending
            stripped = f"{joined} {stripped}".strip()
        else:
            start = number
        if stripped.endswith("\\"):
            pending = (start, stripped[:-1].rstrip())
            continue
        pending = None
        yield start, stripped
    if pending is not None:
        reports.append(problem(file, pending[0], f"`{pending[1]}` ends in `\\` at the end of the file — "
                                                 "the line is cut off mid-command"))
        yield pending

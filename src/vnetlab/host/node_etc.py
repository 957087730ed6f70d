"""Each node's own /etc: ``/etc/netns/<namespace>/``, shown the way ``ip netns exec`` shows it.

``ip netns exec NAME CMD`` bind-mounts every entry of ``/etc/netns/NAME``
over ``/etc/ENTRY`` in the command's private mount namespace; every program
vnetlab runs inside a node (:mod:`vnetlab.host.run`: ``vnetlab exec`` and
``shell``, services, probes) gets the same mounts, so a node has files of its
own at the usual paths while the host's stay as they are. The layout, one
entry per ``/etc`` entry it covers::

    /etc/netns/<lab>-<node>/network/interfaces   the node's persistent network
                                                  configuration (ifupdown syntax)

Other files go beside ``network/`` the same way: ``resolv.conf`` and ``hosts``
for the nodes whose resolver is the lab's DNS (issue 13; a DHCP client's
hook rewrites its ``resolv.conf`` in place from each lease).

A node gets its directory the first time it is needed (``vnetlab exec``,
``shell``, ``reboot``, ``NodeHandle.run`` of the Python API:
:func:`vnetlab.lab.give_node_etc`), not at ``up``: most nodes of a big lab are
never entered, and every directory and file is an inode made at ``up`` and
freed at ``down``. A node without one sees the host's ``/etc``. The nodes
whose resolver is the lab's DNS are the exception: ``up`` gives them theirs,
before the DHCP client that writes its ``resolv.conf`` there starts.

What vnetlab owns here, and only that, it removes:

- the lab's journal records a directory (kind ``etc``) *before* it is made,
  so ``down`` removes it also after ``up`` was killed with SIGKILL;
- each directory carries the mark ``user.vnetlab=<lab>`` (an extended
  attribute, not a file, which ``ip netns exec`` would try to bind over
  ``/etc``). When a host reboot emptied the run directory but not the disk,
  the lab's next run uses a marked directory as it is (its files are the
  node's persistent configuration: a disk survives a reboot) and ``down``
  removes the lab's marked directories; an unmarked directory with a lab
  namespace's name is someone else's and is never used or removed;
- ``/etc/netns`` itself is made when it is missing and removed once it is
  empty again, only if vnetlab made it (a note in the run root says so).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
from typing import Iterator, Mapping, Optional, Protocol

from vnetlab import names
from vnetlab.host import state

ETC = "/etc"
ETC_NETNS = os.environ.get("VNETLAB_ETC_NETNS", "/etc/netns")
MARK = "user.vnetlab"
INTERFACES = "network/interfaces"  # the node's /etc/network/interfaces, relative to its directory
ROOT_NOTE = ".etc-netns-made"  # in the run root: vnetlab made ETC_NETNS, so removes it once empty

ABSENT, OURS, FOREIGN = "absent", "ours", "foreign"


class Recorder(Protocol):
    """Where the write-ahead record goes (the lab's Journal)."""

    def record(self, kind: str, **data: object) -> None:
        """Appends one entry."""


def directory(netns_name: str) -> str:
    """``/etc/netns/<netns_name>``, the name checked first (a lab's namespace name only).

    Raises:
        UnsafeName: ``netns_name`` is not ``<lab>-<node>``.
    """
    lab, node = names.split_namespace(netns_name)
    names.lab_name(lab)
    names.node_name(node)
    return os.path.join(ETC_NETNS, netns_name)


def interfaces_path(netns_name: str) -> str:
    """Where the node's ``/etc/network/interfaces`` is kept on the host."""
    return os.path.join(directory(netns_name), INTERFACES)


def _mark(path: str) -> Optional[str]:
    try:
        return os.getxattr(path, MARK, follow_symlinks=False).decode()
    except OSError:
        return None


def ownership(netns_name: str, lab: str) -> str:
    """Whose ``/etc/netns/<netns_name>`` is: ABSENT, OURS (a directory marked
    as lab ``lab``'s) or FOREIGN (anything else there: a file, a symlink, an
    unmarked directory or another lab's)."""
    path = directory(netns_name)
    if not os.path.lexists(path):
        return ABSENT
    if os.path.islink(path) or not os.path.isdir(path):
        return FOREIGN
    return OURS if _mark(path) == lab else FOREIGN


@contextlib.contextmanager
def _root_locked() -> Iterator[None]:
    """Holds the lock under which entries of ETC_NETNS (and ETC_NETNS itself)
    come and go, so one lab's ``down`` never removes ETC_NETNS under another's
    ``up``: a flock on the run root directory itself (no lock file to leave behind)."""
    os.makedirs(state.RUN_ROOT, mode=0o755, exist_ok=True)
    fd = os.open(state.RUN_ROOT, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _ensure_root() -> None:
    """Makes ETC_NETNS if it is missing, noting first (write-ahead) that vnetlab made it."""
    if os.path.isdir(ETC_NETNS):
        return
    note = os.path.join(state.RUN_ROOT, ROOT_NOTE)
    try:
        with open(note, "w") as handle:
            handle.write(f"{ETC_NETNS} was made by vnetlab; it is removed once no lab has a node in it\n")
    except OSError:  # a full run directory: no note, and so no ETC_NETNS either
        with contextlib.suppress(FileNotFoundError):
            os.unlink(note)
        raise
    try:
        os.mkdir(ETC_NETNS, 0o755)
    except FileExistsError:
        os.unlink(note)  # made by someone else in the meantime: theirs
        raise


def create(lab: str, files: Mapping[str, Mapping[str, str]], journal: Recorder,
           made: Optional[list[str]] = None) -> list[str]:
    """Gives each namespace of ``files`` its directory with those files.

    Args:
        lab: the lab (its name is the directories' mark).
        files: namespace -> {path relative to its directory (e.g.
            :data:`INTERFACES`): text}. A namespace whose directory is
            already ours (marked) is journaled and left as it is: its
            files are what the node keeps.
        journal: the lab's journal; each directory is recorded before it exists.
        made: the list to append each namespace to as its directory is made
            (so a caller knows what was made also when this raises).

    Returns:
        The namespaces whose directory was made now (``made``).

    Raises:
        EnvironmentProblem: a directory of that name exists and is not ours
            (check with :func:`ownership` first to say so before anything changes).
    """
    from vnetlab.errors import EnvironmentProblem

    made = [] if made is None else made
    if not files:
        return made
    with _root_locked():
        _ensure_root()
        for ns, entries in files.items():
            path = directory(ns)
            owner = ownership(ns, lab)
            if owner == FOREIGN:
                raise EnvironmentProblem(_foreign_message(lab, [ns]))
            journal.record("etc", name=ns)  # before it exists: SIGKILL-safe
            if owner == OURS:
                continue  # kept from before (a host reboot emptied the run directory, not the disk)
            try:
                os.mkdir(path, 0o755)
            except FileExistsError:
                journal.record("etc-gone", name=ns)  # made by someone else since we looked: theirs
                raise EnvironmentProblem(_foreign_message(lab, [ns])) from None
            made.append(ns)
            with contextlib.suppress(OSError):  # a file system without user xattrs: the journal alone owns it
                os.setxattr(path, MARK, lab.encode(), follow_symlinks=False)
            for relative, text in entries.items():
                _write(path, relative, text)
    return made


def add_missing(lab: str, files: Mapping[str, Mapping[str, str]]) -> None:
    """Writes each file of ``files`` (namespace -> {relative path: text}) that its
    namespace's directory lacks; a directory that is not the lab's, and every file
    already there (the node's own, perhaps edited), are left as they are."""
    for ns, entries in files.items():
        if ownership(ns, lab) != OURS:
            continue
        base = directory(ns)
        for relative, text in entries.items():
            if not os.path.lexists(os.path.join(base, relative)):
                _write(base, relative, text)


def _write(base: str, relative: str, text: str) -> None:
    target = os.path.normpath(os.path.join(base, relative))
    if not target.startswith(base + os.sep):
        raise ValueError(f"{relative!r} leads out of {base}")
    os.makedirs(os.path.dirname(target), mode=0o755, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def _foreign_message(lab: str, namespaces: list[str]) -> str:
    shown = ", ".join(os.path.join(ETC_NETNS, ns) for ns in namespaces)
    return (f"{shown} already exist{'s' if len(namespaces) == 1 else ''} and {'was' if len(namespaces) == 1 else 'were'}"
            f" not made by lab {lab} — vnetlab keeps each node's own /etc there and never uses or removes "
            "what it did not make: move it away if it is stray, or give the lab another name (lab: in its file)")


def refuse_foreign(lab: str, namespaces: list[str]) -> None:
    """Raises EnvironmentProblem if a directory of one of ``namespaces`` is not ours."""
    from vnetlab.errors import EnvironmentProblem

    foreign = [ns for ns in namespaces if ownership(ns, lab) == FOREIGN]
    if foreign:
        raise EnvironmentProblem(_foreign_message(lab, foreign))


def remove(lab: str, namespaces: list[str], journal: Optional[Recorder] = None) -> list[str]:
    """Removes the directories of ``namespaces`` (journaled as the lab's), and
    ETC_NETNS once it is empty if vnetlab made it; returns those left alone.

    A directory is removed when it is a plain directory that carries the
    lab's mark, or no mark at all where the file system keeps none (the
    journal says it is ours). One marked as another lab's, or a symlink, is
    left alone (and named in the result)."""
    left: list[str] = []
    with _root_locked():
        for ns in namespaces:
            path = directory(ns)
            if not os.path.lexists(path):
                pass
            elif os.path.islink(path) or not os.path.isdir(path) or _mark(path) not in (lab, None):
                left.append(ns)
            else:
                _rmtree(path)
            if journal is not None:
                journal.record("etc-gone", name=ns)
        _remove_root_if_ours()
    return left


def _rmtree(path: str) -> None:
    try:
        shutil.rmtree(path)
    except FileNotFoundError:
        pass


def _remove_root_if_ours() -> None:
    note = os.path.join(state.RUN_ROOT, ROOT_NOTE)
    if not os.path.exists(note):
        return
    try:
        os.rmdir(ETC_NETNS)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return  # another lab's nodes (or the admin's files) are in it
        raise
    os.unlink(note)


def marked(lab: str) -> list[str]:
    """Namespaces ``<lab>-*`` whose directory carries lab ``lab``'s mark."""
    try:
        entries = os.listdir(ETC_NETNS)
    except FileNotFoundError:
        return []
    found = []
    for entry in sorted(entries):
        owner_lab, node = names.split_namespace(entry)
        if owner_lab != lab or not names.NODE_NAME.fullmatch(node):
            continue
        path = os.path.join(ETC_NETNS, entry)
        if not os.path.islink(path) and os.path.isdir(path) and _mark(path) == lab:
            found.append(entry)
    return found


def bind_mounts(netns_name: str) -> list[tuple[str, str]]:
    """``(source, target)`` of each bind mount that shows the node's /etc
    (what ``ip netns exec`` mounts): every entry of its directory over the
    ``/etc`` entry of that name, where one of the same type exists (a mount
    needs a target; vnetlab never creates one in the host's /etc)."""
    try:
        base = directory(netns_name)
        entries = sorted(os.listdir(base))
    except (OSError, ValueError):
        return []
    mounts = []
    for entry in entries:
        source, target = os.path.join(base, entry), os.path.join(ETC, entry)
        if os.path.islink(source) or not os.path.lexists(target):
            continue
        if os.path.isdir(source) == os.path.isdir(target):
            mounts.append((source, target))
    return mounts

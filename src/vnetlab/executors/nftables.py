"""nftables inside lab namespaces: libnftables through ctypes, ``nft`` as fallback.

A libnftables context talks to the kernel over a netlink socket, and a
socket belongs to the namespace it was opened in; so every context is
created, used and freed with the calling thread inside the target namespace
(:func:`vnetlab.host.netns.entered`). Without the library, the ``nft``
program is run inside the namespace instead.

The backend only ever names its own table (``inet vnetlab``); other tools'
tables in the same namespace are never read, changed or deleted.

Why the ``nft -f`` text form is what gets applied: nft up to 1.0.6 ignores
the ``comment`` of a table in JSON input, and the table's comment is where
the digest lives that makes re-applying an unchanged ruleset a no-op. The
text is compiled from the same rules as the JSON (``compile/firewall.py``)
and goes through the same library call, as one atomic transaction.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import re
import shutil
import subprocess
import threading
from typing import Any, Callable, Optional

from vnetlab.errors import EnvironmentProblem
from vnetlab.host import netns
from vnetlab.plan import ApplyRuleset, DeleteRuleset, Op
from vnetlab.plan.firewall import DIGEST_PREFIX, digest_of
from vnetlab.errors import OperationFailed

LIBRARY = "libnftables.so.1"
NFT_CTX_DEFAULT = 0
NFT_CTX_OUTPUT_JSON = 1 << 4
MISSING = "nftables is not installed — apt-get install nftables"
# Our tables only (STYLE.md, "own what you make"); names reach nft unquoted.
TABLE_NAME = re.compile(r"^vnetlab[a-z0-9_]{0,20}$")
FAMILIES = ("inet", "ip", "ip6")
PROGRAM_TIMEOUT = 30  # seconds; nft answers in milliseconds
REPLACE_HEADER = "# one transaction: make sure the table exists, delete it, define it anew\n"


class NftError(OperationFailed, RuntimeError):
    """nft refused a command; the message is nft's own."""


class _Library:
    """The loaded libnftables with its prototypes, or None if absent."""

    _lock = threading.Lock()
    _lib: Optional[ctypes.CDLL] = None
    _tried = False

    @classmethod
    def get(cls) -> Optional[ctypes.CDLL]:
        with cls._lock:
            if not cls._tried:
                cls._tried = True
                cls._lib = cls._load()
            return cls._lib

    @staticmethod
    def _load() -> Optional[ctypes.CDLL]:
        for name in (LIBRARY, ctypes.util.find_library("nftables")):
            if not name:
                continue
            try:
                lib = ctypes.CDLL(name)
            except OSError:
                continue
            lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
            lib.nft_ctx_new.restype = ctypes.c_void_p
            lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_free.restype = None
            lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
            lib.nft_ctx_output_set_flags.restype = None
            for func in (lib.nft_ctx_buffer_output, lib.nft_ctx_buffer_error):
                func.argtypes = [ctypes.c_void_p]
                func.restype = ctypes.c_int
            for func in (lib.nft_ctx_get_output_buffer, lib.nft_ctx_get_error_buffer):
                func.argtypes = [ctypes.c_void_p]
                func.restype = ctypes.c_char_p
            lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
            return lib
        return None


def _environment_problem() -> Exception:
    return EnvironmentProblem(MISSING)


def run_nft(netns_name: str, commands: str) -> str:
    """Runs nft ``commands`` inside ``netns_name``.

    Args:
        netns_name: the namespace whose ruleset is read or changed.
        commands: what ``nft -f`` would read: text, or a libnftables JSON
            document (then listings come back as JSON too, as with ``nft -j``);
            a batch is one transaction.

    Returns:
        What nft printed (listings).

    Raises:
        NftError: nft refused the commands (nothing was changed).
        EnvironmentProblem: neither libnftables nor ``nft`` is installed.
    """
    json_mode = commands.lstrip().startswith("{")
    lib = _Library.get()
    if lib is None:
        return _run_program(netns_name, commands, json_mode)
    with netns.entered(netns_name):
        ctx = lib.nft_ctx_new(NFT_CTX_DEFAULT)
        if not ctx:
            raise NftError("nft_ctx_new failed")
        try:
            lib.nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON if json_mode else 0)
            lib.nft_ctx_buffer_output(ctx)
            lib.nft_ctx_buffer_error(ctx)
            rc = lib.nft_run_cmd_from_buffer(ctx, commands.encode())
            out = (lib.nft_ctx_get_output_buffer(ctx) or b"").decode()
            err = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode()
        finally:
            lib.nft_ctx_free(ctx)
    if rc != 0:
        raise NftError(err.strip() or f"nft failed in {netns_name}")
    return out


def _run_program(netns_name: str, commands: str, json_mode: bool) -> str:
    from vnetlab.host.run import popen

    if shutil.which("nft") is None:
        raise _environment_problem()
    argv = ["nft", *(["-j"] if json_mode else []), "-f", "-"]
    with popen(netns_name, argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
               stderr=subprocess.PIPE, text=True) as proc:
        try:
            out, err = proc.communicate(commands, timeout=PROGRAM_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    if proc.returncode != 0:
        raise NftError(err.strip() or f"nft failed in {netns_name}")
    return out


def available() -> bool:
    """Whether nftables can be used (the library, or at least the program)."""
    return _Library.get() is not None or shutil.which("nft") is not None


class NftBackend:
    """Applies ApplyRuleset and DeleteRuleset ops (the executor contract of
    ``executors/apply.py``: return the inverse, or None if nothing changed)."""

    def __init__(self, runner: Callable[[str, str], str] = run_nft):
        self._run = runner
        self._handlers: dict[type, Callable[[Any], Optional[Op]]] = {
            ApplyRuleset: self._apply,
            DeleteRuleset: self._delete,
        }

    def handles(self, op: Op) -> bool:
        """Whether this backend applies ``op``."""
        return type(op) in self._handlers

    def apply(self, op: Op) -> Optional[Op]:
        """Applies one op; returns its inverse, or None if nothing changed."""
        _check_owned(op.table, op.family)
        if not available():
            raise _environment_problem()
        return self._handlers[type(op)](op)

    def current(self, netns_name: str, table: str = "vnetlab", family: str = "inet") -> Optional[ApplyRuleset]:
        """The table as it runs now, as the op that would restore it; None if absent."""
        _check_owned(table, family)
        listed = _json_list(self._run, netns_name, {"tables": {}})
        present = any(item.get("table", {}).get("name") == table and item["table"].get("family") == family
                      for item in listed.get("nftables", []))
        if not present:
            return None
        text = self._run(netns_name, f"list table {family} {table}")
        content = _json_list(self._run, netns_name, {"table": {"family": family, "name": table}})
        digest = digest_of(text) or ""
        return ApplyRuleset(
            netns_name, table=table, family=family,
            ruleset=json.dumps({"nftables": _replace_commands(content, table, family, digest)}),
            text=f"{REPLACE_HEADER}add table {family} {table}\ndelete table {family} {table}\n{text}",
            digest=digest,
        )

    def _apply(self, op: ApplyRuleset) -> Optional[Op]:
        before = self.current(op.netns, op.table, op.family)
        if before is not None and op.digest and before.digest == op.digest:
            return None
        self._run(op.netns, op.text or op.ruleset)
        return before if before is not None else DeleteRuleset(op.netns, table=op.table, family=op.family)

    def _delete(self, op: DeleteRuleset) -> Optional[Op]:
        before = self.current(op.netns, op.table, op.family)
        if before is None:
            return None
        self._run(op.netns, f"delete table {op.family} {op.table}")
        return before


def _json_list(runner: Callable[[str, str], str], netns_name: str, what: dict) -> dict:
    return json.loads(runner(netns_name, json.dumps({"nftables": [{"list": what}]})) or "{}")


def _check_owned(table: str, family: str) -> None:
    if not TABLE_NAME.match(table) or family not in FAMILIES:
        raise ValueError(f"refusing to touch nft table {family} {table}: vnetlab only manages "
                         "its own tables (named vnetlab...)")


def _replace_commands(listing: dict, table: str, family: str, digest: str) -> list[dict]:
    """libnftables commands that recreate a listed table, replacing what is there.

    Handles are dropped: in an ``add`` they would mean "insert next to rule N".
    """
    ident = {"family": family, "name": table}
    table_entry: dict[str, Any] = dict(ident)
    if digest:
        table_entry["comment"] = DIGEST_PREFIX + digest
    commands: list[dict] = [{"add": {"table": dict(ident)}}, {"delete": {"table": dict(ident)}},
                            {"add": {"table": table_entry}}]
    for item in listing.get("nftables", []):
        for kind, body in item.items():
            if kind in ("metainfo", "table"):
                continue
            commands.append({"add": {kind: {k: v for k, v in body.items() if k != "handle"}}})
    return commands

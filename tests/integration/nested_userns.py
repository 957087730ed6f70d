"""Runs a command as UID inside a user namespace whose user.max_user_namespaces
is 0: ``nested_userns.py UID:GID COMMAND...`` (as root).

The namespace maps root and UID to themselves; its root sets the limit, then
becomes UID and runs COMMAND. Namespace limits hold for every namespace
below, so COMMAND meets exactly what a machine with user namespaces disabled
shows an ordinary user (unshare fails with ENOSPC), without changing the
host's own setting.
"""

import ctypes
import os
import sys

CLONE_NEWUSER = 0x10000000


def main() -> int:
    uid, gid = (int(part) for part in sys.argv[1].split(":"))
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    go_read, go_write = os.pipe()
    ready_read, ready_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(go_write)
        os.close(ready_read)
        if libc.unshare(CLONE_NEWUSER) != 0:
            os._exit(99)
        os.write(ready_write, b"u")
        os.read(go_read, 1)  # the parent wrote the maps
        with open("/proc/sys/user/max_user_namespaces", "w") as handle:
            handle.write("0")
        os.setgid(gid)
        os.setuid(uid)
        os.execvp(sys.argv[2], sys.argv[2:])
    os.close(go_read)
    os.close(ready_write)
    os.read(ready_read, 1)
    with open(f"/proc/{pid}/uid_map", "w") as handle:
        handle.write(f"0 0 1\n{uid} {uid} 1\n")
    with open(f"/proc/{pid}/setgroups", "w") as handle:
        handle.write("deny")
    with open(f"/proc/{pid}/gid_map", "w") as handle:
        handle.write(f"0 0 1\n{gid} {gid} 1\n")
    os.write(go_write, b"g")
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())

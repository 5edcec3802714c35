"""unit_filter.py -- runs a command under the system-call filter a systemd unit file declares.

usage: unit_filter.py UNIT [--action kill] [--forbid CALL]... -- COMMAND ARGS...

The unit's SystemCallFilter= lines are read in order and expanded with
`systemd-analyze syscall-filter` (its groups hold groups), as systemd merges
them: the first line decides the mode (a list of allowed calls, or with `~` a
list of forbidden ones), each later line adds its calls to that list or takes
them out.  A forbidden call fails with the unit's SystemCallErrorNumber= or,
without one, kills the process (SIGSYS), as under systemd.  Then COMMAND is
exec'd with the filter loaded through libseccomp (which also sets
no_new_privs, as NoNewPrivileges=yes does).

--action kill kills on a forbidden call whatever the unit says: a test sees
every call the unit would refuse, even one that would fail softly.
--forbid CALL forbids CALL too: a test of what the daemon does when a call it
makes is refused.

This box has no systemd as PID 1, so `systemd-run -p SystemCallFilter=...`
is not available; the filter is the part of the unit's hardening that decides
whether the daemon can run at all.
"""
import ctypes
import errno
import os
import subprocess
import sys

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_KILL_PROCESS = 0x80000000


def SCMP_ACT_ERRNO(number):
    return 0x00050000 | (number & 0xFFFF)


def groups():
    """{"@name": [member, ...]} from `systemd-analyze syscall-filter` (members may be groups)."""
    text = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True,
                          check=True).stdout
    found, current = {}, None
    for line in text.splitlines():
        word = line.strip()
        if not word or word.startswith("#"):
            continue
        if not line[0].isspace():
            current = found.setdefault(word, [])
        elif current is not None:
            current.append(word)
    return found


def expand(names, table, seen=None):
    seen = set() if seen is None else seen
    calls = set()
    for name in names:
        if name.startswith("@"):
            if name in seen:
                continue
            seen.add(name)
            if name not in table:
                raise SystemExit("unit_filter: unknown group %s" % name)
            calls |= expand(table[name], table, seen)
        else:
            calls.add(name)
    return calls


def unit_filter(unit_path):
    """(allow_list_mode, calls, error_number or None) as the unit declares them."""
    table = groups()
    allow_mode, calls, error_number = None, set(), None
    with open(unit_path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("SystemCallErrorNumber="):
                error_number = getattr(errno, line.split("=", 1)[1].strip())
            if not line.startswith("SystemCallFilter="):
                continue
            value = line.split("=", 1)[1].strip()
            inverted = value.startswith("~")
            listed = expand(value.lstrip("~").split(), table)
            if allow_mode is None:
                allow_mode = not inverted
            # In an allow list, "~" takes calls out; in a deny list, a plain line does.
            if inverted != allow_mode:
                calls |= listed
            else:
                calls -= listed
    if allow_mode is None:
        raise SystemExit("unit_filter: %s has no SystemCallFilter=" % unit_path)
    return allow_mode, calls, error_number


def main(argv):
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1:]
    unit, action_kill, forbid = options[0], False, set()
    i = 1
    while i < len(options):
        if options[i] == "--action" and options[i + 1] == "kill":
            action_kill = True
        elif options[i] == "--forbid":
            forbid.add(options[i + 1])
        else:
            raise SystemExit("unit_filter: unknown option %s" % options[i])
        i += 2
    allow_mode, calls, error_number = unit_filter(unit)
    if os.geteuid() == 0 and "DynamicUser=yes" in open(unit).read().split():
        nobody = 65534
        data = command[command.index("--data") + 1]
        for top, directories, files in os.walk(data):
            for name in [top] + [os.path.join(top, n) for n in directories + files]:
                os.chown(name, nobody, nobody)
        os.setgroups([])
        os.setresgid(nobody, nobody, nobody)
        os.setresuid(nobody, nobody, nobody)
    calls = calls - forbid if allow_mode else calls | forbid
    refuse = SCMP_ACT_KILL_PROCESS if action_kill or error_number is None else SCMP_ACT_ERRNO(error_number)
    lib = ctypes.CDLL("libseccomp.so.2")
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(refuse if allow_mode else SCMP_ACT_ALLOW)
    if not ctx:
        raise SystemExit("unit_filter: seccomp_init failed")
    for name in sorted(calls):
        number = lib.seccomp_syscall_resolve_name(name.encode())
        if number < 0:
            continue    # not a call of this architecture
        rc = lib.seccomp_rule_add(ctx, SCMP_ACT_ALLOW if allow_mode else refuse, number, 0)
        if rc != 0:
            raise SystemExit("unit_filter: seccomp_rule_add %s: %d" % (name, rc))
    rc = lib.seccomp_load(ctx)
    if rc != 0:
        raise SystemExit("unit_filter: seccomp_load: %d" % rc)
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])

"""The bubblewrap (`bwrap`) command line that isolates one sandboxed run at the operating-system level.

The run sees a new root holding only: the interpreter binary, its standard library (site-packages hidden) and
shared libraries (`/usr/lib`, `/usr/lib64`), the guard script, a fresh `/proc` and a minimal `/dev`, and a
private size-limited tmpfs `/work`. Every namespace is new (no network: only a loopback that is down), the
process tree dies with its parent, and it runs in a new session under an unprivileged uid without capabilities.
As root, bwrap runs privileged (no user namespace, so the uid is a real unprivileged uid that RLIMIT_NPROC binds)
and `setpriv` drops to that uid; as another user, a user namespace maps the sandbox uid to that user.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import sysconfig
from pathlib import Path

INSTALL_HINT = (
    "the code sandbox needs bubblewrap (`bwrap`): install it with `apt-get install -y bubblewrap` (Debian/Ubuntu; "
    "`dnf install bubblewrap` on Fedora), or set `scoring.sandbox: guard-only` to accept the weak in-process guard "
    "(UNSAFE for untrusted code)"
)
SETPRIV = "/usr/bin/setpriv"
WORKDIR = "/work"
GUARD_PATH = "/sandbox/guard.py"


class SandboxUnavailable(RuntimeError):
    """The configured isolation cannot run on this machine: a setup problem, never a grade."""


def find_bwrap() -> str:
    found = shutil.which("bwrap")
    if found is None:
        raise SandboxUnavailable(f"bwrap not found on PATH: {INSTALL_HINT}")
    if os.geteuid() == 0 and not os.access(SETPRIV, os.X_OK):
        raise SandboxUnavailable(f"{SETPRIV} (util-linux) is needed to drop root inside the sandbox")
    return found


def sandbox_uid() -> int:
    """A fresh unprivileged uid per run as root, so RLIMIT_NPROC counts only this run's processes."""
    return 200_000 + secrets.randbelow(1 << 20) if os.geteuid() == 0 else 65534


def interpreter_binds() -> list[str]:
    """Host paths to bind read-only: the interpreter, its stdlib, extension modules and libpython."""
    executable = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    stdlib = os.path.dirname(os.__file__)
    paths = [executable, stdlib]
    dynload = sysconfig.get_config_var("DESTSHARED")
    if dynload and os.path.isdir(dynload) and not dynload.startswith(stdlib + os.sep):
        paths.append(dynload)
    libdir, soname = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("INSTSONAME")
    if sysconfig.get_config_var("Py_ENABLE_SHARED") and libdir and soname:
        library = os.path.join(libdir, soname)
        if os.path.exists(library):
            paths.append(os.path.realpath(library))
    return [p for p in paths if not p.startswith(("/usr/lib/", "/usr/lib64/"))]  # those come with /usr/lib


def _ancestors(paths: list[str]) -> list[str]:
    """Directories to create (mode 0755) before binding `paths`, outermost first (/usr is made separately)."""
    seen: list[str] = []
    for path in paths:
        for parent in reversed(Path(path).parents):
            name = str(parent)
            if name not in ("/", "/usr", "/usr/lib", "/usr/lib64") and name not in seen:
                seen.append(name)
    return seen


def bwrap_argv(
    bwrap: str,
    guard: Path,
    program_fds: dict[str, int],
    uid: int,
    workdir_bytes: int,
    env: dict[str, str],
    command: list[str],
) -> list[str]:
    """The bwrap command line; `program_fds` maps a file name in /work to a readable fd copied there."""
    binds = interpreter_binds()
    stdlib = os.path.dirname(os.__file__)
    argv = [bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    argv += ["--die-with-parent", "--new-session", "--hostname", "sandbox", "--clearenv"]
    if os.geteuid() != 0:
        argv += ["--unshare-user", "--uid", str(uid), "--gid", str(uid), "--disable-userns"]
    else:
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    argv += ["--perms", "0755", "--dir", "/usr", "--ro-bind", "/usr/lib", "/usr/lib", "--symlink", "usr/lib", "/lib"]
    if os.path.isdir("/usr/lib64"):
        argv += ["--ro-bind", "/usr/lib64", "/usr/lib64", "--symlink", "usr/lib64", "/lib64"]
    for directory in _ancestors([*binds, GUARD_PATH, SETPRIV]):
        argv += ["--perms", "0755", "--dir", directory]
    for path in binds:
        argv += ["--ro-bind", path, path]
    if os.path.isdir(os.path.join(stdlib, "site-packages")):
        argv += ["--tmpfs", os.path.join(stdlib, "site-packages")]  # third-party packages stay hidden
    argv += ["--ro-bind", str(guard), GUARD_PATH, "--proc", "/proc", "--dev", "/dev"]
    argv += ["--perms", "0777", "--size", str(workdir_bytes), "--tmpfs", WORKDIR]
    argv += ["--perms", "0755", "--size", str(1 << 20), "--tmpfs", "/tmp"]
    for name, fd in program_fds.items():
        argv += ["--perms", "0644", "--file", str(fd), f"{WORKDIR}/{name}"]
    argv += ["--chdir", WORKDIR]
    for key, value in env.items():
        argv += ["--setenv", key, value]
    if os.geteuid() == 0:
        argv += ["--ro-bind", SETPRIV, SETPRIV, "--", SETPRIV, f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
        argv += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    else:
        argv += ["--"]
    executable = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    return [*argv, executable, *command]

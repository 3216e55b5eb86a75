"""What AIB does to the build VM around the customizers: a working `sudo`, then Linux deprovisioning.

AIB's Linux templates run as a sudoer and end with `/tmp/DeprovisioningScript.sh`
(`waagent -force -deprovision+user && export HISTSIZE=0 && sync`). Local builds run as root; an
image without sudo gets a tiny shim for the build only (removed before deprovisioning), and an
image without waagent gets the same cleanup by hand: machine-id, SSH host keys, logs, shell history.
"""

from __future__ import annotations

import subprocess

from aibtrigger.adapters.local.steps import StepFailed, Workspace, run_script

DEPROVISION_PATH = "/tmp/DeprovisioningScript.sh"
DEPROVISION = """#!/bin/sh
# AIB's Linux deprovisioning; without waagent, the same cleanup by hand.
if [ -x /usr/sbin/waagent ]; then
  /usr/sbin/waagent -force -deprovision+user && export HISTSIZE=0 && sync
  exit $?
fi
echo "waagent not found: clearing machine-id, SSH host keys, logs and shell history"
if [ -f /etc/machine-id ]; then : > /etc/machine-id; fi
rm -f /var/lib/dbus/machine-id /etc/ssh/ssh_host_*
if [ -d /var/log ]; then find /var/log -type f | while IFS= read -r log; do : > "$log"; done; fi
rm -f /root/.bash_history /root/.ash_history /root/.sh_history /home/*/.bash_history /home/*/.ash_history
export HISTSIZE=0 && sync
"""

SHIM_MARK = "aibtrigger build-time sudo"
SUDO_SHIM = f"""#!/bin/sh
# {SHIM_MARK}: the local build runs as root already. Removed before the image is captured.
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; break ;;
    -u|-g|-p|-C|-h|-U|-r|-t|-T|-D) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || exit 0
exec env "$@"
"""
ADD_SHIM = 'command -v sudo >/dev/null 2>&1 && exit 0; mkdir -p /usr/local/bin && cat > "$1" && chmod 755 "$1"'
DROP_SHIM = f'if [ -f "$1" ] && grep -q "{SHIM_MARK}" "$1"; then rm -f "$1"; fi'
SHIM_PATH = "/usr/local/bin/sudo"


def add_sudo(ws: Workspace) -> None:
    """A `sudo` for the build when the image has none (AIB's customizers run `sudo ...`)."""
    _quiet(ws, ADD_SHIM, SHIM_PATH, upload=SUDO_SHIM)


def drop_sudo(ws: Workspace) -> None:
    _quiet(ws, DROP_SHIM, SHIM_PATH)


def deprovision(ws: Workspace) -> None:
    """AIB's last step before capture, logged as AIB logs it."""
    script = ws.folder / "DeprovisioningScript.sh"
    script.write_text(DEPROVISION, encoding="utf-8")
    ws.log.ui("(telemetry) Starting provisioner shell")
    run_script(script, DEPROVISION_PATH, ws, shown_as=DEPROVISION_PATH)
    ws.log.ui("(telemetry) ending shell")


def _quiet(ws: Workspace, script: str, *args: str, upload: str = "") -> None:
    result = subprocess.run(
        ws.sandbox.shell(script, *args), input=upload.encode(), capture_output=True, env={}, timeout=60
    )
    if result.returncode != 0:
        raise StepFailed(f"preparing the build VM failed: {result.stderr.decode(errors='replace').strip()[:300]}")

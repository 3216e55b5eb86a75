"""A post-build check's command run in a staged version's captured image (local backend only).

The version's root filesystem is unpacked into a scratch folder and the command runs there as root,
in the same Linux namespaces as a build's steps (adapters.local.sandbox), offline: a check looks at
the image, it does not fetch. Never on the host: without namespaces the check fails and says why.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

_TAIL = 600  # characters of output kept as the check's detail


class ImageCommands:
    def __init__(self, gallery, workdir: Path) -> None:
        self._gallery = gallery
        self._workdir = workdir

    def __call__(self, version_id: str, command: str, timeout: float) -> tuple[bool, str]:
        from aibtrigger.adapters.local.rootfs import unpack
        from aibtrigger.adapters.local.sandbox import Sandbox, SandboxError, require_namespaces

        self._workdir.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="check-", dir=self._workdir))
        try:
            require_namespaces()
            root = unpack(self._gallery.download(version_id, scratch / "artifact"), scratch / "root")
            result = subprocess.run(
                Sandbox(root, network=False).shell(command),
                env={},
                capture_output=True,
                timeout=timeout,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired:
            return False, f"`{command}` did not finish within {timeout:g} s"
        except (SandboxError, LookupError, OSError) as exc:
            return False, f"`{command}` could not run in {version_id}: {exc}"
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        output = (result.stdout + result.stderr).decode("utf-8", "replace").strip()
        tail = output[-_TAIL:] if output else "no output"
        return result.returncode == 0, f"`{command}` exited {result.returncode}: {tail}"

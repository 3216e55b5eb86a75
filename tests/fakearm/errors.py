"""ARM error bodies as AIB and ARM send them, in the three shapes seen in the wild."""

from __future__ import annotations

import json


class ArmError(Exception):
    def __init__(self, status: int, code: str, message: str, *, style: str = "wrapped") -> None:
        super().__init__(f"{status} {code}")
        self.status, self.code, self.message, self.style = status, code, message, style

    def body(self) -> dict:
        inner = {"code": self.code, "message": self.message}
        if self.style == "unwrapped":  # API versions before 2021-10-01
            return inner
        if self.style == "nested":  # a deployment error with the real one as JSON inside a message
            wrapped = json.dumps(
                {
                    "status": "Failed",
                    "error": {
                        "code": "ResourceDeploymentFailure",
                        "message": "The resource operation completed with terminal provisioning state 'Failed'.",
                        "details": [inner],
                    },
                }
            )
            return {
                "error": {
                    "code": "DeploymentFailed",
                    "message": "At least one resource deployment operation "
                    "failed. Please list deployment operations for details.",
                    "details": [{"code": "ResourceDeploymentFailure", "message": wrapped}],
                }
            }
        return {"error": inner}

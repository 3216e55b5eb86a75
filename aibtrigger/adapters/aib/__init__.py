"""The `aib` backend: Azure VM Image Builder through the Azure SDKs.

Nothing here is imported until bootstrap asks for it; SDK modules are imported inside functions.
Every Azure SDK error is translated in `errors.py`; none leaves this package.
"""

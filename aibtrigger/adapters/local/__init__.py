"""The local build backend: a full build, locally, on Azurite blob storage.

- LocalMarketplace: platform image versions (publishing one simulates a marketplace patch)
- LocalGallery: gallery image versions with their lineage (a new one can emit the Event Grid event)
- LocalBackend: the ImageBackend port; each run is a detached `python -m aibtrigger.adapters.local.builder`

Imports are lazy so `import aibtrigger.adapters.local` costs nothing until a class is used.
"""
from __future__ import annotations

__all__ = ["LocalBackend", "LocalGallery", "LocalMarketplace", "version_key"]


def __getattr__(name: str):
    if name == "LocalBackend":
        from aibtrigger.adapters.local.backend import LocalBackend
        return LocalBackend
    if name == "LocalGallery":
        from aibtrigger.adapters.local.gallery import LocalGallery
        return LocalGallery
    if name == "LocalMarketplace":
        from aibtrigger.adapters.local.marketplace import LocalMarketplace
        return LocalMarketplace
    if name == "version_key":
        from aibtrigger.adapters.local.layout import version_key
        return version_key
    raise AttributeError(name)

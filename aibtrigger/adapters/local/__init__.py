"""The local build backend: a full build, locally, on Azurite blob storage.

- marketplace.LocalMarketplace: platform image versions (publishing one simulates a marketplace patch)
- gallery.LocalGallery: gallery image versions with their lineage (a new one emits the Event Grid event)
- backend.LocalBackend: the ImageBackend port; each run is a detached `python -m aibtrigger.adapters.local.builder`
"""

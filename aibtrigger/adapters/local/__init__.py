"""The local build backend: a full build, locally, on Azurite blob storage.

- marketplace.LocalMarketplace: platform image versions (publishing one simulates a marketplace patch)
- gallery.LocalGallery: gallery image versions with their lineage (a new one emits the Event Grid event)
- backend.LocalBackend: the ImageBackend port; each run is a detached `python -m aibtrigger.adapters.local.builder`
- images: the base root filesystems (Debian minbase by debootstrap, busybox), made once per machine
- sandbox, sandbox_init: a build's scripts run inside the image, in their own Linux namespaces
- steps, generalize, capture: customizers and validators, deprovisioning, the captured artifacts
- trial: `aibtrigger try NAME`
"""

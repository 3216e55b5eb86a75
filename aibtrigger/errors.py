"""Every error the service raises on purpose. Adapters translate SDK errors into these."""


class AibTriggerError(Exception):
    """Base of all the service's own errors."""


class ConfigError(AibTriggerError):
    """A setting is missing or wrong; the message names the variable."""


class CatalogError(AibTriggerError):
    """The catalog file is invalid; the message names the entry and field."""


class RejectedMessageError(AibTriggerError):
    """A message that can never succeed (malformed, unknown template). Kept, never retried."""


class UnknownTemplateError(RejectedMessageError):
    """A message names a template that is not in the catalog."""


class BackendError(AibTriggerError):
    """The build backend failed in a way worth retrying later."""


class BuildAlreadyActiveError(BackendError):
    """The backend refused Run because a build is active or canceling (AIB: OperationNotAllowed)."""


class TemplateNotFoundError(BackendError):
    """The backend has no such template (AIB: 404 on the image template)."""


class ConcurrencyError(AibTriggerError):
    """A conditional write lost a race (ETag mismatch or entity already exists)."""


class StorageError(AibTriggerError):
    """State, queue or blob storage failed; the operation may be retried."""


class NoGalleryImagesError(AibTriggerError):
    """A template has no gallery image to look at: no SharedImage target, or no known definition."""


def first_line(exc: BaseException) -> str:
    """An SDK error's first line, with keys, SAS signatures and tokens masked: safe to log and record."""
    from aibtrigger.domain.logexcerpt import redact

    text = str(exc)
    return redact(text.splitlines()[0]) if text else ""

"""One error base class for everything this library reports to a person.

Every failure that a user can cause — a bad file, a wrong key, a GPU that is
gone — is raised as an :class:`AttestError` subclass whose message is written
for the person who ran the command. The CLI catches this one type and prints
:meth:`AttestError.diagnostics`, so no traceback ever reaches a user. Errors
are grouped by origin: input, keys, trust, envelopes, hardware.
"""

from __future__ import annotations

from attest.units import human_size


class AttestError(Exception):
    """Base class of every error this library raises on purpose.

    Args:
        message: what went wrong, in one sentence a user can act on.
        hint: optionally, what to do about it.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def diagnostics(self) -> str:
        """Return the message (and hint) as shown to a person on stderr."""
        text = f"error: {self.message}"
        if self.hint:
            text += f"\nhint: {self.hint}"
        return text


class InputError(AttestError):
    """A file or argument could not be read or does not have the expected shape."""


class InputTooLarge(InputError):
    """An input is over the size limit for what it is: refused whole, no prefix of it used.

    Attributes:
        size: its size in bytes (a lower bound when ``exact`` is False: a stream read no further).
        limit: the limit it is over, in bytes.
    """

    def __init__(
        self, what: str, size: int, limit: int, *, exact: bool = True, hint: str | None = None
    ) -> None:
        said = human_size(size) if exact else f"more than {human_size(size)}"
        super().__init__(
            f"{what} is {said}, over the limit of {human_size(limit)}; nothing of it was used", hint=hint
        )
        self.size = size
        self.limit = limit
        self.exact = exact


class Unreachable(InputError):
    """A remote service could not be reached (a network error): nothing is known about what it would say."""


class KeyFileError(AttestError):
    """A key file is missing, malformed, of an unsupported kind or unsafely readable."""


class TrustStoreError(AttestError):
    """The trust store file is unreadable, malformed or asked for an impossible change."""


class EnvelopeError(AttestError):
    """An envelope is not a well-formed DSSE envelope of the expected type.

    Attributes:
        rule: the stable rule id of the finding this error becomes in a result.
    """

    def __init__(self, message: str, *, rule: str = "envelope.malformed", hint: str | None = None):
        super().__init__(message, hint=hint)
        self.rule = rule


class SignatureError(AttestError):
    """A signature does not verify."""


class HardwareError(AttestError):
    """GPU identity could not be read (no driver, no permission, GPU lost, ...)."""


class StoreError(InputError):
    """A database behind a store could not be read or written: locked, full, read-only, damaged or gone.

    Raised by every store (:class:`attest.storage.DatabaseStore`) in place of its driver's own
    error. It says nothing about the envelope being judged: a verifier whose state cannot be
    read raises it rather than turn it into a verdict.
    """

    @classmethod
    def from_driver(cls, store: str, where: str, exc: BaseException) -> StoreError:
        """The error a person reads for a driver's ``exc`` raised by ``store`` at ``where``."""
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        text = detail.lower()
        at = f" ({where})" if where else ""
        for needle, what, hint in _DRIVER_ERRORS:
            if needle in text:
                return cls(f"{store}{at} {what}: {detail}", hint=hint)
        return cls(f"{store}{at} could not be read or written: {detail}")


_DRIVER_ERRORS = (
    ("locked", "is locked by another process", "wait for the other process, or stop it, and run again"),
    ("busy", "is locked by another process", "wait for the other process, or stop it, and run again"),
    ("readonly", "is read-only", "make the file and its directory writable by this user"),
    ("read-only", "is read-only", "make the file and its directory writable by this user"),
    ("full", "cannot be written: the disk is full", "free space on its file system and run again"),
    ("not a database", "is not a database file", "check the path; restore the file from a backup"),
    ("malformed", "is damaged", "restore it from a backup"),
    ("unable to open", "cannot be opened", "check that the path and its directory exist and are writable"),
    ("connection", "lost its database connection", "check the database server and run again"),
    ("server closed", "lost its database connection", "check the database server and run again"),
    ("terminating", "lost its database connection", "check the database server and run again"),
)

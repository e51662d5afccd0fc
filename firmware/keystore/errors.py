"""Keystore failures, each with a message that says what to do."""


class KeystoreError(Exception):
    """Base of every keystore failure."""


class NotInitialised(KeystoreError):
    """No KEK has been made yet (the first unlock or import with a passphrase makes one)."""


class WrongPassphrase(KeystoreError):
    """The passphrase does not unwrap the KEK."""


class TpmError(KeystoreError):
    """No TPM, a TPM command failed, or the TPM refused to unseal (cleared or replaced)."""

"""The one error the update engine raises: a refusal with a short machine-readable reason."""

from __future__ import annotations

from appliance.errors import GapscanError

#: Every reason code a refusal may carry (the UI and the audit log show them; tests assert them).
REASONS = frozenset({
    "not-a-file", "read-error", "too-large", "truncated", "malformed", "unexpected-data",
    "missing-signature", "bad-signature", "unknown-key", "revoked-key", "dev-key", "below-threshold",
    "wrong-role", "wrong-product", "wrong-kind", "unsafe-member", "hash-mismatch", "malformed-member",
    "rollback", "wrong-base", "pending-confirmation", "no-trust-root", "store-locked",
    "install-failed",
})


class BundleRefused(GapscanError):
    """A bundle was refused; nothing was installed. ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, message: str, *, bundle: str | None = None) -> None:
        assert reason in REASONS, reason
        self.reason = reason
        self.detail = message
        self.bundle = bundle
        self.context: dict[str, object] = {}  # what was known when refused: keyids, kind, version (for audit)
        where = f"bundle {bundle}: " if bundle else ""
        super().__init__(f"{where}refused ({reason}): {message}")

    def for_bundle(self, bundle: str) -> BundleRefused:
        if self.bundle:
            return self
        out = BundleRefused(self.reason, self.detail, bundle=bundle)
        out.context = self.context
        return out

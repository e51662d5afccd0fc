"""Signed update bundles: verify against the pinned trust root, never roll back, install atomically.

Public API (see /work/briefs/INTERFACES.md "Signed bundles"): :func:`verify_bundle`, :func:`apply_bundle`,
:class:`VerifiedBundle`, :class:`ApplyResult`, :class:`BundleRefused`, and for software slots
:func:`boot`, :func:`mark_good`, :func:`load_slots`.
"""

from appliance.update.apply import ApplyResult, apply_bundle
from appliance.update.errors import BundleRefused
from appliance.update.software import boot, load_slots, mark_good
from appliance.update.state import effective_now, is_production, provision_root
from appliance.update.verify import VerifiedBundle, verify_bundle

__all__ = ["ApplyResult", "BundleRefused", "VerifiedBundle", "apply_bundle", "boot", "effective_now",
           "is_production", "load_slots", "mark_good", "provision_root", "verify_bundle"]

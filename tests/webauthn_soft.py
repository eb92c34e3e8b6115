"""A software authenticator: real keys, CBOR and signatures, shaped as PublicKeyCredential.toJSON().

It answers the options our server hands out as a browser with a platform
authenticator would, so the server's WebAuthn checks run for real without a
browser. tests/browser/test_passkeys.py drives Chromium's own virtual
authenticator through the pages.
"""

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftAuthenticator:
    """One device holding passkeys for one origin."""

    origin: str = "http://localhost:5000"
    rp_id: str = "localhost"
    user_verified: bool = True
    keys: dict = field(default_factory=dict)  # credential id → (private key, user handle, count)

    def _client_data(self, kind: str, challenge: str, origin: str | None = None) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin or self.origin},
            separators=(",", ":"),
        ).encode()

    def _flags(self, extra: int = 0) -> int:
        return UP | (UV if self.user_verified else 0) | extra

    def create(
        self,
        options: dict,
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        reuse: bytes | None = None,
    ) -> dict:
        """The answer to ``navigator.credentials.create()`` for these options.

        ``reuse`` is the id of a credential this device already holds: it is
        attested again (as a copied key would be) instead of a new one made.
        """
        if reuse is None:
            key = ec.generate_private_key(ec.SECP256R1())
            credential_id = secrets.token_bytes(32)
        else:
            key, credential_id = self.keys[reuse][0], reuse
        numbers = key.public_key().public_numbers()
        cose = {
            1: 2,
            3: -7,
            -1: 1,
            -2: numbers.x.to_bytes(32, "big"),
            -3: numbers.y.to_bytes(32, "big"),
        }
        rp_hash = hashlib.sha256((rp_id or options["rp"]["id"]).encode()).digest()
        attested = (
            bytes(16) + len(credential_id).to_bytes(2, "big") + credential_id + cbor2.dumps(cose)
        )
        auth_data = rp_hash + bytes([self._flags(AT)]) + (0).to_bytes(4, "big") + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        self.keys[credential_id] = [key, unb64url(options["user"]["id"]), 0]
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return {
            "id": b64url(credential_id),
            "rawId": b64url(credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options: dict,
        credential_id: bytes | None = None,
        *,
        origin: str | None = None,
        count: int | None = None,
    ) -> dict:
        """The answer to ``navigator.credentials.get()``: signed with ``credential_id``'s key."""
        allowed = [unb64url(c["id"]) for c in options.get("allowCredentials") or []]
        if credential_id is None:
            credential_id = next(c for c in self.keys if not allowed or c in allowed)
        key, handle, last = self.keys[credential_id]
        count = last + 1 if count is None else count
        self.keys[credential_id][2] = count
        rp_hash = hashlib.sha256(options["rpId"].encode()).digest()
        auth_data = rp_hash + bytes([self._flags()]) + count.to_bytes(4, "big")
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signature = key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url(credential_id),
            "rawId": b64url(credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

"""CDS Hooks 2.0 security: the CDS client's signed JWT on every call.

The client sends ``Authorization: Bearer <JWT>``, signed with a key it publishes at a JWKS
URL. The service trusts the issuers it is configured with (``--cds-issuer ISS=JWKS_URL``),
each with its own JWKS URL (never a ``jku`` from the token), and checks: the signature (the
key by ``kid``, asymmetric algorithms only), ``iss`` trusted, ``aud`` the URL called (the
service endpoint, or the discovery base ``.../cds-services``), ``exp`` present and not past
(at most ``MAX_LIFETIME`` ahead), ``jti`` present and never seen before while the token is
alive (replays refused). Seen ``jti``s live in this process: with ``--workers`` above 1 a
replay sent to another worker is not caught (the token still expires within 5 minutes).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import jwt

ALGORITHMS = ["ES384", "RS384", "ES256", "RS256", "ES512", "RS512", "PS384", "PS256"]
MAX_LIFETIME = 300.0  # seconds: CDS Hooks asks for exp at most 5 minutes ahead
LEEWAY = 30.0


class TokenRefused(Exception):
    """The JWT is not acceptable; the message says why (no token content in it)."""


@dataclass
class SeenTokens:
    """``jti`` values seen, each kept until its token expires."""

    _seen: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def first_use(self, key: str, expires: float) -> bool:
        now = time.time()
        with self._lock:
            if len(self._seen) > 1000:
                for old in [k for k, exp in self._seen.items() if exp + LEEWAY < now]:
                    del self._seen[old]
            if key in self._seen and self._seen[key] + LEEWAY >= now:
                return False
            self._seen[key] = expires
            return True


class CdsTokenVerifier:
    """Verifies CDS clients' JWTs against trusted issuers and their JWKS URLs."""

    def __init__(self, issuers: dict[str, str]) -> None:
        self.clients = {iss: jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)
                        for iss, url in issuers.items()}
        self.seen = SeenTokens()

    def verify(self, token: str, audiences: list[str]) -> str:
        """The issuer of a good token; ``TokenRefused`` otherwise."""
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRefused("the bearer token is not a JWT") from None
        issuer = unverified.get("iss")
        client = self.clients.get(issuer) if isinstance(issuer, str) else None
        if client is None:
            raise TokenRefused("the JWT's issuer is not trusted (--cds-issuer)")
        if header.get("alg") not in ALGORITHMS:
            raise TokenRefused(f"the JWT's algorithm is not accepted (one of "
                               f"{', '.join(ALGORITHMS)})")
        try:
            key = client.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientError as exc:
            raise TokenRefused(f"the JWT's signing key was not found at the issuer's JWKS "
                               f"URL ({exc})") from None
        try:
            claims = jwt.decode(token, key.key, algorithms=ALGORITHMS, audience=audiences,
                                issuer=issuer, leeway=LEEWAY,
                                options={"require": ["iss", "aud", "exp", "jti"]})
        except jwt.InvalidAudienceError:
            raise TokenRefused("the JWT's aud is not this service's URL") from None
        except jwt.ExpiredSignatureError:
            raise TokenRefused("the JWT has expired") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRefused(f"the JWT has no {exc.claim}") from None
        except jwt.PyJWTError as exc:
            raise TokenRefused(f"the JWT does not verify ({type(exc).__name__})") from None
        expires = float(claims["exp"])
        if expires - time.time() > MAX_LIFETIME + LEEWAY:
            raise TokenRefused("the JWT's exp is more than 5 minutes ahead")
        if not self.seen.first_use(f"{issuer}|{claims['jti']}", expires):
            raise TokenRefused("the JWT was already used (jti replayed)")
        return issuer

// An independent OAuth client from another ecosystem: panva's openid-client (v6, Node)
// authenticates with private_key_jwt and runs client_credentials, then introspects and
// revokes the token it got with the same client authentication. Run by
// tests/e2e/test_openid_client_interop.py against a served Appward.
//
// env: ISSUER (the server's issuer identifier: discovery reads its RFC 8414 metadata from
//      there), CLIENT_ID, PRIVATE_JWK (the client's private JWK, with kid and alg),
//      SCOPE (optional).
// Prints one JSON line: {"token": {...}, "introspection": {...}, "after_revocation": {...}}
// or, when the server refuses, {"error": "...", "status": 401, "description": "..."}.
import * as client from 'openid-client';

const ALGORITHMS = {
  ES256: { name: 'ECDSA', namedCurve: 'P-256' },
  RS256: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  PS256: { name: 'RSA-PSS', hash: 'SHA-256' },
};

const jwk = JSON.parse(process.env.PRIVATE_JWK);
const key = await crypto.subtle.importKey('jwk', jwk, ALGORITHMS[jwk.alg], false, ['sign']);
try {
  const config = await client.discovery(
    new URL(process.env.ISSUER),
    process.env.CLIENT_ID,
    undefined,
    client.PrivateKeyJwt({ key, kid: jwk.kid }),
    // A loopback test server speaks http; RFC 8414 metadata, not OpenID Connect's.
    { execute: [client.allowInsecureRequests], algorithm: 'oauth2' },
  );
  const parameters = process.env.SCOPE ? { scope: process.env.SCOPE } : {};
  const token = await client.clientCredentialsGrant(config, parameters);
  const introspection = await client.tokenIntrospection(config, token.access_token);
  await client.tokenRevocation(config, token.access_token);
  const afterRevocation = await client.tokenIntrospection(config, token.access_token);
  console.log(JSON.stringify({ token, introspection, after_revocation: afterRevocation }));
} catch (err) {
  if (err instanceof client.ResponseBodyError) {
    console.log(JSON.stringify({ error: err.error, status: err.status, description: err.error_description }));
  } else {
    throw err;
  }
}

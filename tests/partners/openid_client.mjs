// An outside client of the hub: the npm package `openid-client` (v6) discovers the authorization
// server (RFC 8414), gets a token with the client credentials grant and `private_key_jwt`, and
// calls the API: who am I, and a partner speaker search with a purpose and a member of staff.
//
//   node tests/partners/openid_client.mjs <issuer> <client_id> <private JWK json> \
//        [bearer|dpop] [on-behalf-of]
//
// Prints one JSON object; exits non-zero (with the error on stderr) if anything fails.

import * as client from 'openid-client';

const [issuer, clientId, jwkJson, mode = 'bearer', onBehalfOf = 'staff-node-1'] =
  process.argv.slice(2);
if (!issuer || !clientId || !jwkJson) {
  console.error('usage: openid_client.mjs <issuer> <client_id> <JWK json> [bearer|dpop] [staff]');
  process.exit(2);
}

const jwk = JSON.parse(jwkJson);
const algorithm = jwk.kty === 'OKP' ? { name: 'Ed25519' } : { name: 'ECDSA', namedCurve: 'P-256' };
const { kid, ...material } = jwk;
const privateKey = await crypto.subtle.importKey('jwk', material, algorithm, false, ['sign']);

const config = await client.discovery(
  new URL(issuer),
  clientId,
  undefined,
  client.PrivateKeyJwt({ key: privateKey, kid }),
  // The hub publishes RFC 8414 metadata, not OpenID Connect's; tests serve it on http loopback.
  { algorithm: 'oauth2', execute: [client.allowInsecureRequests] },
);

const options = {};
if (mode === 'dpop') {
  options.DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
}

const tokens = await client.clientCredentialsGrant(config, { scope: 'speakers:read' }, options);

async function call(path, headers = {}) {
  const response = await client.fetchProtectedResource(
    config,
    tokens.access_token,
    new URL(path, issuer),
    'GET',
    undefined,
    new Headers(headers),
    options,
  );
  return { status: response.status, type: response.headers.get('content-type'), body: await response.json() };
}

const me = await call('/api/v1/me');
const search = await call('/api/v1/shared/speakers?q=Ember%20Quillfeather', {
  'Hub-Purpose': 'speaker_due_diligence',
  'Hub-On-Behalf-Of': onBehalfOf,
});
const noPurpose = await call('/api/v1/shared/speakers?q=Ember', { 'Hub-On-Behalf-Of': onBehalfOf });

console.log(
  JSON.stringify({
    issuer: config.serverMetadata().issuer,
    token_type: tokens.token_type,
    expires_in: tokens.expires_in,
    scope: tokens.scope,
    refresh_token: tokens.refresh_token ?? null,
    me,
    search,
    no_purpose: noPurpose,
  }),
);

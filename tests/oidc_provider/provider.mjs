// A real OpenID provider for the hub's tests: the npm package `oidc-provider` (v8) on loopback.
//
//   node tests/oidc_provider/provider.mjs '<config JSON>'
//
// config: {
//   "port": 0,                                  // 0: any free port
//   "clients": [{"client_id", "client_secret" | "jwks", "redirect_uris",
//                "token_endpoint_auth_method"}],
//   "accounts": {"<id>": {"email", "password", "name", "amr": [...], "groups": [...],
//                         "email_verified": true, "id_token_ttl": 600}},
//   "jwks": {"keys": [<private JWK>]}           // optional: share signing keys between instances
// }
//
// Prints one line of JSON, {"issuer": "http://127.0.0.1:<port>"}, once it listens. The login
// page is deliberately minimal (email and password) so tests can complete it over plain HTTP
// or in a browser; each account's `amr` is what its ID tokens assert, and its `id_token_ttl`
// (seconds, negative for an already expired token) how long they live. Consent is implied
// (the hub is a first-party client), so there is no consent page. PKCE (S256) is required.

import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

const config = JSON.parse(process.argv[2] || '{}');
const accounts = config.accounts || {};
const byEmail = new Map(Object.entries(accounts).map(([id, a]) => [a.email.toLowerCase(), id]));

function signingKeys() {
  if (config.jwks) return config.jwks;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' }] };
}

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function loginPage(uid, error = '', email = '') {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Test provider sign-in</title></head>
<body><main><h1>Test provider sign-in</h1>
${error ? `<p role="alert" id="error">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label for="login">Email address</label> <input id="login" name="login" type="email" value="${escape(email)}" autocomplete="username">
<label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password">
<button type="submit">Sign in</button>
</form></main></body></html>`;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

let provider;
let handler;

const server = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, 'http://localhost');
    const match = url.pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
    if (!match) {
      handler(req, res);
      return;
    }
    const details = await provider.interactionDetails(req, res);
    if (details.prompt.name !== 'login') {
      res.writeHead(501).end('only the login prompt is implemented');
      return;
    }
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(loginPage(details.uid, '', details.params.login_hint || ''));
      return;
    }
    const form = await readForm(req);
    const email = (form.get('login') || '').trim().toLowerCase();
    const accountId = byEmail.get(email);
    const account = accountId && accounts[accountId];
    if (!account || (account.password || 'password') !== form.get('password')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(loginPage(details.uid, 'Unknown email address or wrong password.', email));
      return;
    }
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId, amr: account.amr || ['pwd'], acr: 'urn:test:loa:1' } },
      { mergeWithLastSubmission: false },
    );
  } catch (error) {
    res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
  }
});

server.listen(config.port || 0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  provider = new Provider(issuer, {
    clients: (config.clients || []).map((client) => ({
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      ...client,
    })),
    jwks: signingKeys(),
    cookies: { keys: [randomBytes(16).toString('hex')] },
    claims: {
      // amr (and acr) in every ID token, as Entra ID and Shibboleth send them
      openid: ['sub', 'amr', 'acr'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name'],
      groups: ['groups'],
    },
    scopes: ['openid', 'email', 'profile', 'groups'],
    // Entra ID, Google and Shibboleth put the email in the ID token; so does this provider.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { methods: ['S256'], required: () => true },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 120,
      Grant: 3600,
      Interaction: 600,
      Session: 3600,
      IdToken: (ctx, token) => accounts[token.available?.sub]?.id_token_ttl ?? 600,
    },
    async findAccount(ctx, id) {
      const account = accounts[id];
      if (!account) return undefined;
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            email: account.email,
            email_verified: account.email_verified ?? true,
            name: account.name || account.email,
            groups: account.groups || [],
          };
        },
      };
    },
    // The hub is a first-party client: consent is implied, so no consent page.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email profile groups');
      grant.addOIDCClaims(['email', 'email_verified', 'name', 'groups']);
      await grant.save();
      return grant;
    },
    renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = `<!DOCTYPE html><html lang="en"><head><title>Error</title></head><body><main><h1>Error</h1><p id="error">${escape(out.error)}: ${escape(out.error_description || '')}</p></main></body></html>`;
    },
  });
  handler = provider.callback();
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}

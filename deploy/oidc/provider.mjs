// A local OpenID Connect provider for soc's sign-in tests: the OpenID-certified
// `oidc-provider` with one confidential client ("soc", code flow with PKCE), the test users of
// users.json (their `groups` claim is what soc maps to roles) and its development login form
// (any password; the login name picks the user). Loopback only.
//   OIDC_PORT (9400)          where it listens (issuer http://127.0.0.1:PORT)
//   OIDC_STATE_DIR (required) where its signing key is kept, so a restart keeps the JWKS
//   OIDC_CLIENT_SECRET        the soc client's secret (default soc-test-secret)
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Provider, { interactionPolicy } from 'oidc-provider';

const here = path.dirname(new URL(import.meta.url).pathname);
const port = Number(process.env.OIDC_PORT || 9400);
const stateDir = process.env.OIDC_STATE_DIR;
if (!stateDir) throw new Error('OIDC_STATE_DIR is required');
const users = JSON.parse(fs.readFileSync(path.join(here, 'users.json'), 'utf8'));

function signingKeys() {
  const file = path.join(stateDir, 'jwks.json');
  if (!fs.existsSync(file)) {
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };
    fs.mkdirSync(stateDir, { recursive: true });
    fs.writeFileSync(file, JSON.stringify({ keys: [jwk] }), { mode: 0o600 });
  }
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

// The provider asks native clients for consent on every sign-in; soc is first party (its
// grants come from loadExistingGrant below), so the login form is the only interaction.
const policy = interactionPolicy.base();
policy.get('consent').checks.remove('native_client_prompt');

const configuration = {
  clients: [{
    client_id: 'soc',
    client_secret: process.env.OIDC_CLIENT_SECRET || 'soc-test-secret',
    // "native": loopback redirect URIs match on any port (RFC 8252), so every test server,
    // on its own free port, can use this one client.
    application_type: 'native',
    redirect_uris: ['http://127.0.0.1/oidc/testidp/callback'],
    post_logout_redirect_uris: ['http://127.0.0.1/'],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  scopes: ['openid', 'profile', 'email', 'groups'],
  // The claims of the granted scopes go into the ID token itself (soc reads them from there).
  conformIdTokenClaims: false,
  async findAccount(ctx, id) {
    const user = users[id];
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, email_verified: true, ...user };
      },
    };
  },
  // soc is a first-party client: no consent screen, every requested scope granted.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(String(ctx.oidc.params.scope || 'openid'));
    await grant.save();
    return grant;
  },
  interactions: { policy },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  jwks: signingKeys(),
  cookies: { keys: [crypto.createHash('sha256').update(`${stateDir}:cookies`).digest('hex')] },
};

const provider = new Provider(`http://127.0.0.1:${port}`, configuration);
provider.on('server_error', (ctx, error) => console.error('server_error', error));
provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on http://127.0.0.1:${port}`);
});

// The peer that `python -m bench` measures beside Sésame: one oidc-provider process (no cluster)
// configured like Sésame — one confidential client, the same grants, rotating refresh tokens,
// introspection, userinfo, signed JWT access tokens (RFC 9068) — and seeded with tokens for the
// scenarios the bench replays.  bench/peer.py copies this file and package.json into
// bench/.peer/, runs `npm install` there and starts `node server.mjs <port>` from there.
//
// Environment:
//   PEER_PORT        port when none is given as the first argument
//   PEER_AT_FORMAT   jwt (default) or opaque: the format of the access tokens of urn:bench:api
//   PEER_AT_ALG      RS256 (default) or ES256: the signature of the JWT access tokens
//   PEER_SEED        how many refresh tokens, access tokens and userinfo tokens to mint (2000)
//   PEER_REFRESH_ID_TOKEN  1 (default): the seeded refresh tokens have the openid scope, so each
//                    refresh answer also carries an ID token, as oidc-provider always does then;
//                    0: they have "email profile" only, so a refresh answer has no ID token, like
//                    Sésame's (whose refresh grant never issues one)
//   PEER_SEED_FILE   when set, the whole ready object (with the tokens) is written to this file
//                    and the stdout line carries everything but the three token lists
//
// stdout carries exactly one line, the ready line (JSON); everything else goes to stderr, and
// nothing logs requests.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';

// oidc-provider prints its notices with console.info: send every console line to stderr so that
// stdout stays the ready line alone.  The library is imported only after this.
const printReady = (line) => process.stdout.write(`${line}\n`);
console.log = console.error;
console.info = console.error;
console.debug = console.error;

function fail(message) {
  console.error(`peer: ${message}`);
  process.exit(2);
}

const portText = process.argv[2] ?? process.env.PEER_PORT;
const port = Number(portText);
if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`bad port ${JSON.stringify(portText)}`);

const atFormat = process.env.PEER_AT_FORMAT || 'jwt';
if (!['jwt', 'opaque'].includes(atFormat)) fail(`PEER_AT_FORMAT must be jwt or opaque, not ${atFormat}`);
const atAlg = process.env.PEER_AT_ALG || 'RS256';
if (!['RS256', 'ES256'].includes(atAlg)) fail(`PEER_AT_ALG must be RS256 or ES256, not ${atAlg}`);
const seedCount = Number(process.env.PEER_SEED ?? 2000);
if (!Number.isInteger(seedCount) || seedCount < 0) fail(`bad PEER_SEED ${process.env.PEER_SEED}`);

const refreshIdToken = (process.env.PEER_REFRESH_ID_TOKEN ?? '1') !== '0';

const { Provider, errors } = await import('oidc-provider');

const issuer = `http://127.0.0.1:${port}`;
const CLIENT_ID = 'bench';
const clientSecret = crypto.randomBytes(32).toString('base64url');
const RESOURCE = 'urn:bench:api';
const SCOPE = 'openid email profile';
const ACCESS_TOKEN_TTL = 600; // Sésame's IDP_ACCESS_TOKEN_TTL
const REFRESH_TOKEN_TTL = 30 * 24 * 3600; // Sésame's IDP_REFRESH_TOKEN_TTL

// ---------------------------------------------------------------------------------------------
// Signing keys, made at every start and never written anywhere: one RSA 2048 key (ID tokens,
// RS256 access tokens) and one P-256 key (ES256 access tokens).

function thumbprint(jwk) {
  // RFC 7638: the required members, in lexicographic order, without white space.
  const members = jwk.kty === 'RSA' ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
    : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return crypto.createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

function signingJwk(type, options, alg) {
  const { privateKey } = crypto.generateKeyPairSync(type, options);
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: thumbprint(jwk), use: 'sig', alg };
}

const jwks = {
  keys: [
    signingJwk('rsa', { modulusLength: 2048 }, 'RS256'),
    signingJwk('ec', { namedCurve: 'P-256' }, 'ES256'),
  ],
};

// ---------------------------------------------------------------------------------------------
// Storage: in memory, in this process.  Sésame keeps refresh tokens in SQL and access-token state
// in Redis, so this is the peer's best case.  The library's own MemoryAdapter is not used: it is
// an LRU of 1000 entries, so the seeded tokens (and, under load, everything older than the last
// thousand client_credentials tokens) would be evicted.  This one keeps everything until it
// expires.

const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
  'BackchannelAuthenticationRequest', 'PreAuthorizedCode']);
const entries = new Map(); // "Model:id" -> { payload, expiresAt (ms) }
const grantMembers = new Map(); // grantId -> Set of "Model:id"
const sessionUids = new Map(); // session uid -> id
const userCodes = new Map(); // user code -> id
// Expiry queues, one per lifetime: entries with the same lifetime expire in insertion order, so a
// sweep only looks at what has expired.
const queues = new Map(); // lifetime (s) -> { items: [[expiresAt, key]], head }

function forget(key) {
  const entry = entries.get(key);
  if (!entry) return;
  entries.delete(key);
  const grantId = entry.payload.grantId;
  if (grantId) {
    const members = grantMembers.get(grantId);
    if (members) {
      members.delete(key);
      if (members.size === 0) grantMembers.delete(grantId);
    }
  }
}

function sweep() {
  const now = Date.now();
  for (const queue of queues.values()) {
    const { items } = queue;
    while (queue.head < items.length && items[queue.head][0] <= now) {
      const [expiresAt, key] = items[queue.head];
      items[queue.head] = undefined;
      queue.head += 1;
      // A key saved again since (a consumed refresh token, a session) has a later expiry.
      if (entries.get(key)?.expiresAt === expiresAt) forget(key);
    }
    if (queue.head > 4096 && queue.head * 2 > items.length) {
      queue.items = items.slice(queue.head);
      queue.head = 0;
    }
  }
}
setInterval(sweep, 5000).unref();

class InMemoryAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    let expiresAt = Infinity;
    if (typeof expiresIn === 'number') {
      expiresAt = Date.now() + expiresIn * 1000;
      let queue = queues.get(expiresIn);
      if (!queue) {
        queue = { items: [], head: 0 };
        queues.set(expiresIn, queue);
      }
      queue.items.push([expiresAt, key]);
    }
    entries.set(key, { payload, expiresAt });
    if (payload.grantId && GRANTABLE.has(this.model)) {
      let members = grantMembers.get(payload.grantId);
      if (!members) {
        members = new Set();
        grantMembers.set(payload.grantId, members);
      }
      members.add(key);
    }
    if (this.model === 'Session' && payload.uid) sessionUids.set(payload.uid, id);
    if (payload.userCode) userCodes.set(payload.userCode, id);
  }

  async find(id) {
    const key = this.key(id);
    const entry = entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      forget(key);
      return undefined;
    }
    return entry.payload;
  }

  async findByUid(uid) {
    const id = sessionUids.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = userCodes.get(userCode);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const payload = await this.find(id);
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    const key = this.key(id);
    const payload = entries.get(key)?.payload;
    forget(key);
    if (payload?.uid && sessionUids.get(payload.uid) === id) sessionUids.delete(payload.uid);
    if (payload?.userCode && userCodes.get(payload.userCode) === id) userCodes.delete(payload.userCode);
  }

  async revokeByGrantId(grantId) {
    const members = grantMembers.get(grantId);
    if (!members) return;
    for (const key of [...members]) forget(key);
    grantMembers.delete(grantId);
  }
}

// ---------------------------------------------------------------------------------------------
// The resource server: the API that Sésame's RFC 9068 access tokens are for.
//
// About userinfo: oidc-provider's userinfo endpoint only accepts an access token with no audience,
// and such a token is always opaque (a JWT access token always names its resource server in
// "aud").  So, with resource indicators on, no token can be both a JWT for urn:bench:api (as the
// token endpoint gives here) and good at /me.  What this peer does:
//   - defaultResource is always urn:bench:api, and useGrantedResource is true: client_credentials
//     and refresh_token answers carry, as Sésame's do, an access token for urn:bench:api (a JWT
//     signed with PEER_AT_ALG, or opaque with PEER_AT_FORMAT=opaque) without the client naming
//     the resource;
//   - the userinfo scenario uses "userinfo_tokens": opaque access tokens minted at start with
//     the openid scope and no resource, which is the kind of token userinfo accepts.  Sésame's
//     userinfo instead verifies its JWT; the peer's /me looks an opaque token up in memory.
// About introspection: oidc-provider refuses to introspect JWT access tokens (they are meant to
// be verified by the resource server), so "access_tokens" are opaque in both modes: tokens for
// urn:bench:api with PEER_AT_FORMAT=opaque, tokens with no resource with PEER_AT_FORMAT=jwt.

const resourceServer = {
  scope: SCOPE,
  audience: RESOURCE,
  accessTokenTTL: ACCESS_TOKEN_TTL,
  accessTokenFormat: atFormat,
  ...(atFormat === 'jwt' ? { jwt: { sign: { alg: atAlg } } } : {}),
};

const provider = new Provider(issuer, {
  adapter: InMemoryAdapter,
  jwks,
  clients: [{
    client_id: CLIENT_ID,
    client_secret: clientSecret,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1:8080/callback'],
    scope: SCOPE,
  }],
  // An in-memory account for any id, like Sésame's seeded citizens.
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@bench.invalid`,
          email_verified: true,
          given_name: 'Camille',
          family_name: `Banc ${id}`,
        };
      },
    };
  },
  claims: {
    acr: null,
    auth_time: null,
    iss: null,
    sid: null,
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['given_name', 'family_name'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // The client may introspect its own tokens (and only those).
      async allowedPolicy(ctx, client, token) {
        return token.clientId === client.clientId;
      },
    },
    userinfo: { enabled: true },
    resourceIndicators: {
      enabled: true,
      async defaultResource(ctx, client, oneOf) {
        return oneOf ? oneOf[0] : RESOURCE;
      },
      async getResourceServerInfo(ctx, indicator) {
        if (indicator !== RESOURCE) throw new errors.InvalidTarget();
        return resourceServer;
      },
      async useGrantedResource() {
        return true;
      },
    },
  },
  // Sésame gives a refresh token to every client allowed the grant, without offline_access.
  async issueRefreshToken(ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  rotateRefreshToken: true,
  ttl: {
    AccessToken: ACCESS_TOKEN_TTL,
    ClientCredentials: ACCESS_TOKEN_TTL,
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: REFRESH_TOKEN_TTL,
    Grant: REFRESH_TOKEN_TTL,
    Interaction: 3600,
    Session: 14 * 24 * 3600,
  },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
});

// ---------------------------------------------------------------------------------------------
// Seeding, through the provider's own models: for account bench<i>, one grant holding a refresh
// token (as a code flow with openid email profile would leave), and another grant holding one
// userinfo token and one introspection token.  Two grants, so that a refresh token replayed by
// mistake (which revokes its whole grant) does not take the access tokens with it.

async function seed(count) {
  const client = await provider.Client.find(CLIENT_ID);
  const refreshTokens = [];
  const accessTokens = [];
  const userinfoTokens = [];
  const authTime = Math.floor(Date.now() / 1000);
  for (let i = 0; i < count; i += 1) {
    const accountId = `bench${i}`;

    const refreshGrant = new provider.Grant({ accountId, clientId: CLIENT_ID });
    refreshGrant.addOIDCScope(SCOPE);
    refreshGrant.addResourceScope(RESOURCE, SCOPE);
    const refreshGrantId = await refreshGrant.save();
    refreshTokens.push(await new provider.RefreshToken({
      accountId,
      client,
      grantId: refreshGrantId,
      gty: 'authorization_code',
      scope: refreshIdToken ? SCOPE : 'email profile',
      resource: RESOURCE,
      authTime,
      expiresWithSession: false,
    }).save());

    const accessGrant = new provider.Grant({ accountId, clientId: CLIENT_ID });
    accessGrant.addOIDCScope(SCOPE);
    accessGrant.addResourceScope(RESOURCE, SCOPE);
    const accessGrantId = await accessGrant.save();
    const common = {
      accountId, client, grantId: accessGrantId, gty: 'authorization_code', scope: SCOPE, expiresWithSession: false,
    };
    userinfoTokens.push(await new provider.AccessToken(common).save());
    accessTokens.push(await new provider.AccessToken({
      ...common,
      ...(atFormat === 'opaque' ? { resourceServer: new provider.ResourceServer(RESOURCE, resourceServer) } : {}),
    }).save());
  }
  return { refreshTokens, accessTokens, userinfoTokens };
}

const seeded = await seed(seedCount);

const server = http.createServer(provider.callback());
server.on('error', (err) => fail(`cannot listen on 127.0.0.1:${port}: ${err.message}`));
await new Promise((resolve) => { server.listen(port, '127.0.0.1', resolve); });

// The endpoints are read back from the provider's own discovery document: it proves the server
// answers, and the bench gets exactly what a client would.
const discoveryUrl = `${issuer}/.well-known/openid-configuration`;
const response = await fetch(discoveryUrl);
if (!response.ok) fail(`discovery answered ${response.status}`);
const discovery = await response.json();

const ready = {
  ready: true,
  pid: process.pid,
  issuer: discovery.issuer,
  client_id: CLIENT_ID,
  client_secret: clientSecret,
  token_endpoint: discovery.token_endpoint,
  introspection_endpoint: discovery.introspection_endpoint,
  userinfo_endpoint: discovery.userinfo_endpoint,
  jwks_uri: discovery.jwks_uri,
  discovery: discoveryUrl,
  resource: RESOURCE,
  scope: SCOPE,
  at_format: atFormat,
  at_alg: atFormat === 'jwt' ? atAlg : null,
  access_tokens_format: 'opaque',
  refresh_id_token: refreshIdToken,
  refresh_tokens: seeded.refreshTokens,
  access_tokens: seeded.accessTokens,
  userinfo_tokens: seeded.userinfoTokens,
};

const seedFile = process.env.PEER_SEED_FILE;
if (seedFile) {
  fs.writeFileSync(`${seedFile}.tmp`, JSON.stringify(ready));
  fs.renameSync(`${seedFile}.tmp`, seedFile);
  const { refresh_tokens: r, access_tokens: a, userinfo_tokens: u, ...line } = ready;
  printReady(JSON.stringify({ ...line, seed_file: seedFile }));
} else {
  printReady(JSON.stringify(ready));
}

process.on('SIGTERM', () => {
  server.close();
  process.exit(0);
});

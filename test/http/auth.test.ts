import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { count } from 'drizzle-orm'
import type { LightMyRequestResponse } from 'fastify'
import { type CryptoKey, exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose'
import t from 'tap'
import { publicRoute, secured } from '../../src/http/auth.ts'
import { findActiveKey } from '../../src/keys/key.repo.ts'
import { openJwk } from '../../src/keys/key.service.ts'
import { users } from '../../src/users/user.sql.ts'
import { buildTestApp, type TestApp } from '../helpers/app.ts'
import { isProblem } from '../helpers/problems.ts'

interface Teardown {
  teardown(fn: () => unknown): void
}

/** A loopback HTTP server on an ephemeral port, closed (with its open sockets) when the test ends. */
async function serve(
  t: Teardown,
  handler: (req: IncomingMessage, res: ServerResponse) => void
): Promise<{ port: number; url: (path: string) => string; hits: () => number }> {
  let hits = 0
  const server = createServer((req, res) => {
    hits++
    handler(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const { port } = server.address() as AddressInfo
  return { port, url: (path) => `http://127.0.0.1:${port}${path}`, hits: () => hits }
}

/** A port on 127.0.0.1 where nothing listens (bound, then released). */
async function deadPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

const b64u = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')
const epoch = (): number => Math.floor(Date.now() / 1000)

/** A compact JWS over any header and payload, signed with an Ed25519 CryptoKey, with no library checks in the way. */
async function forge(header: Record<string, unknown>, payload: unknown, key: CryptoKey): Promise<string> {
  const input = `${b64u(header)}.${b64u(payload)}`
  const signature = await crypto.subtle.sign({ name: 'Ed25519' }, key, new TextEncoder().encode(input))
  return `${input}.${Buffer.from(signature).toString('base64url')}`
}

/** The same, HMAC-SHA256 with the given secret (the algorithm-confusion attack). */
async function forgeHs256(header: Record<string, unknown>, payload: unknown, secret: Uint8Array): Promise<string> {
  const input = `${b64u(header)}.${b64u(payload)}`
  const key = await crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const signature = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(input))
  return `${input}.${Buffer.from(signature).toString('base64url')}`
}

const parts = (token: string): [string, string, string] => {
  const [h = '', p = '', s = ''] = token.split('.')
  return [h, p, s]
}

/** A (sub)test, as tap passes it to a callback. */
type Tap = Parameters<Parameters<typeof t.test>[0]>[0]

const usersCount = async (ctx: TestApp): Promise<number> => {
  const [row] = await ctx.deps.db.select({ n: count() }).from(users)
  return Number(row?.n ?? 0)
}

// -- the service's own issuer ------------------------------------------------

const ctx = await buildTestApp(t, {
  register: (app) => {
    app.get('/v1/test/audit', { schema: { security: secured('audit:read') } }, async () => ({ ok: true }))
    app.get('/v1/test/default', async () => ({ ok: true }))
    app.get('/v1/test/public', { schema: { security: publicRoute } }, async () => ({ ok: true }))
  }
})
const { publicUrl } = ctx.deps.config
const audience = ctx.deps.config.auth.audience
const kid = ctx.deps.keys.kid
const servicePublic = ctx.deps.keys.jwks.keys.find((k) => k.kid === kid)
if (!servicePublic?.x) throw new Error('the service JWKS does not publish its active key')
const activeRow = await findActiveKey(ctx.deps.db)
if (!activeRow) throw new Error('no active service key')
/** The service's private key: lets each forged token differ from a valid one by exactly one defect. */
const serviceKey = (await importJWK(openJwk(ctx.deps.kek, activeRow), 'EdDSA')) as CryptoKey
const attacker = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
const attackerRsa = await generateKeyPair('RS256', { extractable: true })
const attackerJwk = await exportJWK(attacker.publicKey)
/** Where a token's `jku` / `x5u` header points; the verifier must never call it. */
const trap = await serve(t, (_req, res) => {
  res.setHeader('content-type', 'application/json')
  res.end(JSON.stringify({ keys: [{ ...attackerJwk, kid: 'attacker', alg: 'EdDSA', use: 'sig' }] }))
})

/** Claims of a token that would be valid if signed by the service key under its kid. */
const claims = (over: Record<string, unknown> = {}, drop: string[] = []): Record<string, unknown> => {
  const now = epoch()
  const c: Record<string, unknown> = {
    iss: publicUrl,
    aud: audience,
    sub: 'mallory',
    iat: now,
    exp: now + 600,
    ...over
  }
  for (const k of drop) delete c[k]
  return c
}
const ours = { alg: 'EdDSA', kid, typ: 'JWT' }

interface ForgedCase {
  name: string
  authorization: string
  code: 'token-invalid' | 'token-expired'
}
const bearer = (name: string, token: string, code: ForgedCase['code'] = 'token-invalid'): ForgedCase => ({
  name,
  authorization: `Bearer ${token}`,
  code
})

const alice = await ctx.token('alice')
const bob = await ctx.token('bob')
const [aliceH, aliceP, aliceS] = parts(alice)
const tamperedPayload = {
  ...(JSON.parse(Buffer.from(aliceP, 'base64url').toString()) as Record<string, unknown>),
  sub: 'mallory'
}

const corpus: ForgedCase[] = [
  bearer('alg none, unsigned', `${b64u({ alg: 'none' })}.${b64u(claims())}.`),
  bearer('alg None with our kid, unsigned', `${b64u({ alg: 'None', kid, typ: 'JWT' })}.${b64u(claims())}.`),
  bearer(
    'HS256 keyed with the public JWK x string',
    await forgeHs256({ alg: 'HS256', kid, typ: 'JWT' }, claims(), new TextEncoder().encode(servicePublic.x))
  ),
  bearer(
    'HS256 keyed with the raw public key bytes',
    await forgeHs256({ alg: 'HS256', kid, typ: 'JWT' }, claims(), Buffer.from(servicePublic.x, 'base64url'))
  ),
  bearer(
    'RS256 signed by an attacker key under our kid',
    await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', kid }).sign(attackerRsa.privateKey)
  ),
  bearer(
    'a valid signature under the alg label Ed25519 (algorithm not pinned)',
    await forge({ alg: 'Ed25519', kid, typ: 'JWT' }, claims(), serviceKey)
  ),
  bearer('no exp', await forge(ours, claims({}, ['exp']), serviceKey)),
  bearer('exp that is not a number', await forge(ours, claims({ exp: String(epoch() + 600) }), serviceKey)),
  bearer(
    'expired 120 s ago (beyond the 60 s tolerance)',
    await forge(ours, claims({ iat: epoch() - 900, exp: epoch() - 120 }), serviceKey),
    'token-expired'
  ),
  bearer('nbf 5 minutes in the future', await forge(ours, claims({ nbf: epoch() + 300 }), serviceKey)),
  bearer('a wrong iss', await forge(ours, claims({ iss: 'https://evil.test' }), serviceKey)),
  bearer('no iss', await forge(ours, claims({}, ['iss']), serviceKey)),
  bearer('iss that is a list', await forge(ours, claims({ iss: [publicUrl] }), serviceKey)),
  bearer('a wrong aud', await forge(ours, claims({ aud: 'someone-else' }), serviceKey)),
  bearer('no aud', await forge(ours, claims({}, ['aud']), serviceKey)),
  bearer(
    'an unknown kid',
    await new SignJWT(claims()).setProtectedHeader({ alg: 'EdDSA', kid: 'no-such-kid' }).sign(attacker.privateKey)
  ),
  bearer(
    'an attacker Ed25519 key under our kid',
    await new SignJWT(claims()).setProtectedHeader({ alg: 'EdDSA', kid }).sign(attacker.privateKey)
  ),
  bearer(
    'an embedded jwk header with the attacker key',
    await new SignJWT(claims()).setProtectedHeader({ alg: 'EdDSA', jwk: attackerJwk }).sign(attacker.privateKey)
  ),
  bearer(
    'an embedded jwk header under our kid',
    await new SignJWT(claims()).setProtectedHeader({ alg: 'EdDSA', kid, jwk: attackerJwk }).sign(attacker.privateKey)
  ),
  bearer(
    'a jku header pointing to a loopback URL',
    await new SignJWT(claims())
      .setProtectedHeader({ alg: 'EdDSA', kid: 'attacker', jku: trap.url('/jwks.json') })
      .sign(attacker.privateKey)
  ),
  bearer(
    'an x5u header pointing to a loopback URL',
    await new SignJWT(claims())
      .setProtectedHeader({ alg: 'EdDSA', kid: 'attacker', x5u: trap.url('/cert.pem') })
      .sign(attacker.privateKey)
  ),
  bearer('a garbage string', 'not-a-jwt'),
  bearer('three base64url segments that are not JSON', 'aGVsbG8.d29ybGQ.c2ln'),
  {
    name: 'characters outside the token68 syntax',
    authorization: 'Bearer <script>alert(1)</script>',
    code: 'token-invalid'
  },
  bearer('a truncated signature', alice.slice(0, -6)),
  bearer('no signature at all', `${aliceH}.${aliceP}.`),
  bearer('the signature of another valid token', `${aliceH}.${aliceP}.${parts(bob)[2]}`),
  bearer('the payload tampered after signing (sub changed)', `${aliceH}.${b64u(tamperedPayload)}.${aliceS}`),
  bearer('no sub', await forge(ours, claims({}, ['sub']), serviceKey)),
  bearer('sub that is a number', await forge(ours, claims({ sub: 42 }), serviceKey)),
  bearer('sub that is empty', await forge(ours, claims({ sub: '' }), serviceKey)),
  bearer('sub longer than 255 characters', await forge(ours, claims({ sub: 'm'.repeat(256) }), serviceKey)),
  // Class: claims the database cannot store (a user with such a subject or name would make every request 500).
  bearer('sub containing NUL', await forge(ours, claims({ sub: 'mal\u0000lory' }), serviceKey)),
  bearer('sub that is only NUL', await forge(ours, claims({ sub: '\u0000' }), serviceKey)),
  bearer('sub containing a lone high surrogate', await forge(ours, claims({ sub: 'mal\ud800lory' }), serviceKey)),
  bearer('sub containing a lone low surrogate', await forge(ours, claims({ sub: '\udc00' }), serviceKey)),
  bearer('name containing NUL', await forge(ours, claims({ name: 'Mal\u0000lory' }), serviceKey)),
  bearer('name containing a lone surrogate', await forge(ours, claims({ name: 'Mal\udfffory' }), serviceKey)),
  bearer('name that is not a string', await forge(ours, claims({ name: ['Mallory'] }), serviceKey)),
  // Class: tokens from the future (a stolen signing key's tokens minted ahead, or a broken issuer clock).
  bearer('iat 5 minutes in the future', await forge(ours, claims({ iat: epoch() + 300 }), serviceKey)),
  bearer(
    'iat a year in the future',
    await forge(ours, claims({ iat: epoch() + 365 * 86400, exp: epoch() + 366 * 86400 }), serviceKey)
  ),
  bearer(
    'a crit header naming an unknown extension',
    await forge(
      { ...ours, crit: ['urn:example:must-understand'], 'urn:example:must-understand': true },
      claims(),
      serviceKey
    )
  ),
  bearer('b64: false (unencoded payload)', await forge({ ...ours, b64: false, crit: ['b64'] }, claims(), serviceKey)),
  bearer(
    'a JWE-shaped 5-part token',
    `${b64u({ alg: 'dir', enc: 'A256GCM', kid })}..${b64u('0123456789ab')}.${b64u('ciphertext')}.${b64u('0123456789abcdef')}`
  ),
  bearer(
    'longer than 8192 characters (validly signed)',
    await forge(ours, claims({ pad: 'x'.repeat(8200) }), serviceKey)
  ),
  bearer('scope that is a number', await forge(ours, claims({ scope: 7 }), serviceKey)),
  bearer('scp that is not a list of strings', await forge(ours, claims({ scp: 'audit:read' }), serviceKey)),
  {
    name: 'the Basic scheme',
    authorization: `Basic ${Buffer.from('alice:secret').toString('base64')}`,
    code: 'token-invalid'
  },
  { name: 'Bearer with nothing after it', authorization: 'Bearer ', code: 'token-invalid' },
  { name: 'the token with no scheme', authorization: alice, code: 'token-invalid' }
]

t.test('GET /v1/me', async (t) => {
  t.test('answers 200 to a token minted by the service', async (t) => {
    const res = await ctx.request({ method: 'GET', url: '/v1/me', token: alice })
    t.equal(res.statusCode, 200)
  })

  t.test('tolerates 60 s of clock skew: a token expired 30 s ago still answers 200', async (t) => {
    const token = await forge(ours, claims({ sub: 'alice', iat: epoch() - 600, exp: epoch() - 30 }), serviceKey)
    const res = await ctx.request({ method: 'GET', url: '/v1/me', token })
    t.equal(res.statusCode, 200)
  })

  t.test('tolerates 60 s of clock skew on nbf too', async (t) => {
    const token = await forge(ours, claims({ sub: 'alice', nbf: epoch() + 30 }), serviceKey)
    t.equal((await ctx.request({ method: 'GET', url: '/v1/me', token })).statusCode, 200)
  })

  t.test(`rejects each of ${corpus.length} forged tokens with 401 problem+json and a Bearer challenge`, async (t) => {
    t.ok(corpus.length >= 22, `${corpus.length} distinct tokens`)
    t.equal(new Set(corpus.map((c) => c.authorization)).size, corpus.length, 'no two cases send the same header')
    const before = await usersCount(ctx)
    for (const c of corpus) {
      t.test(c.name, async (t) => {
        const res = await ctx.request({ method: 'GET', url: '/v1/me', headers: { authorization: c.authorization } })
        t.ok(res.statusCode < 500, 'never 5xx')
        t.not(res.statusCode, 200, 'never 200')
        isProblem(t, res, 401, c.code)
        t.match(String(res.headers['www-authenticate']), /^Bearer /, 'a Bearer challenge')
        t.notOk(res.body.includes('mallory'), 'does not echo the claims')
      })
    }
    t.test('and none of them provisions a user', async (t) => {
      t.equal(await usersCount(ctx), before)
    })
    t.test("and none of them makes the verifier fetch a key from the token's jku or x5u", async (t) => {
      t.equal(trap.hits(), 0)
    })
  })

  t.test('says which token was expired: the challenge names error="invalid_token"', async (t) => {
    const token = await forge(ours, claims({ exp: epoch() - 3600 }), serviceKey)
    const res = await ctx.request({ method: 'GET', url: '/v1/me', token })
    isProblem(t, res, 401, 'token-expired')
    t.match(String(res.headers['www-authenticate']), /error="invalid_token"/)
  })
})

// -- scopes --------------------------------------------------------------------

t.test("a route declaring secured('audit:read')", async (t) => {
  const audit = async (token?: string) =>
    ctx.request({ method: 'GET', url: '/v1/test/audit', ...(token ? { token } : {}) })

  t.test('answers 200 to a token with that scope', async (t) => {
    const res = await audit(await ctx.token('carol', { scope: 'audit:read' }))
    t.equal(res.statusCode, 200)
    t.same(res.json(), { ok: true })
  })

  t.test('answers 200 to a token with that scope among others', async (t) => {
    t.equal((await audit(await ctx.token('carol', { scope: 'agreements:read audit:read' }))).statusCode, 200)
  })

  t.test('answers 200 to a token carrying it in an scp list', async (t) => {
    t.equal((await audit(await forge(ours, claims({ sub: 'carol', scp: ['audit:read'] }), serviceKey))).statusCode, 200)
  })

  t.test('answers 200 to a token without any scope claim (it has all)', async (t) => {
    t.equal((await audit(await ctx.token('carol'))).statusCode, 200)
  })

  t.test('answers 403 insufficient-scope to a token with other scopes', async (t) => {
    const res = await audit(await ctx.token('carol', { scope: 'agreements:read' }))
    isProblem(t, res, 403, 'insufficient-scope')
    const challenge = String(res.headers['www-authenticate'])
    t.match(challenge, /^Bearer /)
    t.match(challenge, /error="insufficient_scope"/)
    t.match(challenge, /scope="audit:read"/)
  })

  t.test('answers 403 to a token whose scope is empty (it has none)', async (t) => {
    isProblem(
      t,
      await audit(await forge(ours, claims({ sub: 'carol', scope: '' }), serviceKey)),
      403,
      'insufficient-scope'
    )
  })

  t.test('checks the token before the scope: a forged token is 401, not 403', async (t) => {
    isProblem(
      t,
      await audit(
        await new SignJWT(claims({ scope: 'agreements:read' }))
          .setProtectedHeader({ alg: 'EdDSA', kid })
          .sign(attacker.privateKey)
      ),
      401,
      'token-invalid'
    )
  })

  t.test('answers 401 token-required without a token', async (t) => {
    const res = await audit()
    isProblem(t, res, 401, 'token-required')
    t.match(String(res.headers['www-authenticate']), /^Bearer realm="accord"/)
  })

  t.test('a registered route that declares no security needs a token anyway', async (t) => {
    isProblem(t, await ctx.request({ method: 'GET', url: '/v1/test/default' }), 401, 'token-required')
    t.equal((await ctx.request({ method: 'GET', url: '/v1/test/default', token: alice })).statusCode, 200)
  })

  t.test('a registered public route needs none', async (t) => {
    t.equal((await ctx.request({ method: 'GET', url: '/v1/test/public' })).statusCode, 200)
  })

  t.test('GET /v1/me (secured with no scope) accepts any scope', async (t) => {
    t.equal(
      (
        await ctx.request({
          method: 'GET',
          url: '/v1/me',
          token: await ctx.token('carol', { scope: 'agreements:read' })
        })
      ).statusCode,
      200
    )
  })
})

// -- an external issuer ------------------------------------------------------

t.test('an external issuer from AUTH_ISSUERS', async (t) => {
  const idpKeys = await generateKeyPair('ES256', { extractable: true })
  const idpJwk = { ...(await exportJWK(idpKeys.publicKey)), kid: 'idp-1', alg: 'ES256', use: 'sig' }
  const idp = await serve(t, (req, res) => {
    if (req.url !== '/jwks.json') {
      res.statusCode = 404
      res.end()
      return
    }
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ keys: [idpJwk] }))
  })
  const issuer = 'https://idp.test'
  const ext = await buildTestApp(t, {
    env: { AUTH_ISSUERS: JSON.stringify([{ issuer, jwksUri: idp.url('/jwks.json'), audience: 'accord' }]) }
  })
  const idpToken = async (
    over: Record<string, unknown> = {},
    key: CryptoKey = idpKeys.privateKey,
    header: Record<string, unknown> = { kid: 'idp-1' }
  ) =>
    new SignJWT({ name: 'Ext Alice', ...over })
      .setProtectedHeader({ alg: 'ES256', ...header })
      .setIssuer(typeof over.iss === 'string' ? over.iss : issuer)
      .setAudience('accord')
      .setSubject(typeof over.sub === 'string' ? over.sub : 'alice')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(key)
  const me = async (token: string) => ext.request({ method: 'GET', url: '/v1/me', token })

  t.test("answers 200 to its token, as a user distinct from the same sub under the service's issuer", async (t) => {
    const external = await me(await idpToken())
    t.equal(external.statusCode, 200)
    t.equal(external.json().displayName, 'Ext Alice')
    const own = await me(await ext.token('alice', { name: 'Own Alice' }))
    t.equal(own.statusCode, 200)
    t.not(own.json().id, external.json().id, '(iss, sub) and not sub alone names the user')
    t.equal((await me(await idpToken())).json().id, external.json().id, 'the same external identity is the same user')
    t.ok(idp.hits() >= 1, 'the key set was fetched from jwksUri')
  })

  t.test('answers 401 to a token for that issuer signed with another key under its kid', async (t) => {
    const other = await generateKeyPair('ES256', { extractable: true })
    const res = await me(await idpToken({}, other.privateKey))
    isProblem(t, res, 401, 'token-invalid')
    t.match(String(res.headers['www-authenticate']), /^Bearer /)
  })

  t.test('answers 401 to a token for that issuer signed with another key under another kid', async (t) => {
    const other = await generateKeyPair('ES256', { extractable: true })
    isProblem(t, await me(await idpToken({}, other.privateKey, { kid: 'idp-2' })), 401, 'token-invalid')
  })

  t.test('answers 401 to a token for that issuer with another audience', async (t) => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'idp-1' })
      .setIssuer(issuer)
      .setAudience('not-accord')
      .setSubject('alice')
      .setExpirationTime('10m')
      .sign(idpKeys.privateKey)
    isProblem(t, await me(token), 401, 'token-invalid')
  })

  t.test('answers 401 when its key signs a token claiming to be from the service', async (t) => {
    isProblem(t, await me(await idpToken({ iss: ext.deps.config.publicUrl })), 401, 'token-invalid')
  })

  t.test('answers 401 when the service key signs a token claiming to be from it', async (t) => {
    const activeExt = await findActiveKey(ext.deps.db)
    const extServiceKey = (await importJWK(openJwk(ext.deps.kek, activeExt!), 'EdDSA')) as CryptoKey
    const token = await forge(
      { alg: 'EdDSA', kid: ext.deps.keys.kid, typ: 'JWT' },
      { iss: issuer, aud: 'accord', sub: 'alice', exp: epoch() + 600 },
      extServiceKey
    )
    isProblem(t, await me(token), 401, 'token-invalid')
  })

  t.test('answers 401 token-expired to its expired token', async (t) => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'idp-1' })
      .setIssuer(issuer)
      .setAudience('accord')
      .setSubject('alice')
      .setExpirationTime(epoch() - 120)
      .sign(idpKeys.privateKey)
    isProblem(t, await me(token), 401, 'token-expired')
  })
})

t.test("a key removed from an external issuer's JWKS stops its tokens, cached or not", async (t) => {
  const keyA = await generateKeyPair('ES256', { extractable: true })
  const keyB = await generateKeyPair('ES256', { extractable: true })
  const jwkA = { ...(await exportJWK(keyA.publicKey)), kid: 'a', alg: 'ES256', use: 'sig' }
  const jwkB = { ...(await exportJWK(keyB.publicKey)), kid: 'b', alg: 'ES256', use: 'sig' }
  let published = [jwkA]
  const idp = await serve(t, (_req, res) => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ keys: published }))
  })
  const issuer = 'https://rotating-idp.test'
  // Keys are fetched again after 4 s at the latest; an unknown kid may refetch them after 1 s.
  const ext = await buildTestApp(t, {
    env: { AUTH_ISSUERS: JSON.stringify([{ issuer, jwksUri: idp.url('/jwks.json') }]), JWKS_CACHE_MAX_AGE_MS: '4000' }
  })
  const sign = (key: CryptoKey, kid: string) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid })
      .setIssuer(issuer)
      .setAudience('accord')
      .setSubject('rotated')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(key)
  const me = (token: string) => ext.request({ method: 'GET', url: '/v1/me', token })
  const tokenA = await sign(keyA.privateKey, 'a')
  t.equal((await me(tokenA)).statusCode, 200, 'key a signs valid tokens')
  t.equal((await me(tokenA)).statusCode, 200, 'and the verified token is kept')

  t.test('when a token with another kid makes the verifier fetch the keys again', async (t) => {
    published = [jwkB]
    await new Promise((resolve) => setTimeout(resolve, 1200)) // past the refetch cooldown
    t.equal((await me(await sign(keyB.privateKey, 'b'))).statusCode, 200, 'the new key b is fetched and works')
    isProblem(t, await me(tokenA), 401, 'token-invalid')
  })

  t.test('when the keys are older than JWKS_CACHE_MAX_AGE_MS', async (t) => {
    published = [jwkA]
    await new Promise((resolve) => setTimeout(resolve, 1200))
    const tokenA2 = await sign(keyA.privateKey, 'a')
    t.equal((await me(tokenA2)).statusCode, 200, 'key a is back (refetched for its unknown kid)')
    published = [jwkB]
    t.equal((await me(tokenA2)).statusCode, 200, 'within the cache age the kept token still answers')
    await new Promise((resolve) => setTimeout(resolve, 4200))
    isProblem(t, await me(tokenA2), 401, 'token-invalid')
  })
})

t.test("when an external issuer's keys cannot be fetched", async (t) => {
  const idpKeys = await generateKeyPair('ES256', { extractable: true })
  const dead = await deadPort()
  const hanging = await serve(t, () => {
    /* accepts the request and never answers */
  })
  const badJson = await serve(t, (_req, res) => {
    res.setHeader('content-type', 'application/json')
    res.end('{"keys": [')
  })
  const notJwks = await serve(t, (_req, res) => {
    res.setHeader('content-type', 'application/json')
    res.end('{"hello":"world"}')
  })
  const failing = await serve(t, (_req, res) => {
    res.statusCode = 502
    res.end('bad gateway')
  })
  const issuers = {
    dead: `http://127.0.0.1:${dead}/jwks.json`,
    hanging: hanging.url('/jwks.json'),
    badJson: badJson.url('/jwks.json'),
    notJwks: notJwks.url('/jwks.json'),
    failing: failing.url('/jwks.json')
  }
  const down = await buildTestApp(t, {
    env: {
      JWKS_TIMEOUT_MS: '300',
      AUTH_ISSUERS: JSON.stringify(
        Object.entries(issuers).map(([name, jwksUri]) => ({
          issuer: `https://${name}.idp.test`,
          jwksUri,
          audience: 'accord'
        }))
      )
    }
  })
  const tokenFor = async (name: keyof typeof issuers) =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'never-seen' })
      .setIssuer(`https://${name}.idp.test`)
      .setAudience('accord')
      .setSubject('alice')
      .setExpirationTime('10m')
      .sign(idpKeys.privateKey)
  const unavailable = (t: Tap, res: LightMyRequestResponse) => {
    t.not(res.statusCode, 500, 'never 500')
    t.not(res.statusCode, 200, 'never 200')
    isProblem(t, res, 503, 'auth-unavailable')
    t.ok(res.headers['retry-after'], 'a retry-after header')
    t.ok(Number(res.headers['retry-after']) > 0, 'retry-after is a number of seconds')
  }
  const meWith = async (name: keyof typeof issuers) =>
    down.request({ method: 'GET', url: '/v1/me', token: await tokenFor(name) })

  t.test('answers 503 auth-unavailable when nothing listens at jwksUri', async (t) => {
    unavailable(t, await meWith('dead'))
  })

  t.test('answers 503 auth-unavailable when jwksUri never answers (JWKS_TIMEOUT_MS)', async (t) => {
    const started = Date.now()
    unavailable(t, await meWith('hanging'))
    t.ok(Date.now() - started < 5000, 'gives up after the configured timeout')
  })

  t.test('answers 503 auth-unavailable when jwksUri returns JSON that is not a key set', async (t) => {
    unavailable(t, await meWith('notJwks'))
  })

  t.test('answers 503 auth-unavailable when jwksUri returns invalid JSON', async (t) => {
    unavailable(t, await meWith('badJson'))
  })

  t.test('answers 503 auth-unavailable when jwksUri answers with an error status', async (t) => {
    unavailable(t, await meWith('failing'))
  })

  t.test("still answers 200 to the service's own tokens meanwhile", async (t) => {
    t.equal((await down.request({ method: 'GET', url: '/v1/me', token: await down.token('alice') })).statusCode, 200)
  })
})

import { createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto'
import t from 'tap'
import { execute } from '../../src/db/driver.ts'
import { erasedIdentityHash } from '../../src/users/user.service.ts'
import { agreementKit, type Person } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { rawDump as rawDumpOf } from '../helpers/dump.ts'
import { incidentKit, incidentTerms } from '../helpers/incidents.ts'
import { receiver, webhookKit } from '../helpers/webhooks.ts'

// SPEC §3.8, issue 17: a dump of the database alone (without SECRET_KEY or the key file) reveals no private key,
// no webhook secret, no data or server key, no free text a person wrote, no idempotency body, and confirms no
// guess: not a client's Idempotency-Key, not the identity of someone erased.
const ctx = await buildTestApp(t, {
  env: {
    SECRET_KEY: randomBytes(32).toString('base64'),
    WEBHOOK_ALLOW_PRIVATE: 'true',
    WEBHOOK_WORKER_INTERVAL_MS: '0'
  }
})
const k = agreementKit(ctx)
const i = incidentKit(ctx, k)
const w = webhookKit(ctx)
const marked = (what: string) => `${what}-${randomBytes(6).toString('hex')}`

const rawDump = () => rawDumpOf(ctx.deps.db)
/** The forms a key or secret could take in a dump. */
const forms = (raw: Buffer) => [raw.toString('base64'), raw.toString('base64url'), raw.toString('hex')]

const [alice, bob] = [await k.person('Alice'), await k.person('Bob')]
const { pid } = await k.partnership(alice, [bob])
const aid = await k.activeAgreement(alice, [bob], pid, incidentTerms())
const hooked = await receiver(t)
const hook = await w.created(alice, pid, hooked.url)
const texts = { description: marked('description'), appreciation: marked('appreciation') }
await i.reported(bob, pid, aid, i.reportBody(alice, { description: texts.description }))
// Idempotency-Keys anyone could guess, on requests whose answers hold a text and a one-time token.
const post = (who: Person, url: string, key: string, body: unknown) =>
  ctx.request({ method: 'POST', url, token: who.token, headers: { 'idempotency-key': key }, body })
const appreciated = await post(alice, i.appreciationsUrl(pid, aid), '1', { text: texts.appreciation })
k.expectStatus(appreciated, 201, 'appreciate')
const invited = await post(alice, `/v1/partnerships/${pid}/invitations`, '2', { role: 'observer' })
k.expectStatus(invited, 201, 'invite')
const invitationToken = invited.json().token as string
// Carol signs in, then asks to be erased.
const carol = await k.person('Carol')
const etag = (await ctx.request({ method: 'GET', url: '/v1/me', token: carol.token })).headers.etag as string
k.expectStatus(
  await ctx.request({ method: 'DELETE', url: '/v1/me', token: carol.token, headers: { 'if-match': etag } }),
  204,
  'erase Carol'
)
const dump = await rawDump()

t.test('no key: the service private key, the data keys, the server secrets', async (t) => {
  const [service] = await execute(ctx.deps.db, `select kid, private_jwk from service_keys where status = 'active'`, [])
  const jwk = JSON.parse(
    ctx.deps.kek.open((service!.private_jwk as { sealed: string }).sealed, `accord:service-key:${service!.kid}`)
  ) as { d: string }
  for (const f of forms(Buffer.from(jwk.d, 'base64url'))) t.notOk(dump.includes(f), 'no private key material')
  t.notOk(/"d"\s*:/.test(dump), 'no JWK private member')
  const dataKeys = await execute(ctx.deps.db, `select user_id, sealed_key from data_keys`, [])
  t.ok(dataKeys.length >= 2, 'Alice and Bob have data keys (Carol never wrote)')
  for (const row of dataKeys) {
    const key = Buffer.from(ctx.deps.kek.open(row.sealed_key as string, `accord:data-key:${row.user_id}`), 'base64')
    for (const f of forms(key)) t.notOk(dump.includes(f), 'no data key in the clear')
  }
  for (const secret of Object.values(ctx.deps.serverSecrets))
    for (const f of forms(secret)) t.notOk(dump.includes(f), 'no server secret in the clear')
  t.match(dump, /server_secrets: \(idempotency,v1\./, 'the server secrets are there, sealed')
})

t.test('no webhook secret, no free text, no one-time token', async (t) => {
  for (const s of [hook.secret, hook.secret.slice('whsec_'.length)]) t.notOk(dump.includes(s), 'no webhook secret')
  for (const text of Object.values(texts)) t.notOk(dump.includes(text), `no ${text.split('-')[0]}`)
  t.notOk(dump.includes(invitationToken), 'the invitation token shown once is not kept')
})

t.test(
  'idempotency records: a guessed client key neither finds nor opens them without the server secret',
  async (t) => {
    const rows = await execute(
      ctx.deps.db,
      `select key, fingerprint, headers, body, scheme from idempotency_keys where user_id = $1 order by created_at`,
      [alice.id]
    )
    t.equal(rows.length, 2)
    for (const [row, guess] of rows.map((r, n) => [r, String(n + 1)] as const)) {
      t.equal(row.scheme, 2)
      t.equal(row.headers, null, 'the replayed headers are inside the seal')
      t.not(row.key, createHash('sha256').update(guess).digest('base64url'), 'the key is not its bare hash')
      // The sealing key a dump plus the guess could derive (the client key alone, as before): it does not open.
      const [, iv, tag, data] = (row.body as string).split('.')
      for (const salt of [alice.id, '', Buffer.alloc(32)]) {
        const key = Buffer.from(hkdfSync('sha256', guess, salt, `accord idempotent response\n${alice.id}`, 32))
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv!, 'base64url'))
        decipher.setAuthTag(Buffer.from(tag!, 'base64url'))
        t.throws(() => Buffer.concat([decipher.update(Buffer.from(data!, 'base64url')), decipher.final()]))
      }
    }
    // With the server secret (the KEK opens it), the same key replays the same answer: the record is real.
    const again = await post(alice, `/v1/partnerships/${pid}/invitations`, '2', { role: 'observer' })
    t.equal(again.headers['idempotent-replayed'], 'true')
    t.equal(again.json().token, invitationToken)
  }
)

t.test('an erased identity cannot be confirmed by a guess', async (t) => {
  const issuer = ctx.deps.config.publicUrl
  const legacy = createHmac('sha256', 'accord:erased-identity').update(`${issuer}\n${carol.sub}`).digest('base64url')
  t.notOk(dump.includes(legacy), 'no digest under a key anyone knows')
  t.notOk(dump.includes(carol.sub), 'nor the subject itself')
  t.ok(
    dump.includes(erasedIdentityHash(ctx.deps.serverSecrets.identity, issuer, carol.sub)),
    'the digest under the server secret is there (her old tokens stay refused)'
  )
  const res = await ctx.request({ method: 'GET', url: '/v1/me', token: carol.token })
  t.equal(res.statusCode, 401)
})

t.test(
  'a token without iat of an erased identity is refused for a day after the erasure, then starts anew',
  async (t) => {
    const now = Math.floor(ctx.clock.now().getTime() / 1000)
    // A JWT its issuer signed without `iat` (the claim is optional in RFC 7519): when was it issued? Unknown.
    const token = await ctx.deps.keys.signJws(
      { iss: ctx.deps.config.publicUrl, aud: ctx.deps.config.auth.audience, sub: carol.sub, exp: now + 3 * 86_400 },
      'JWT'
    )
    const first = await ctx.request({ method: 'GET', url: '/v1/me', token })
    t.equal(first.statusCode, 401)
    t.equal(first.json().code, 'account-erased')
    ctx.clock.advance(23 * 3_600_000)
    t.equal((await ctx.request({ method: 'GET', url: '/v1/me', token })).statusCode, 401, 'still within the day')
    ctx.clock.advance(2 * 3_600_000)
    const later = await ctx.request({ method: 'GET', url: '/v1/me', token })
    t.equal(later.statusCode, 200, `a day on, it may be a new sign-in: ${later.body}`)
    t.not(later.json().id, carol.id, 'and it is a new, empty user')
  }
)

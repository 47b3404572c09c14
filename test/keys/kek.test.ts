import { randomBytes } from 'node:crypto'
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { exportJWK, generateKeyPair } from 'jose'
import { Webhook } from 'standardwebhooks'
import t, { type Test } from 'tap'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { KekError, kekOf, loadKek } from '../../src/keys/kek.ts'
import { resealSecrets, rotateSecretKey } from '../../src/orchestration/secrets.service.ts'
import { deliverDue } from '../../src/webhooks/delivery.service.ts'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp, type TestApp } from '../helpers/app.ts'
import { incidentKit } from '../helpers/incidents.ts'
import { receiver, webhookKit } from '../helpers/webhooks.ts'

// Secrets at rest (SPEC §3.8): one database for the file; later apps on it are restarts of the service.
const KEY_A = randomBytes(32).toString('base64')
const KEY_B = randomBytes(32).toString('base64')
const KEY_C = randomBytes(32).toString('base64')
const env = (key: string) => ({ SECRET_KEY: key, WEBHOOK_ALLOW_PRIVATE: 'true' })
const ctx = await buildTestApp(t, { env: env(KEY_A) })
const restart = (key: string): Promise<TestApp> =>
  buildTestApp(t, { database: ctx.database, clock: ctx.clock, env: env(key) })
const k = agreementKit(ctx)
const w = webhookKit(ctx)
const [alice, bob] = [await k.person('Alice'), await k.person('Bob')]
const { pid } = await k.partnership(alice, [bob])

/** Every row of the tables that hold secrets, as a dump would show them. */
async function dump(app: TestApp): Promise<string> {
  const keys = await app.database.rows(sql`select * from service_keys`)
  const hooks = await app.database.rows(sql`select * from webhooks`)
  return JSON.stringify([keys, hooks])
}
/** Every private key of the service, opened with the app's KEK (the test's way to know what must not leak). */
async function privateParts(app: TestApp): Promise<string[]> {
  const rows = await app.database.rows<{ kid: string; private_jwk: { sealed: string } }>(
    sql`select kid, private_jwk from service_keys`
  )
  return rows.map((r) => JSON.parse(app.deps.kek.open(r.private_jwk.sealed, `accord:service-key:${r.kid}`)).d as string)
}
const forms = (d: string) => [
  d,
  Buffer.from(d, 'base64url').toString('base64'),
  Buffer.from(d, 'base64url').toString('hex')
]
const forms64 = (secret: string) => [secret, secret.slice('whsec_'.length)]
async function drain(app: TestApp) {
  while ((await deliverDue(app.deps)).claimed > 0);
}
/** A delivery the receiver got, verified with the secret shown at creation. */
async function deliveredAndVerified(app: TestApp, secret: string, hooked: Awaited<ReturnType<typeof receiver>>) {
  const before = hooked.received.length
  await k.activeAgreement(alice, [bob], pid)
  await drain(app)
  const fresh = hooked.received.slice(before)
  if (fresh.length === 0) throw new Error('nothing delivered')
  for (const r of fresh) new Webhook(secret).verify(r.body, r.headers)
  return fresh.length
}
async function signsAndVerifies(app: TestApp, t: Test) {
  const aid = await k.activeAgreement(alice, [bob], pid)
  const signatures = (await k.version(alice, pid, aid, 1)).body.signatures as { receipt: string }[]
  for (const s of signatures)
    t.match(await app.deps.keys.verifyJws(s.receipt, 'accord-receipt+jws'), { ok: true }, 'a receipt verifies')
  const token = await app.token(alice.sub, { name: alice.name })
  const me = await app.request({ method: 'GET', url: '/v1/me', token })
  t.equal(me.statusCode, 200, 'a token it signs is accepted')
}

const hooked = await receiver(t)
const hook = await w.created(alice, pid, hooked.url)

t.test('a dump of the database alone holds no private key and no webhook secret', async (t) => {
  t.match(hook.secret, /^whsec_/)
  const text = await dump(ctx)
  for (const s of forms64(hook.secret)) t.notOk(text.includes(s), 'no webhook secret')
  const ds = await privateParts(ctx)
  t.equal(ds.length, 1)
  for (const d of ds) for (const f of forms(d)) t.notOk(text.includes(f), 'no private key material')
  t.notOk(/"d"\s*:/.test(text), 'no JWK private member')
  const [row] = await ctx.database.rows<{ secret_scheme: string }>(
    sql`select secret_scheme from webhooks where id = ${hook.id}`
  )
  t.equal(row?.secret_scheme, 'kek-v1')
  await signsAndVerifies(ctx, t)
  t.ok(await deliveredAndVerified(ctx, hook.secret, hooked), 'deliveries verify with the secret shown at creation')
})

t.test('a start with another SECRET_KEY fails with a clear error', async (t) => {
  await t.rejects(restart(KEY_B), { name: 'KekError', message: /does not open the service key .* SECRET_KEY/ })
  await t.rejects(
    buildTestApp(t, { database: ctx.database, env: { WEBHOOK_ALLOW_PRIVATE: 'true' } }),
    KekError,
    'nor with none (an ephemeral key)'
  )
})

t.test('secrets stored in the clear before sealing existed are sealed at start', async (t) => {
  // The old way: the active key's JWK as it is, a retired key too, and a `plain-v0` webhook secret.
  const [active] = await ctx.database.rows<{ kid: string; private_jwk: { sealed: string } }>(
    sql`select kid, private_jwk from service_keys where status = 'active'`
  )
  const activeJwk = JSON.parse(ctx.deps.kek.open(active!.private_jwk.sealed, `accord:service-key:${active!.kid}`))
  await ctx.database.rows(
    sql`update service_keys set private_jwk = ${JSON.stringify(activeJwk)}::jsonb where kid = ${active!.kid}`
  )
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
  const oldJwk = { ...(await exportJWK(privateKey)), kid: 'old-plain', alg: 'EdDSA' }
  await ctx.database.rows(
    sql`insert into service_keys (kid, status, public_jwk, private_jwk, created_at) values ('old-plain', 'retired', ${JSON.stringify({ ...(await exportJWK(publicKey)), kid: 'old-plain', alg: 'EdDSA', use: 'sig' })}::jsonb, ${JSON.stringify(oldJwk)}::jsonb, now())`
  )
  await ctx.database.rows(
    sql`update webhooks set secret_scheme = 'plain-v0', secret_ciphertext = ${hook.secret} where id = ${hook.id}`
  )
  t.ok((await dump(ctx)).includes(hook.secret), 'arranged: the secret is in the clear')

  const app = await restart(KEY_A)
  t.equal(app.deps.keys.kid, active!.kid, 'the same signing key')
  const text = await dump(app)
  for (const s of forms64(hook.secret)) t.notOk(text.includes(s), 'the webhook secret is sealed')
  for (const d of [activeJwk.d, oldJwk.d]) for (const f of forms(d)) t.notOk(text.includes(f), 'each key is sealed')
  t.same((await privateParts(app)).sort(), [activeJwk.d, oldJwk.d].sort(), 'and opens to what it was')
  const [row] = await app.database.rows<{ secret_scheme: string }>(
    sql`select secret_scheme from webhooks where id = ${hook.id}`
  )
  t.equal(row?.secret_scheme, 'kek-v1')
  await signsAndVerifies(app, t)
  t.ok(await deliveredAndVerified(app, hook.secret, hooked), 'deliveries still verify with the same secret')
})

t.test('rotating the KEK re-seals every secret: the service starts with the new key, not the old', async (t) => {
  const before = await dump(ctx)
  const moved = await rotateSecretKey(
    ctx.database.db,
    kekOf(Buffer.from(KEY_A, 'base64'), 'SECRET_KEY'),
    kekOf(Buffer.from(KEY_B, 'base64'), 'SECRET_KEY')
  )
  t.same(moved, { serviceKeys: 2, webhooks: 1, serverSecrets: 3, dataKeys: 0 })
  t.not(await dump(ctx), before, 'the ciphertexts changed')
  await t.rejects(restart(KEY_A), KekError, 'the old key opens nothing')
  const app = await restart(KEY_B)
  await signsAndVerifies(app, t)
  t.ok(await deliveredAndVerified(app, hook.secret, hooked), 'deliveries verify with the secret shown at creation')
  await t.rejects(
    rotateSecretKey(
      ctx.database.db,
      kekOf(Buffer.from(KEY_A, 'base64'), 'SECRET_KEY'),
      kekOf(randomBytes(32), 'SECRET_KEY')
    ),
    KekError,
    'a rotation from a key that does not fit changes nothing'
  )
  await restart(KEY_B)
})

t.test('the key file: made with mode 0600 beside the data, refused when others can read it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'accord-kek-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const dataDir = join(dir, 'data')
  const config = loadConfig({ DATA_DIR: dataDir })
  t.equal(config.secrets.keyFile, join(dataDir, 'secret.key'))
  const first = loadKek(config.secrets)
  t.equal(first.source, 'key file')
  t.equal(statSync(config.secrets.keyFile!).mode & 0o777, 0o600)
  const again = loadKek(config.secrets)
  t.equal(again.open(first.seal('x', 'p'), 'p'), 'x', 'the next start reads the same key')
  chmodSync(config.secrets.keyFile!, 0o640)
  t.throws(() => loadKek(config.secrets), { name: 'KekError', message: /readable by others \(mode 0640\).*chmod 600/ })
  chmodSync(config.secrets.keyFile!, 0o604)
  t.throws(() => loadKek(config.secrets), KekError)
  t.equal(loadConfig({ DATA_DIR: ':memory:' }).secrets.keyFile, null, 'in memory: no file (an ephemeral key)')
  t.equal(loadKek(loadConfig({ DATA_DIR: ':memory:' }).secrets).source, 'ephemeral')
})

t.test('SECRET_KEY must be the base64 of exactly 32 bytes', async (t) => {
  const message = /SECRET_KEY: must be the base64 of exactly 32 bytes/
  for (const bad of [
    'secret',
    randomBytes(31).toString('base64'),
    randomBytes(33).toString('base64'),
    randomBytes(32).toString('base64url'),
    randomBytes(32).toString('hex')
  ])
    t.throws(() => loadConfig({ SECRET_KEY: bad }), { name: 'ConfigError', message }, bad)
  t.throws(() => loadConfig({ NEW_SECRET_KEY: 'short' }), ConfigError)
  t.equal(loadConfig({ SECRET_KEY: KEY_A }).secrets.key, KEY_A)
  t.throws(() => loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://x/y', DATA_DIR: ':memory:' }), {
    message: /SECRET_KEY: required in production/
  })
})

t.test(
  "a rotation moves every person's data key and the server secrets: texts and idempotent answers survive it",
  async (t) => {
    // Sealed under KEY_B since the rotation above: an instance started with it writes.
    const onB = await restart(KEY_B)
    const aid = await k.activeAgreement(alice, [bob], pid)
    const words = 'Thank you for the walk, and for listening.'
    const key = randomBytes(8).toString('hex')
    const appreciate = (app: TestApp) =>
      app.request({
        method: 'POST',
        url: `/v1/partnerships/${pid}/agreements/${aid}/appreciations`,
        token: alice.token,
        headers: { 'idempotency-key': key },
        body: { text: words }
      })
    const first = await appreciate(onB)
    t.equal(first.statusCode, 201)
    const texts = async (app: TestApp) => (await incidentKit(app).allAppreciations(bob, pid, aid)).map((a) => a.text)

    const moved = await rotateSecretKey(
      ctx.database.db,
      kekOf(Buffer.from(KEY_B, 'base64'), 'SECRET_KEY'),
      kekOf(Buffer.from(KEY_C, 'base64'), 'SECRET_KEY')
    )
    t.match(moved, { serverSecrets: 3 })
    const [count] = await ctx.database.rows<{ n: number }>(sql`select count(*)::int as n from data_keys`)
    t.equal(moved.dataKeys, count?.n, 'every data key moved')
    t.ok(moved.dataKeys >= 1)
    await t.rejects(restart(KEY_B), KekError, 'the old key opens nothing')
    const afterC = await restart(KEY_C)
    t.same(await texts(afterC), [words], 'her words still open')
    const replay = await appreciate(afterC)
    t.equal(replay.statusCode, 201)
    t.equal(replay.headers['idempotent-replayed'], 'true', 'the stored answer still opens (same server secret)')
    t.equal(replay.body, first.body)
  }
)

t.test(
  'SECRET_KEY rotation without downtime: SECRET_KEY_EXTRA opens, secrets:reseal moves, then the old key is dropped',
  async (t) => {
    const i = incidentKit(await restart(KEY_C))
    const aid = await k.activeAgreement(alice, [bob], pid)
    const KEY_D = randomBytes(32).toString('base64')
    const withExtra = (key: string, extra: string) =>
      buildTestApp(t, {
        database: ctx.database,
        clock: ctx.clock,
        env: { SECRET_KEY: key, SECRET_KEY_EXTRA: extra, WEBHOOK_ALLOW_PRIVATE: 'true' }
      })
    const before = (await i.allAppreciations(bob, pid, aid)).map((a) => a.text)
    // Step 1: every instance learns the new key (still sealing with the old); step 2: they seal with the new one.
    const step1 = await withExtra(KEY_C, KEY_D)
    const step2 = await withExtra(KEY_D, KEY_C)
    t.same(
      (await i.allAppreciations(bob, pid, aid)).map((a) => a.text),
      before,
      'texts under the old key open'
    )
    const mine = `Bob's first text, under the new key ${randomBytes(4).toString('hex')}`
    t.equal(
      (
        await step2.request({
          method: 'POST',
          url: `/v1/partnerships/${pid}/agreements/${aid}/appreciations`,
          token: bob.token,
          body: { text: mine }
        })
      ).statusCode,
      201
    )
    // Bob's data key was made by an instance of step 2: one of step 1 opens it too.
    const fromStep1 = await step1.request({
      method: 'GET',
      url: `/v1/partnerships/${pid}/agreements/${aid}/appreciations?limit=100`,
      token: bob.token
    })
    t.ok(
      fromStep1.json().items.some((a: { text: string }) => a.text === mine),
      'an instance of step 1 opens it'
    )
    // The same, below the cache of opened data keys that every app of this process shares: the KEK of step 1
    // opens Bob's data key through SECRET_KEY_EXTRA alone, and the old key by itself does not.
    const [bobsKey] = await ctx.database.rows<{ sealed_key: string }>(
      sql`select sealed_key from data_keys where user_id = ${bob.id}`
    )
    const purpose = `accord:data-key:${bob.id}`
    t.doesNotThrow(() =>
      kekOf(Buffer.from(KEY_C, 'base64'), 'SECRET_KEY', [Buffer.from(KEY_D, 'base64')]).open(
        bobsKey!.sealed_key,
        purpose
      )
    )
    t.throws(() => kekOf(Buffer.from(KEY_C, 'base64'), 'SECRET_KEY').open(bobsKey!.sealed_key, purpose))
    // Step 3: re-seal while serving.
    const moved = await resealSecrets(
      ctx.database.db,
      kekOf(Buffer.from(KEY_D, 'base64'), 'SECRET_KEY', [Buffer.from(KEY_C, 'base64')])
    )
    t.match(moved, { serviceKeys: 2, webhooks: 1, serverSecrets: 3 })
    t.ok(moved.dataKeys >= 1)
    // Step 4: the old key is dropped; it opens nothing any more.
    await t.rejects(restart(KEY_C), KekError, 'the old key opens nothing')
    const after = await restart(KEY_D)
    const texts = (await incidentKit(after).allAppreciations(bob, pid, aid)).map((a) => a.text)
    t.same(texts, [...before, mine], 'every text opens under the new key alone')
    await signsAndVerifies(after, t)
    t.ok(await deliveredAndVerified(after, hook.secret, hooked), 'webhook deliveries still verify')
    t.same(
      await resealSecrets(ctx.database.db, kekOf(Buffer.from(KEY_D, 'base64'), 'SECRET_KEY')),
      moved,
      'again: harmless'
    )
    t.throws(() => loadConfig({ SECRET_KEY_EXTRA: 'short' }), { name: 'ConfigError', message: /SECRET_KEY_EXTRA/ })
    t.same(loadConfig({ SECRET_KEY_EXTRA: `${KEY_C}, ${KEY_D}` }).secrets.extraKeys, [KEY_C, KEY_D])
  }
)

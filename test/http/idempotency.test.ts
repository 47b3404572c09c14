import { createCipheriv, createHash, hkdfSync, randomBytes, randomUUID } from 'node:crypto'
import canonicalize from 'canonicalize'
import { sql } from 'drizzle-orm'
import t from 'tap'
import { z } from 'zod'
import { DomainError } from '../../src/errors.ts'
import { callerOf, secured } from '../../src/http/auth.ts'
import { anyVersion } from '../../src/http/etag.ts'
import { updateProfile } from '../../src/users/user.service.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isProblem, problemOf } from '../helpers/problems.ts'

// A real route with a real side effect: each execution renames the caller and bumps their version,
// so "the work was done twice" is visible through GET /v1/me.
let gate: Promise<void> | null = null
let entered: (() => void) | null = null
let failNext = false
const ctx = await buildTestApp(t, {
  register(app, deps) {
    app.post(
      '/v1/test/renames',
      {
        schema: {
          security: secured(),
          body: z.strictObject({
            displayName: z.string().min(1),
            outcome: z.enum(['ok', 'conflict', 'slow', 'lost']).default('ok')
          })
        }
      },
      async (request, reply) => {
        const body = request.body as { displayName: string; outcome: string }
        if (body.outcome === 'slow') {
          entered?.()
          await gate
        }
        if (failNext) {
          failNext = false
          throw new Error('transient')
        }
        if (body.outcome === 'conflict') throw new DomainError('CONFLICT', 'not now')
        const user = await updateProfile(deps, {
          userId: callerOf(request).userId,
          precondition: anyVersion,
          patch: { displayName: body.displayName }
        })
        // The work committed, then the answer was lost (as when the process dies before recording it).
        if (body.outcome === 'lost') throw new Error('died after the commit')
        return reply
          .code(201)
          .header('location', `/v1/test/renames/${user.revision}`)
          .send({ version: user.revision, nonce: randomUUID() })
      }
    )
  }
})

const alice = await ctx.token('alice')
const versionOf = async (token: string) => (await ctx.request({ method: 'GET', url: '/v1/me', token })).json()
const post = (token: string, key: string | undefined, body: unknown, url = '/v1/test/renames') =>
  ctx.request({ method: 'POST', url, token, body, headers: key === undefined ? {} : { 'idempotency-key': key } })

t.test('Idempotency-Key', async (t) => {
  t.test('a retry with the same key and body replays the first response without redoing the work', async (t) => {
    const key = randomUUID()
    const first = await post(alice, key, { displayName: 'A1' })
    t.equal(first.statusCode, 201)
    const before = await versionOf(alice)
    const retry = await post(alice, key, { displayName: 'A1' })
    t.equal(retry.statusCode, 201)
    t.equal(retry.body, first.body, 'same body, byte for byte')
    t.equal(retry.headers.location, first.headers.location)
    t.equal(retry.headers['idempotent-replayed'], 'true')
    t.same(await versionOf(alice), before, 'the work was done once')
  })

  t.test('the same key with another body is 422 and does nothing', async (t) => {
    const key = randomUUID()
    await post(alice, key, { displayName: 'B1' })
    const before = await versionOf(alice)
    const res = await post(alice, key, { displayName: 'B2' })
    isProblem(t, res, 422, 'idempotency-key-reused', 'the same key, another body')
    t.same(await versionOf(alice), before)
  })

  t.test('the same key while the first request runs is 409; afterwards it replays', async (t) => {
    const key = randomUUID()
    let release!: () => void
    gate = new Promise((resolve) => {
      release = resolve
    })
    const inside = new Promise<void>((resolve) => {
      entered = resolve
    })
    const first = post(alice, key, { displayName: 'C1', outcome: 'slow' })
    await inside
    const concurrent = await post(alice, key, { displayName: 'C1', outcome: 'slow' })
    isProblem(t, concurrent, 409, 'idempotency-key-in-use', 'the same key while the first runs')
    t.equal(concurrent.headers['retry-after'], '1')
    release()
    const done = await first
    t.equal(done.statusCode, 201)
    const after = await post(alice, key, { displayName: 'C1', outcome: 'slow' })
    t.equal(after.body, done.body)
    gate = null
  })

  t.test('keys are scoped per caller and per route', async (t) => {
    const key = randomUUID()
    const bob = await ctx.token('bob')
    const a = await post(alice, key, { displayName: 'D1' })
    const b = await post(bob, key, { displayName: 'D1' })
    t.equal(b.statusCode, 201)
    t.not(b.body, a.body, "another caller's key is another key")
    for (const spelling of ['/v1/test/renames/', '/v1/test/renames?x=1', '/v1/test/renames/?']) {
      const again = await post(alice, key, { displayName: 'D1' }, spelling)
      t.equal(again.headers['idempotent-replayed'], 'true', `${spelling} is the same route: replayed`)
      t.equal(again.body, a.body)
    }
  })

  t.test(
    'the scope is the matched route and its parameters, however the URL is spelled (class: one request done twice)',
    async (t) => {
      const carol = await ctx.token('carol-scope')
      const key = randomUUID()
      const created: string[] = []
      for (const url of ['/v1/partnerships', '/v1/partnerships/', '/v1/partnerships?via=query', '/v1/partnerships//']) {
        const res = await ctx.request({
          method: 'POST',
          url,
          token: carol,
          headers: { 'idempotency-key': key },
          body: { name: 'Once', timezone: 'Europe/Paris' }
        })
        if (res.statusCode === 201) created.push(res.json().id)
      }
      t.equal(new Set(created).size, 1, 'one partnership, whatever the spelling')
      const list = (await ctx.request({ method: 'GET', url: '/v1/partnerships', token: carol })).json()
      t.equal(list.items.filter((p: { name: string }) => p.name === 'Once').length, 1, 'and only one exists')
      // Another resource under the same key is other work: an invitation to each of two partnerships.
      const other = (
        await ctx.request({
          method: 'POST',
          url: '/v1/partnerships',
          token: carol,
          body: { name: 'Twice', timezone: 'Europe/Paris' }
        })
      ).json().id
      const inviteKey = randomUUID()
      const first = await ctx.request({
        method: 'POST',
        url: `/v1/partnerships/${created[0]}/invitations`,
        token: carol,
        headers: { 'idempotency-key': inviteKey },
        body: { role: 'partner' }
      })
      const upper = await ctx.request({
        method: 'POST',
        url: `/v1/partnerships/${String(created[0]).toUpperCase()}/invitations`,
        token: carol,
        headers: { 'idempotency-key': inviteKey },
        body: { role: 'partner' }
      })
      t.equal(upper.headers['idempotent-replayed'], 'true', 'the same id in upper case is the same resource')
      t.equal(upper.body, first.body)
      const second = await ctx.request({
        method: 'POST',
        url: `/v1/partnerships/${other}/invitations`,
        token: carol,
        headers: { 'idempotency-key': inviteKey },
        body: { role: 'partner' }
      })
      t.equal(second.statusCode, 201, 'the same key on another partnership is another request')
      t.notOk(second.headers['idempotent-replayed'])
    }
  )

  t.test('client errors are stored and replayed; server errors are not (a retry does the work)', async (t) => {
    const key = randomUUID()
    const conflict = await post(alice, key, { displayName: 'E1', outcome: 'conflict' })
    t.equal(conflict.statusCode, 409)
    const replay = await post(alice, key, { displayName: 'E1', outcome: 'conflict' })
    t.equal(replay.statusCode, 409)
    t.equal(replay.headers['idempotent-replayed'], 'true')
    t.match(replay.headers['content-type'], /^application\/problem\+json/)

    const key2 = randomUUID()
    failNext = true
    const failed = await post(alice, key2, { displayName: 'E2' })
    t.equal(failed.statusCode, 500)
    const retried = await post(alice, key2, { displayName: 'E2' })
    t.equal(retried.statusCode, 201, 'the retry ran')
    t.notOk(retried.headers['idempotent-replayed'])
  })

  t.test(
    'work that committed is never done again, even when its answer was lost (class: a retry after a crash doing the work twice)',
    async (t) => {
      const key = randomUUID()
      const revision = async () =>
        Number(
          String((await ctx.request({ method: 'GET', url: '/v1/me', token: alice })).headers.etag).replace(/\D/g, '')
        )
      const before = await revision()
      const lost = await post(alice, key, { displayName: 'L1', outcome: 'lost' })
      isProblem(
        t,
        lost,
        503,
        'saved-answer-lost',
        'the answer was lost, and it says the change was saved, not that nothing changed'
      )
      t.equal(await revision(), before + 1, 'but the work was done')
      for (let i = 0; i < 3; i++) {
        const retry = await post(alice, key, { displayName: 'L1', outcome: 'lost' })
        isProblem(
          t,
          retry,
          409,
          'idempotent-request-done',
          `retry ${i + 1}: it says the work was done and will not run again`
        )
      }
      t.equal(await revision(), before + 1, 'and it was not done again')
      isProblem(
        t,
        await post(alice, key, { displayName: 'L2', outcome: 'lost' }),
        422,
        'idempotency-key-reused',
        'another body under that key'
      )
    }
  )

  t.test(
    'an answer that cannot be kept for retries is not sent as a success (class: a replay promised and not given)',
    async (t) => {
      const dana = await ctx.token('dana-record')
      const key = randomUUID()
      await ctx.database.rows(
        sql.raw(
          `create function refuse_done() returns trigger language plpgsql as $$ begin raise exception using message = 'stand-in for a database gone after the commit', errcode = '08006'; end $$`
        )
      )
      await ctx.database.rows(
        sql.raw(
          `create trigger refuse_done before update on idempotency_keys for each row when (new.state = 'done') execute function refuse_done()`
        )
      )
      const first = await ctx.request({
        method: 'POST',
        url: '/v1/partnerships',
        token: dana,
        headers: { 'idempotency-key': key },
        body: { name: 'Kept once', timezone: 'UTC' }
      })
      await ctx.database.rows(sql.raw('drop trigger refuse_done on idempotency_keys'))
      await ctx.database.rows(sql.raw('drop function refuse_done()'))
      isProblem(t, first, 503, 'saved-answer-lost', 'not a 201 nobody could replay: it says the change was saved')
      t.notOk(first.headers.location, 'and names no resource')
      const retry = await ctx.request({
        method: 'POST',
        url: '/v1/partnerships',
        token: dana,
        headers: { 'idempotency-key': key },
        body: { name: 'Kept once', timezone: 'UTC' }
      })
      isProblem(t, retry, 409, 'idempotent-request-done', 'the retry learns it was done')
      const mine = (await ctx.request({ method: 'GET', url: '/v1/partnerships', token: dana })).json().items
      t.equal(mine.filter((p: { name: string }) => p.name === 'Kept once').length, 1, 'and it was done once')
    }
  )

  t.test('a request that failed validation claims nothing', async (t) => {
    const key = randomUUID()
    t.equal((await post(alice, key, { displayName: '' })).statusCode, 400)
    t.equal((await post(alice, key, { displayName: 'F1' })).statusCode, 201)
  })

  t.test('a malformed key is 400', async (t) => {
    for (const key of ['', 'has space', 'x'.repeat(256), 'naïve']) {
      const res = await post(alice, key, { displayName: 'G1' })
      isProblem(t, res, 400, 'validation-failed', JSON.stringify(key))
      t.match(problemOf(res).errors, [{ in: 'header', path: '/idempotency-key' }], 'named as the documented header')
    }
  })

  t.test('a key is remembered for 24 hours, then is new again', async (t) => {
    const key = randomUUID()
    const first = await post(alice, key, { displayName: 'H1' })
    ctx.clock.advance(23 * 3600_000)
    const aliceLater = await ctx.token('alice')
    t.equal((await post(aliceLater, key, { displayName: 'H1' })).body, first.body, 'replayed at 23 h')
    ctx.clock.advance(2 * 3600_000)
    const later = await post(await ctx.token('alice'), key, { displayName: 'H1' })
    t.equal(later.statusCode, 201)
    t.not(later.body, first.body, 'done again after 24 h')
  })

  t.test('a key held by a request whose process died is taken over after its lease', async (t) => {
    const key = randomUUID()
    let release!: () => void
    gate = new Promise((resolve) => {
      release = resolve
    })
    const inside = new Promise<void>((resolve) => {
      entered = resolve
    })
    const fresh = await ctx.token('alice')
    const stuck = post(fresh, key, { displayName: 'I1', outcome: 'slow' })
    await inside
    ctx.clock.advance(61_000)
    gate = null
    const takeover = await post(fresh, key, { displayName: 'I1', outcome: 'slow' })
    t.equal(takeover.statusCode, 201)
    release()
    await stuck
  })
})

// The hooks run on POST routes only (the one method that takes a key): added to each as it is registered, so a
// POST route registered after the plugin can never go without them, and a GET pays for neither.
t.test('every POST route, and no route of another method, claims and records Idempotency-Keys', async (t) => {
  const count = (tree: string, what: RegExp) => tree.match(what)?.length ?? 0
  const posts = ctx.app.printRoutes({ includeHooks: true, commonPrefix: false, method: 'POST' })
  const routes = count(posts, /\(POST\)/g)
  t.ok(routes > 20, `${routes} POST routes`)
  t.equal(count(posts, /\(preHandler\) \[[^\]]*"claimHook\(\)"/g), routes, 'each claims the key before its handler')
  t.equal(count(posts, /\(onSend\) \[[^\]]*"answerHook\(\)"/g), routes, 'each records or releases it with its answer')
  for (const method of ['GET', 'PUT', 'PATCH', 'DELETE']) {
    const tree = ctx.app.printRoutes({ includeHooks: true, commonPrefix: false, method })
    t.notMatch(tree, /claimHook|answerHook/, `no ${method} route runs them`)
  }
})

t.test('records from before the server secret (scheme 1) are still answered until they expire', async (t) => {
  const token = await ctx.token('legacy-lena')
  const me = (await ctx.request({ method: 'GET', url: '/v1/me', token })).json()
  const path = '/v1/partnerships'
  const now = ctx.clock.now()
  /** A record as the previous version stored it: under the client's key alone, headers beside the body. */
  const legacyRow = async (key: string, body: unknown, state: 'done' | 'running', answer: string) => {
    const seal = Buffer.from(hkdfSync('sha256', key, me.id, 'accord idempotent response', 32))
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', seal, iv)
    const data = Buffer.concat([cipher.update(answer, 'utf8'), cipher.final()])
    const sealed = `v1.${iv.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}.${data.toString('base64url')}`
    await ctx.database.rows(sql`insert into idempotency_keys
      (id, user_id, method, path, key, fingerprint, scheme, state, lease_until, status_code, headers, body, created_at, expires_at)
      values (${randomUUID()}, ${me.id}, 'POST', ${path}, ${createHash('sha256').update(key).digest('base64url')},
        ${createHash('sha256').update(canonicalize(body)!).update('\0').update(path).digest('base64url')}, 1, ${state},
        ${new Date(now.getTime() - 1000).toISOString()}, ${state === 'done' ? 201 : null},
        ${state === 'done' ? JSON.stringify({ 'content-type': 'application/json; charset=utf-8', location: '/v1/partnerships/kept' }) : null}::jsonb,
        ${state === 'done' ? sealed : null}, ${now.toISOString()}, ${new Date(now.getTime() + 86_400_000).toISOString()})`)
  }
  const body = { name: 'Kept', timezone: 'UTC' }
  const answer = JSON.stringify({ id: 'kept', name: 'Kept' })
  await legacyRow('legacy-done', body, 'done', answer)
  await legacyRow('legacy-dead', body, 'running', '')
  // A start after the upgrade, with those records in the table.
  const upgraded = await buildTestApp(t, { database: ctx.database, clock: ctx.clock })
  const send = (key: string, b: unknown) =>
    upgraded.request({ method: 'POST', url: path, token, body: b, headers: { 'idempotency-key': key } })
  const replayed = await send('legacy-done', body)
  t.equal(replayed.statusCode, 201)
  t.equal(replayed.headers['idempotent-replayed'], 'true')
  t.equal(replayed.body, answer, 'the answer the previous version stored, opened')
  t.equal(replayed.headers.location, '/v1/partnerships/kept')
  isProblem(t, await send('legacy-done', { name: 'Other', timezone: 'UTC' }), 422, 'idempotency-key-reused')
  const mine = async () =>
    (await upgraded.request({ method: 'GET', url: '/v1/partnerships', token })).json().items.length as number
  t.equal(await mine(), 0, 'nothing ran')
  const ran = await send('legacy-dead', body)
  t.equal(ran.statusCode, 201, 'a claim whose process died before committing runs, once')
  t.notOk(ran.headers['idempotent-replayed'])
  t.equal((await send('legacy-dead', body)).headers['idempotent-replayed'], 'true', 'and is replayed after')
  t.equal(await mine(), 1)
})

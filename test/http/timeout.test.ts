import { randomUUID } from 'node:crypto'
import t from 'tap'
import { z } from 'zod'
import { transaction } from '../../src/db/transaction.ts'
import { callerOf, publicRoute, secured } from '../../src/http/auth.ts'
import { updateUser } from '../../src/users/user.repo.ts'
import { buildTestApp } from '../helpers/app.ts'
import { isProblem } from '../helpers/problems.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

// A handler that never settles (a query stuck behind a proxy that drops connections, say) and one that is
// slow but in time, on an app whose requests may take 1 s (the least REQUEST_TIMEOUT_MS allows).
const ctx = await buildTestApp(t, {
  env: { REQUEST_TIMEOUT_MS: '1000' },
  register: (app) => {
    app.get('/test/hangs', { schema: { security: publicRoute } }, async () => new Promise(() => {}))
    app.get('/test/slow', { schema: { security: publicRoute } }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 600))
      return { ok: true }
    })
    // A use case whose transaction writes, then is still busy at the deadline, then would commit.
    app.post(
      '/test/slow-rename',
      { schema: { security: secured(), body: z.strictObject({ displayName: z.string(), busyMs: z.int() }) } },
      async (request) => {
        const { displayName, busyMs } = request.body as { displayName: string; busyMs: number }
        await transaction(deps.db, async (tx) => {
          await updateUser(tx, callerOf(request).userId, { displayName }, new Date())
          await sleep(busyMs)
        })
        return { ok: true }
      }
    )
  }
})
const { deps } = ctx

t.test('a handler that never answers gets a 503 timed-out problem once REQUEST_TIMEOUT_MS has passed', async (t) => {
  const started = Date.now()
  const res = await ctx.request({ method: 'GET', url: '/test/hangs' })
  const ms = Date.now() - started
  t.equal(res.statusCode, 503)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  t.match(res.json(), { code: 'timed-out', status: 503 })
  t.equal(res.headers['retry-after'], '5')
  t.ok(ms >= 950 && ms < 5000, `answered after the limit, not before and not long after (${ms} ms)`)
})

t.test('a handler that answers in time is answered as it wrote, and nothing fires later', async (t) => {
  const res = await ctx.request({ method: 'GET', url: '/test/slow' })
  t.equal(res.statusCode, 200)
  t.same(res.json(), { ok: true })
  await new Promise((resolve) => setTimeout(resolve, 600))
  const again = await ctx.request({ method: 'GET', url: '/healthz' })
  t.equal(again.statusCode, 200, "the app still answers after the first request's limit has passed")
})

t.test(
  'a request answered 503 at its deadline changes nothing, even when its work finishes later (class: failed but applied)',
  async (t) => {
    const token = await ctx.token(`slow-${randomUUID()}`, { name: 'Before' })
    const me = async () => (await ctx.request({ method: 'GET', url: '/v1/me', token })).json()
    t.equal((await me()).displayName, 'Before')
    for (const key of [undefined, randomUUID()]) {
      const res = await ctx.request({
        method: 'POST',
        url: '/test/slow-rename',
        token,
        body: { displayName: 'After', busyMs: 1500 },
        headers: key ? { 'idempotency-key': key } : {}
      })
      isProblem(t, res, 503, 'timed-out', `answered at the deadline${key ? ' (with an Idempotency-Key)' : ''}`)
      await sleep(1000) // the work finishes meanwhile, and is refused at its commit
      t.equal((await me()).displayName, 'Before', 'its write was rolled back, not committed late')
      if (key) {
        const retry = await ctx.request({
          method: 'POST',
          url: '/test/slow-rename',
          token,
          body: { displayName: 'Retried', busyMs: 0 },
          headers: { 'idempotency-key': key }
        })
        t.equal(retry.statusCode, 200, 'the key was released with the work undone: the retry runs, and once')
        t.equal((await me()).displayName, 'Retried')
      }
    }
    const fast = await ctx.request({
      method: 'POST',
      url: '/test/slow-rename',
      token,
      body: { displayName: 'In time', busyMs: 0 }
    })
    t.equal(fast.statusCode, 200)
    t.equal((await me()).displayName, 'In time', 'work within the deadline commits')
  }
)

import t from 'tap'
import { publicRoute } from '../../src/http/auth.ts'
import { buildTestApp } from '../helpers/app.ts'

// A handler that never settles (a query stuck behind a proxy that drops connections, say) and one that is
// slow but in time, on an app whose requests may take 1 s (the least REQUEST_TIMEOUT_MS allows).
const ctx = await buildTestApp(t, {
  env: { REQUEST_TIMEOUT_MS: '1000' },
  register: (app) => {
    app.get('/test/hangs', { schema: { security: publicRoute } }, async () => new Promise(() => {}))
    app.get('/test/slow', { schema: { security: publicRoute } }, async () => { await new Promise((resolve) => setTimeout(resolve, 600)); return { ok: true } })
  }
})

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
  t.equal(again.statusCode, 200, 'the app still answers after the first request\'s limit has passed')
})

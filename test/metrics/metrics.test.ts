import { sql } from 'drizzle-orm'
import t from 'tap'
import type { Db } from '../../src/db/client.ts'
import { PLANNED_METRICS } from '../../src/metrics/metrics.ts'
import { runDueWork } from '../../src/scheduler/scheduler.ts'
import { agreementKit } from '../helpers/agreements.ts'
import { buildTestApp } from '../helpers/app.ts'
import { reviewKit, weekly } from '../helpers/reviews.ts'

// One connection on both databases, so that the pool's gauges read the same on PGlite and PostgreSQL.
const ctx = await buildTestApp(t, { env: { DATABASE_POOL_MAX: '1' } })
const k = agreementKit(ctx)
const r = reviewKit(ctx, k)

const scrape = async (): Promise<string> => {
  const res = await ctx.request({ method: 'GET', url: '/metrics' })
  if (res.statusCode !== 200) throw new Error(`GET /metrics: ${res.statusCode} ${res.body}`)
  return res.body
}

/** The value of one sample (name and exact labels, in the order prom-client writes them), or undefined. */
function sample(body: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const text = Object.entries(labels)
    .map(([key, value]) => `${key}="${value}"`)
    .join(',')
  const prefix = text === '' ? `${name} ` : `${name}{${text}} `
  const line = body.split('\n').find((l) => l.startsWith(prefix))
  return line === undefined ? undefined : Number(line.slice(prefix.length))
}

const AGREEMENT = '/v1/partnerships/:pid/agreements/:aid'

t.test('GET /metrics counts requests by route template, method and status, and no id leaks', async (t) => {
  const res = await ctx.request({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/, 'Prometheus text format')
  t.equal(res.headers['cache-control'], 'no-store', 'carries the headers every answer carries')

  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const p = await k.partnership(alice, [bob])
  const created = await k.create(alice, p.pid)
  const aid: string = created.id
  const before = await scrape()
  const seen = (status: string) =>
    sample(before, 'accord_http_requests_total', { method: 'GET', route: AGREEMENT, status_code: status }) ?? 0
  const [ok, missing] = [seen('200'), seen('404')]

  for (let i = 0; i < 3; i++) await k.agreement(alice, p.pid, aid)
  const unknown = '01900000-0000-7000-8000-000000000000'
  const notFound = await ctx.request({
    method: 'GET',
    url: `/v1/partnerships/${p.pid}/agreements/${unknown}`,
    token: alice.token
  })
  t.equal(notFound.statusCode, 404)

  const body = await scrape()
  const labels = { method: 'GET', route: AGREEMENT, status_code: '200' }
  t.equal(sample(body, 'accord_http_requests_total', labels), ok + 3, 'three more 200s on the template')
  t.equal(
    sample(body, 'accord_http_requests_total', { ...labels, status_code: '404' }),
    missing + 1,
    'and one 404, under the same template'
  )
  t.equal(
    sample(body, 'accord_http_request_duration_seconds_count', labels),
    ok + 3,
    'the histogram counts what the counter counts'
  )
  t.ok(sample(body, 'accord_http_request_duration_seconds_bucket', { le: '+Inf', ...labels }), 'with its buckets')
  t.ok((sample(body, 'accord_http_request_duration_seconds_sum', labels) ?? 0) > 0, 'and a sum of seconds')
  t.ok(
    sample(body, 'accord_http_requests_total', { method: 'POST', route: '/v1/partnerships', status_code: '201' }),
    'POST /v1/partnerships 201 is there too'
  )
  for (const id of [p.pid, aid, unknown, alice.id, bob.id]) t.notOk(body.includes(id), `no id appears (${id})`)
})

t.test('URLs that match no route share one label, however many there are', async (t) => {
  const before = await scrape()
  const unmatched = { method: 'GET', route: '(unmatched)', status_code: '404' }
  const n = sample(before, 'accord_http_requests_total', unmatched) ?? 0
  const urls = ['/nope-a1b2c3', '/v1/partnerships/x/nothing-here-d4e5f6', '/wp-login.php?user=g7h8i9']
  for (const url of urls) t.equal((await ctx.request({ method: 'GET', url })).statusCode, 404)
  const body = await scrape()
  t.equal(sample(body, 'accord_http_requests_total', unmatched), n + urls.length, 'counted under (unmatched)')
  for (const marker of ['a1b2c3', 'd4e5f6', 'g7h8i9', 'wp-login']) t.notOk(body.includes(marker), `no ${marker}`)
  const routes = new Set(
    body
      .split('\n')
      .filter((l) => l.startsWith('accord_http_requests_total{'))
      .map((l) => /route="([^"]*)"/.exec(l)?.[1])
  )
  for (const route of routes) t.ok(route === '(unmatched)' || route?.startsWith('/'), `${route} is a template`)
})

t.test('the pool gauges show work holding the connection and work waiting for it', async (t) => {
  const idle = await scrape()
  t.equal(sample(idle, 'accord_db_pool_max'), 1, 'DATABASE_POOL_MAX=1 (PGlite is one connection anyway)')
  t.equal(sample(idle, 'accord_db_pool_connections_in_use'), 0, 'nothing in use between requests')
  t.equal(sample(idle, 'accord_db_pool_waiting'), 0, 'nothing waiting')

  const held = Promise.withResolvers<void>()
  const inside = Promise.withResolvers<void>()
  const transaction = ctx.deps.db.transaction(async (tx) => {
    await tx.execute(sql`select 1`)
    inside.resolve()
    await held.promise
  })
  await inside.promise
  const holding = await scrape()
  t.equal(sample(holding, 'accord_db_pool_connections_in_use'), 1, 'an open transaction holds the connection')
  t.equal(sample(holding, 'accord_db_pool_waiting'), 0)

  const query = ctx.database.rows(sql`select 1 as one`)
  const queued = await scrape()
  t.equal(sample(queued, 'accord_db_pool_connections_in_use'), 1, 'still one connection')
  t.equal(sample(queued, 'accord_db_pool_waiting'), 1, 'a statement waits for it')

  held.resolve()
  await transaction
  t.same(await query, [{ one: 1 }])
  const after = await scrape()
  t.equal(sample(after, 'accord_db_pool_connections_in_use'), 0, 'released')
  t.equal(sample(after, 'accord_db_pool_waiting'), 0, 'nothing left waiting')
})

t.test('scheduler passes are counted by outcome, with the reviews they opened', async (t) => {
  const before = await scrape()
  t.equal(
    sample(before, 'accord_scheduler_runs_total', { outcome: 'failed' }),
    0,
    'both outcomes are there from the start'
  )
  const runs = sample(before, 'accord_scheduler_runs_total', { outcome: 'ok' }) ?? 0
  const opened = sample(before, 'accord_scheduler_reviews_total', { action: 'opened' }) ?? 0

  const alice = await k.person('Alice')
  const bob = await k.person('Bob')
  const pid = await r.partnership('Europe/Paris', alice, [bob])
  const aid = await k.activeAgreement(alice, [bob], pid, weekly('Due'))
  await r.scheduledReview(alice, pid, aid, [alice, bob])

  const body = await scrape()
  t.equal(sample(body, 'accord_scheduler_runs_total', { outcome: 'ok' }), runs + 1, 'one more successful pass')
  t.equal(sample(body, 'accord_scheduler_reviews_total', { action: 'opened' }), opened + 1, 'it opened the review')
  t.equal(sample(body, 'accord_scheduler_due_reviews', { action: 'opened' }), 1, 'the last pass found one due')
  t.ok((sample(body, 'accord_scheduler_last_run_timestamp_seconds', { outcome: 'ok' }) ?? 0) > 0, 'and when it ended')

  await runDueWork(ctx.deps)
  t.equal(sample(await scrape(), 'accord_scheduler_due_reviews', { action: 'opened' }), 0, 'the next pass found none')

  const broken = { ...ctx.deps, db: {} as Db }
  await t.rejects(runDueWork(broken), 'a pass whose database fails')
  const failed = await scrape()
  t.equal(sample(failed, 'accord_scheduler_runs_total', { outcome: 'failed' }), 1, 'is counted as failed')
  t.equal(sample(failed, 'accord_scheduler_runs_total', { outcome: 'ok' }), runs + 2, 'and not as a success')
})

t.test('process metrics and the registry others add to', async (t) => {
  const body = await scrape()
  t.ok(sample(body, 'accord_process_resident_memory_bytes'), "prom-client's default process metrics")
  for (const planned of PLANNED_METRICS) t.notOk(body.includes(planned), `${planned} is planned, not faked`)

  let depth = 0
  ctx.deps.metrics.gauge({
    name: 'accord_test_queue_depth',
    help: 'A gauge a capability adds, read at scrape time',
    collect: (g) => g.set(depth)
  })
  depth = 7
  t.equal(sample(await scrape(), 'accord_test_queue_depth'), 7, 'a gauge added later is scraped')
  t.throws(() => ctx.deps.metrics.gauge({ name: 'accord_Bad-Name' as 'accord_x', help: 'x' }), 'names are checked')
})

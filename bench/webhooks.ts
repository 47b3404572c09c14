// The webhook bench: Accord on a fresh PostgreSQL database with its delivery worker on, a local receiver
// (node:http, keep-alive), partnerships each with WEBHOOKS_PER webhooks for "*", and renames written at a
// steady rate. Prints sustained deliveries/s, event-to-arrival latency p50/p99, and lost and duplicate
// messages. Loopback only, bounded in time. Needs PostgreSQL (BENCH_DATABASE_URL).
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import postgres from 'postgres'
import { cpuOf, freePort, freshDatabase, serverArgs, start, startEnv } from './common.ts'

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const DURATION_S = Number(process.env.BENCH_WEBHOOKS_DURATION_S ?? 20)
const PARTNERSHIPS = Number(process.env.BENCH_WEBHOOKS_PARTNERSHIPS ?? 20)
const WEBHOOKS_PER = Number(process.env.BENCH_WEBHOOKS_PER ?? 5)
const WRITES_PER_S = Number(process.env.BENCH_WEBHOOKS_WRITES_PER_S ?? 240)
const DRAIN_S = Number(process.env.BENCH_WEBHOOKS_DRAIN_S ?? 30)

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN

// The receiver: counts each webhook-id, and how long after its event it arrived.
const arrivals = new Map<string, number>()
const latencies: number[] = []
const arrivalTimes: number[] = []
const receiver = http.createServer({ keepAlive: true, keepAliveTimeout: 30_000 }, (req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => {
    const now = Date.now()
    const id = String(req.headers['webhook-id'])
    arrivals.set(id, (arrivals.get(id) ?? 0) + 1)
    const { timestamp } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { timestamp: string }
    latencies.push(now - Date.parse(timestamp))
    arrivalTimes.push(now)
    res.writeHead(204).end()
  })
})
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`

const DATABASE_URL = await freshDatabase(ADMIN_URL, 'accord_bench_webhooks')
const port = await freePort()
const base = `http://127.0.0.1:${port}`
const accord = await start(
  serverArgs(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean)),
  {
    ...startEnv,
    DATABASE_URL,
    PORT: String(port),
    LOG_LEVEL: 'warn',
    DATABASE_POOL_MAX: process.env.BENCH_WEBHOOKS_POOL ?? '8',
    RATE_LIMIT_PER_MINUTE: '1000000',
    SCHEDULER_INTERVAL_MS: '0',
    WEBHOOK_ALLOW_PRIVATE: 'true',
    ...(process.env.WEBHOOK_WORKER_INTERVAL_MS
      ? { WEBHOOK_WORKER_INTERVAL_MS: process.env.WEBHOOK_WORKER_INTERVAL_MS }
      : {})
  },
  `${base}/readyz`
)

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
function call(
  method: string,
  path: string,
  token: string | null,
  body?: unknown
): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const req = http.request(
      `${base}${path}`,
      {
        method,
        agent,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(payload ? { 'content-type': 'application/json' } : {}),
          ...(method === 'PATCH' ? { 'if-match': '*' } : {})
        }
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8').on('data', (c: string) => {
          text += c
        })
        res.on('end', () => resolve({ status: res.statusCode!, json: text ? JSON.parse(text) : null }))
      }
    )
    req.on('error', reject)
    req.end(payload)
  })
}

const token = (await call('POST', '/v1/dev/tokens', null, { sub: 'bench-alice', name: 'Alice' })).json.accessToken
const pids: string[] = []
for (let p = 0; p < PARTNERSHIPS; p++) {
  const pid = (await call('POST', '/v1/partnerships', token, { name: `Bench ${p}`, timezone: 'UTC' })).json.id
  for (let h = 0; h < WEBHOOKS_PER; h++) {
    const res = await call('POST', `/v1/partnerships/${pid}/webhooks`, token, { url: hookUrl, eventTypes: ['*'] })
    if (res.status !== 201) throw new Error(`webhook: ${res.status} ${JSON.stringify(res.json)}`)
  }
  pids.push(pid)
}
// Let the set-up's own deliveries (webhook.created) go first.
await new Promise((r) => setTimeout(r, 2000))
arrivals.clear()
latencies.length = 0
arrivalTimes.length = 0

const sql = postgres(DATABASE_URL, { max: 1, onnotice: () => {} })
const [{ before }] = await sql<[{ before: number }]>`select count(*)::int as before from webhook_deliveries`
const cpuBefore = cpuOf(accord.pid!)
const started = Date.now()
let writes = 0
let failedWrites = 0
const inFlight = new Set<Promise<void>>()
while (Date.now() - started < DURATION_S * 1000) {
  const due = Math.floor(((Date.now() - started) / 1000) * WRITES_PER_S)
  while (writes < due) {
    const pid = pids[writes % pids.length]!
    const p = call('PATCH', `/v1/partnerships/${pid}`, token, { name: `Name ${writes}` }).then(
      (r) => {
        if (r.status !== 200) failedWrites++
      },
      () => {
        failedWrites++
      }
    )
    inFlight.add(p)
    void p.finally(() => inFlight.delete(p))
    writes++
  }
  await new Promise((r) => setTimeout(r, 5))
}
await Promise.all(inFlight)
const writeEnd = Date.now()
const [{ expected }] = await sql<
  [{ expected: number }]
>`select count(*)::int - ${before}::int as expected from webhook_deliveries`
const drainStart = Date.now()
while (arrivals.size < expected && Date.now() - drainStart < DRAIN_S * 1000)
  await new Promise((r) => setTimeout(r, 100))
// Accord's CPU from the first write to the last delivery: the writes' requests and the deliveries, per delivery.
const cpuSeconds = cpuOf(accord.pid!) - cpuBefore
// The last deliveries to arrive may still be being recorded (a group's statement): up to 5 s for them, so that
// what is still pending after that is a delivery the worker did not settle.
const pendingNow = async () =>
  (
    await sql<[{ pending: number }]>`select count(*)::int as pending from webhook_deliveries where status = 'pending'`
  )[0].pending
let pending = await pendingNow()
for (const settleStart = Date.now(); pending > 0 && Date.now() - settleStart < 5000; pending = await pendingNow())
  await new Promise((r) => setTimeout(r, 100))
await sql.end()

const duplicates = [...arrivals.values()].filter((n) => n > 1).length
const inWindow = arrivalTimes.filter((t) => t >= started && t <= writeEnd).length
const sorted = [...latencies].sort((a, b) => a - b)
const last = Math.max(...arrivalTimes)
console.log(
  JSON.stringify(
    {
      partnerships: PARTNERSHIPS,
      webhooks_per_partnership: WEBHOOKS_PER,
      writes_per_s_target: WRITES_PER_S,
      writes,
      failed_writes: failedWrites,
      write_window_s: (writeEnd - started) / 1000,
      deliveries_expected: expected,
      deliveries_received: arrivals.size,
      deliveries_per_s_in_window: Math.round(inWindow / ((writeEnd - started) / 1000)),
      deliveries_per_s_overall: Math.round(arrivals.size / ((last - started) / 1000)),
      latency_ms_p50: percentile(sorted, 0.5),
      latency_ms_p99: percentile(sorted, 0.99),
      latency_ms_max: sorted.at(-1),
      server_cpu_us_per_delivery: Math.round((cpuSeconds / Math.max(1, arrivals.size)) * 1e6),
      lost: Math.max(0, expected - arrivals.size),
      duplicates,
      still_pending: pending
    },
    null,
    2
  )
)
accord.kill('SIGTERM')
await new Promise((r) => accord.once('exit', r))
agent.destroy()
receiver.closeAllConnections()
receiver.close()
const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} })
await admin.unsafe('drop database if exists accord_bench_webhooks with (force)')
await admin.end()

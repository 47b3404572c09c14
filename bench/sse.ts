// npm run bench:sse: the live log's fan-out. Two Accord instances on one PostgreSQL database, 1,000 event
// streams over 100 partnerships (half of each partnership's streams on each instance), and events written at
// 200 a second through both instances in turn, so half of what a subscriber receives was committed on the
// other instance (the wake-up then crosses PostgreSQL's LISTEN/NOTIFY). Measures, per event and subscriber,
// the time from the event's `at` (taken in its transaction, before the commit: so an upper bound of
// commit-to-subscriber) to its arrival, and counts what was lost, repeated or out of order. Loopback only,
// bounded in time. Prints a table and, last, one JSON line.
import { request } from 'node:http'
import postgres from 'postgres'
import { loadConfig } from '../src/config.ts'
import { createDb } from '../src/db/client.ts'
import { loadKek } from '../src/keys/kek.ts'
import { loadServiceKeys } from '../src/keys/key.service.ts'
import { accordEnv, freePort, freshDatabase, serverArgs, start } from './common.ts'

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const DB_NAME = 'accord_bench_sse'
const PARTNERSHIPS = Number(process.env.BENCH_SSE_PARTNERSHIPS ?? 100)
const SUBSCRIBERS = Number(process.env.BENCH_SSE_SUBSCRIBERS ?? 1000)
const RATE = Number(process.env.BENCH_SSE_RATE ?? 200)
const DURATION_S = Number(process.env.BENCH_SSE_DURATION_S ?? 20)
const log = (s: string) => process.stderr.write(`${s}\n`)

interface Subscriber {
  partnershipId: string
  /** seq → arrival (ms since the epoch); a seq seen twice counts as a duplicate. */
  arrivals: Map<number, number>
  duplicates: number
  outOfOrder: number
  last: number
  close: () => void
}

/** Opens an event stream after `after` and records every event's arrival; resolves once the answer's head came. */
function subscribe(origin: string, auth: string, partnershipId: string, after: number): Promise<Subscriber> {
  return new Promise((resolve, reject) => {
    const sub: Subscriber = {
      partnershipId,
      arrivals: new Map(),
      duplicates: 0,
      outOfOrder: 0,
      last: after,
      close: () => {}
    }
    const req = request(
      `${origin}/v1/partnerships/${partnershipId}/events/stream?after=${after}`,
      { headers: { authorization: auth, accept: 'text/event-stream' } },
      (res) => {
        if (res.statusCode !== 200) return reject(new Error(`stream: ${res.statusCode}`))
        res.setEncoding('utf8')
        let buffer = ''
        res.on('data', (chunk: string) => {
          const now = Date.now()
          buffer += chunk
          let end = buffer.indexOf('\n\n')
          while (end >= 0) {
            const block = buffer.slice(0, end)
            buffer = buffer.slice(end + 2)
            end = buffer.indexOf('\n\n')
            const id = /^id: (\d+)$/m.exec(block)?.[1]
            if (id === undefined) continue
            const seq = Number(id)
            if (sub.arrivals.has(seq)) sub.duplicates++
            else sub.arrivals.set(seq, now)
            if (seq !== sub.last + 1) sub.outOfOrder++
            sub.last = seq
          }
        })
        res.on('error', () => {})
        sub.close = () => req.destroy()
        resolve(sub)
      }
    )
    req.on('error', reject) // after the answer's head, a no-op: the promise is settled
    req.end()
  })
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

async function main() {
  const DATABASE_URL = await freshDatabase(ADMIN_URL, DB_NAME)
  const ports = [await freePort(), await freePort()]
  const origins = ports.map((p) => `http://127.0.0.1:${p}`)
  const issuer = origins[0]!
  const instances = []
  for (const [k, port] of ports.entries()) {
    instances.push(
      await start(
        serverArgs(),
        {
          // Both instances take the first one's tokens: one issuer, one key in the shared database.
          ...accordEnv({ databaseUrl: DATABASE_URL, port, publicUrl: issuer }),
          STREAM_MAX_PER_INSTANCE: String(SUBSCRIBERS),
          STREAM_MAX_PER_USER: String(Math.ceil(SUBSCRIBERS / PARTNERSHIPS))
        },
        `${origins[k]}/healthz`
      )
    )
  }
  log(`two instances on ${origins.join(' and ')} (PostgreSQL ${DB_NAME})`)

  const config = loadConfig({ DATABASE_URL, PUBLIC_URL: issuer, LOG_LEVEL: 'silent' })
  const database = await createDb(config.database)
  const keys = await loadServiceKeys(database.db, () => new Date(), loadKek(config.secrets))
  const token = async (sub: string) =>
    `Bearer ${await keys.signJwt(
      {},
      { issuer, audience: config.auth.audience, subject: sub, ttlSeconds: 3600, now: new Date() }
    )}`
  const call = async (origin: string, auth: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${origin}${path}`, {
      method,
      headers: {
        authorization: auth,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(method === 'PATCH' ? { 'if-match': '*' } : {})
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
    return res.status === 204 ? null : ((await res.json()) as Record<string, unknown>)
  }

  log(`creating ${PARTNERSHIPS} partnerships of two partners through the API…`)
  const couples: Array<{ pid: string; alice: string; bob: string; head: number }> = []
  for (let p = 0; p < PARTNERSHIPS; p++) {
    const alice = await token(`sse-alice-${p}`)
    const bob = await token(`sse-bob-${p}`)
    const created = await call(issuer, alice, 'POST', '/v1/partnerships', { name: `Couple ${p}`, timezone: 'UTC' })
    const pid = created!.id as string
    const invitation = await call(issuer, alice, 'POST', `/v1/partnerships/${pid}/invitations`, { role: 'partner' })
    await call(issuer, bob, 'POST', '/v1/invitations/accept', { token: invitation!.token })
    const verified = await call(issuer, alice, 'GET', `/v1/partnerships/${pid}/audit/verify`)
    couples.push({ pid, alice, bob, head: (verified!.head as { seq: number }).seq })
  }

  log(`opening ${SUBSCRIBERS} event streams (each partnership's half on each instance)…`)
  const perPartnership = Math.ceil(SUBSCRIBERS / PARTNERSHIPS)
  const subscribers: Subscriber[] = []
  for (let s = 0; s < SUBSCRIBERS; s++) {
    const c = couples[s % PARTNERSHIPS]!
    const k = Math.floor(s / PARTNERSHIPS) // 0 … perPartnership-1 within the partnership
    subscribers.push(await subscribe(origins[k % 2]!, k < perPartnership / 2 ? c.alice : c.bob, c.pid, c.head))
  }

  log(`writing ${RATE} events/s for ${DURATION_S} s, through both instances in turn…`)
  // Each write renames a partnership (one partnership.updated event); the event's `at` is read afterwards from
  // GET …/events. Writes are spread over partnerships, as real traffic is.
  const total = RATE * DURATION_S
  const t0 = performance.now()
  const writes: Array<Promise<unknown>> = []
  let failedWrites = 0
  const failures = new Map<string, number>()
  for (let w = 0; w < total; w++) {
    const due = t0 + (w * 1000) / RATE
    const wait = due - performance.now()
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    const c = couples[w % PARTNERSHIPS]!
    writes.push(
      call(origins[w % 2]!, c.alice, 'PATCH', `/v1/partnerships/${c.pid}`, { name: `Renamed ${w}` }).catch((err) => {
        failedWrites++
        const why = String(err.message).slice(0, 160)
        failures.set(why, (failures.get(why) ?? 0) + 1)
      })
    )
  }
  await Promise.all(writes)
  for (const [why, n] of failures) log(`failed write ×${n}: ${why}`)
  const achievedRate = total / ((performance.now() - t0) / 1000)
  await new Promise((r) => setTimeout(r, 3000)) // the stragglers (and any poll's catch-up)

  // What was written, with each event's `at`, from the log itself.
  const written = new Map<string, Map<number, number>>()
  for (const c of couples) {
    const at = new Map<number, number>()
    let url = `/v1/partnerships/${c.pid}/events?after=${c.head}&limit=100`
    for (;;) {
      const page = (await call(issuer, c.alice, 'GET', url))!
      for (const e of page.items as Array<{ seq: number; at: string }>) at.set(e.seq, Date.parse(e.at))
      if (page.nextCursor === null) break
      url = `/v1/partnerships/${c.pid}/events?limit=100&cursor=${page.nextCursor}`
    }
    written.set(c.pid, at)
  }
  const latencies: number[] = []
  let lost = 0
  let duplicates = 0
  let outOfOrder = 0
  let extra = 0
  for (const s of subscribers) {
    const log = written.get(s.partnershipId)!
    for (const [seq, at] of log) {
      const arrived = s.arrivals.get(seq)
      if (arrived === undefined) lost++
      else latencies.push(arrived - at)
    }
    for (const seq of s.arrivals.keys()) if (!log.has(seq)) extra++
    duplicates += s.duplicates
    outOfOrder += s.outOfOrder
    s.close()
  }
  latencies.sort((a, b) => a - b)
  const events = [...written.values()].reduce((n, m) => n + m.size, 0)
  const result = {
    instances: 2,
    subscribers: SUBSCRIBERS,
    partnerships: PARTNERSHIPS,
    events_written: events,
    failed_writes: failedWrites,
    write_rate: Number(achievedRate.toFixed(1)),
    deliveries_expected: subscribers.reduce((n, s) => n + written.get(s.partnershipId)!.size, 0),
    deliveries: latencies.length,
    lost,
    duplicates,
    out_of_order: outOfOrder,
    unexpected: extra,
    latency_p50_ms: quantile(latencies, 0.5) ?? null,
    latency_p99_ms: quantile(latencies, 0.99) ?? null,
    latency_max_ms: latencies.at(-1) ?? null
  }
  process.stdout.write(
    `\n| subscribers | instances | events/s | deliveries | lost | duplicates | out of order | p50 ms | p99 ms | max ms |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n| ${SUBSCRIBERS} | 2 | ${result.write_rate} | ${result.deliveries} | ${lost} | ${duplicates} | ${outOfOrder} | ${result.latency_p50_ms} | ${result.latency_p99_ms} | ${result.latency_max_ms} |\n\n${JSON.stringify(result)}\n`
  )
  for (const i of instances) i.kill('SIGTERM')
  await database.close()
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} })
  await admin.unsafe(`drop database if exists ${DB_NAME} with (force)`)
  await admin.end()
  if (lost + duplicates + outOfOrder + extra + failedWrites > 0) process.exitCode = 1
}

await main()

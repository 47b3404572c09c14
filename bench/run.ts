// npm run bench: Accord's hot paths against the machine's own ceilings, measured in the same run.
// Loopback only, bounded in time, stops by itself. Needs PostgreSQL (BENCH_DATABASE_URL, default the
// local server) and pgbench. Prints a table and, last, one JSON line. With --pglite: Accord on embedded PGlite
// against a bare Fastify + PGlite, neither PostgreSQL nor pgbench needed (bench/pglite.ts).
import { execFile } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import autocannon from 'autocannon'
import postgres from 'postgres'
import { loadConfig } from '../src/config.ts'
import { createDb } from '../src/db/client.ts'
import { loadKek } from '../src/keys/kek.ts'
import { loadServiceKeys } from '../src/keys/key.service.ts'
import { accordEnv, cpuOf, freePort, freshDatabase, median, root, serverArgs, start, statusMb } from './common.ts'
import { seed } from './seed.ts'
import { statementCounter } from './statements.ts'

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
// Its own database name (BENCH_DB_NAME), so that two checkouts on one machine can bench at once.
const DB_NAME = process.env.BENCH_DB_NAME ?? 'accord_bench'
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10)
const CONNECTIONS = 50
const PARTNERSHIPS = Number(process.env.BENCH_PARTNERSHIPS ?? 10_000)
// Enough fresh proposals for warm-up and every round at ~6,000 sign-offs/s (the sign-off rounds
// stop being a measurement when they run out: see failed_requests).
const PROPOSALS_PER = Number(process.env.BENCH_PROPOSALS_PER ?? 24)
/** Incidents, and as many appreciations, per active agreement (spread over its last 12 months). */
const INCIDENTS_PER = Number(process.env.BENCH_INCIDENTS_PER ?? 20)
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 3)
/** The pool size of both Accord and the baseline: postgres.js pipelines queries and sign-offs are grouped, so on 2 vCPUs a few connections beat many. */
const POOL = process.env.BENCH_POOL ?? '4'
const log = (s: string) => process.stderr.write(`${s}\n`)

interface Sample {
  rps: number
  p50: number
  p99: number
  non2xx: number
  errors: number
  cpu?: CpuSplit
}

/** CPU seconds of every PostgreSQL process of the machine (backends, walwriter, …). */
const postgresCpu = (): number =>
  readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .reduce((sum, pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('postgres') ? sum + cpuOf(Number(pid)) : sum
      } catch {
        return sum
      }
    }, 0)
/** Where the CPU of a scenario went, in µs per successful request: the server under test, PostgreSQL, and the load generator. */
interface CpuSplit {
  server: number
  postgres: number
  loader: number
}
async function measured(serverPid: number | undefined, run: () => Promise<Sample>): Promise<Sample> {
  // pgbench's backends start and exit inside the window, so their CPU cannot be read from /proc: no split for it.
  if (serverPid === undefined) return run()
  const before = { server: cpuOf(serverPid), postgres: postgresCpu(), loader: process.cpuUsage() }
  const s = await run()
  const n = s.rps * DURATION_S || 1
  const loader = process.cpuUsage(before.loader)
  return {
    ...s,
    cpu: {
      server: ((cpuOf(serverPid) - before.server) / n) * 1e6,
      postgres: ((postgresCpu() - before.postgres) / n) * 1e6,
      loader: (loader.user + loader.system) / n
    }
  }
}

/** req/s counts successful (2xx) responses only, so a failure can never pass for throughput. */
async function load(url: string, requests: autocannon.Request[], duration = DURATION_S): Promise<Sample> {
  const result = await autocannon({ url, connections: CONNECTIONS, duration, requests })
  return {
    rps: result['2xx'] / duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors
  }
}

async function pgbench(url: string, duration: number): Promise<Sample> {
  const script = join(tmpdir(), 'accord-bench-signoff.sql')
  writeFileSync(
    script,
    [
      '\\set vid random(1, 100000)',
      'BEGIN;',
      'INSERT INTO bench_signatures (version_id, signed_at) VALUES (:vid, now());',
      "UPDATE bench_versions SET status = 'active', activated_at = now() WHERE id = :vid;",
      'INSERT INTO bench_events (version_id, at) VALUES (:vid, now());',
      'END;'
    ].join('\n')
  )
  const u = new URL(url)
  const { stdout } = await promisify(execFile)(
    'pgbench',
    [
      '-n',
      '-c',
      String(CONNECTIONS),
      '-j',
      '2',
      '-T',
      String(duration),
      '-r',
      '-f',
      script,
      '-h',
      u.hostname,
      '-p',
      u.port || '5432',
      '-U',
      u.username || 'postgres',
      u.pathname.slice(1)
    ],
    { env: { ...process.env, PGPASSWORD: u.password } }
  )
  const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1] ?? 0)
  const lat = Number(/latency average = ([\d.]+) ms/.exec(stdout)?.[1] ?? 0)
  return { rps: tps, p50: lat, p99: Number.NaN, non2xx: 0, errors: 0 }
}

interface Reader {
  partnershipId: string
  agreementId: string
  auth: string
}
/** The GETs measured for each reader (a partner of an active agreement's partnership). */
const paths = {
  get_agreement: (r: Reader) => `/v1/partnerships/${r.partnershipId}/agreements/${r.agreementId}`,
  get_agenda: (r: Reader) => `/v1/partnerships/${r.partnershipId}/agenda`,
  get_insights: (r: Reader) => `/v1/partnerships/${r.partnershipId}/agreements/${r.agreementId}/insights`
}

/**
 * Statements per request, counted on the wire: a second Accord, started like the first but reaching PostgreSQL
 * through a counting proxy (statements.ts), serves 100 requests one at a time to 100 readers it has not seen
 * (`first`: each token's first request, which also looks its user up), then the same 100 again (`again`: as
 * under load, where every token has been seen). Each GET has its own 100 readers.
 */
async function statementsPerRequest(
  env: Record<string, string>,
  readers: Reader[]
): Promise<Record<keyof typeof paths, { first: number; again: number }>> {
  const counter = await statementCounter(env.DATABASE_URL!)
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  // The same PUBLIC_URL (the tokens' issuer and audience) as the Accord under load; another port.
  const child = await start(
    serverArgs(),
    // Its webhook worker off: its idle claim (every 250 ms) would be counted as the requests' statements.
    { ...env, DATABASE_URL: counter.url, PORT: String(port), WEBHOOK_WORKER_INTERVAL_MS: '0' },
    `${base}/healthz`
  )
  const get = async (path: string, auth: string) => {
    const res = await fetch(`${base}${path}`, { headers: { authorization: auth } })
    await res.arrayBuffer()
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`)
  }
  // Opens the pool's connections (postgres.js fetches types on each) with readers outside the measured ones.
  const spare = readers.slice(-50)
  await Promise.all(spare.map((r) => get(paths.get_agreement(r), r.auth)))
  const N = 100
  const out = {} as Record<keyof typeof paths, { first: number; again: number }>
  let k = 0
  for (const [name, path] of Object.entries(paths) as Array<[keyof typeof paths, (r: Reader) => string]>) {
    const some = readers.slice(k * N, ++k * N)
    const c0 = counter.count()
    for (const r of some) await get(path(r), r.auth)
    const c1 = counter.count()
    for (const r of some) await get(path(r), r.auth)
    const c2 = counter.count()
    out[name] = { first: (c1 - c0) / N, again: (c2 - c1) / N }
    log(`statements per ${name}: ${out[name].first} (a token's first request), ${out[name].again} (after)`)
  }
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
  await counter.close()
  return out
}

async function main() {
  const DATABASE_URL = await freshDatabase(ADMIN_URL, DB_NAME)

  const port = await freePort()
  const publicUrl = `http://127.0.0.1:${port}`
  log(`starting Accord on ${publicUrl} (PostgreSQL ${DB_NAME})`)
  const env = {
    ...accordEnv({ databaseUrl: DATABASE_URL, port, publicUrl }),
    DATABASE_POOL_MAX: POOL,
    DATABASE_PREPARE: process.env.DATABASE_PREPARE ?? 'true',
    // AGENDA_CACHE_MB=0 measures the agenda rendered on every request (the first read of each caller's agenda
    // after a change); by default the kept lists are served after their one-probe check.
    ...(process.env.AGENDA_CACHE_MB ? { AGENDA_CACHE_MB: process.env.AGENDA_CACHE_MB } : {}),
    // EVENTS_CACHE_MB=0 measures GET …/events rendered by the database on every request.
    ...(process.env.EVENTS_CACHE_MB ? { EVENTS_CACHE_MB: process.env.EVENTS_CACHE_MB } : {})
  }
  const accord = await start(
    serverArgs(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean)),
    env,
    `${publicUrl}/healthz`
  )
  const basePort = await freePort()
  const baseline = await start(
    [...(process.env.BENCH_BASE_NODE_ARGS?.split(' ').filter(Boolean) ?? []), 'bench/baseline-server.ts'],
    { DATABASE_URL, PORT: String(basePort), POOL },
    `http://127.0.0.1:${basePort}/agreements/00000000-0000-0000-0000-000000000000`
  )

  const config = loadConfig({ DATABASE_URL, PUBLIC_URL: publicUrl, LOG_LEVEL: 'silent' })
  const database = await createDb(config.database)
  const kek = loadKek(config.secrets)
  const keys = await loadServiceKeys(database.db, () => new Date(), kek)
  const sql = postgres(DATABASE_URL, { max: 4, onnotice: () => {} })
  log(
    `seeding ${PARTNERSHIPS} partnerships (each: an active agreement with ${INCIDENTS_PER} incidents, ${INCIDENTS_PER} appreciations and 6 completed reviews, and ${PROPOSALS_PER} open proposals)…`
  )
  const t0 = Date.now()
  const seeded = await seed(
    sql,
    keys,
    kek,
    {
      issuer: publicUrl,
      partnerships: PARTNERSHIPS,
      proposalsPer: PROPOSALS_PER,
      eventHeavy: 1000,
      withReviews: 1000,
      incidentsPer: INCIDENTS_PER,
      appreciationsPer: INCIDENTS_PER,
      completedReviews: 6
    },
    log
  )
  log(
    `seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${seeded.readers.length} agreements active, ${seeded.proposals.length} proposals open`
  )
  // A freshly bulk-loaded database is cold and autovacuum would run under the load: settle it first.
  await sql.unsafe('vacuum analyze')
  await sql.unsafe('checkpoint')
  await sql`create table bench_versions (id int primary key, status text, activated_at timestamptz)`
  await sql`insert into bench_versions select g, 'proposed', null from generate_series(1, 100000) g`
  await sql`create table bench_signatures (id bigserial primary key, version_id int, signed_at timestamptz)`
  await sql`create table bench_events (id bigserial primary key, version_id int, at timestamptz)`

  const token = async (sub: string) =>
    keys.signJwt(
      {},
      { issuer: publicUrl, audience: config.auth.audience, subject: sub, ttlSeconds: 3600, now: new Date() }
    )
  const readers = await Promise.all(
    seeded.readers.slice(0, 1000).map(async (r) => ({ ...r, auth: `Bearer ${await token(r.subject)}` }))
  )
  const reviewers = await Promise.all(seeded.reviewers.slice(0, 1000).map(async (s) => `Bearer ${await token(s)}`))
  const proposalTokens = new Map<string, string>()
  for (const p of seeded.proposals)
    if (!proposalTokens.has(p.subject)) proposalTokens.set(p.subject, `Bearer ${await token(p.subject)}`)
  // Sign-offs are spread over partnerships (one proposal per partnership in turn), as real traffic is:
  // signatures within one partnership serialize on its lock by design.
  const byPartnership = new Map<string, typeof seeded.proposals>()
  for (const p of seeded.proposals)
    byPartnership.set(p.partnershipId, [...(byPartnership.get(p.partnershipId) ?? []), p])
  const queue = Array.from({ length: PROPOSALS_PER }, (_, k) =>
    [...byPartnership.values()].map((ps) => ps[k]).filter((p) => p !== undefined)
  ).flat()
  let next = 0
  const rr = <T>(xs: T[]) => {
    let i = 0
    return () => xs[i++ % xs.length]!
  }

  let duration = DURATION_S
  /** GETs of `path`, each by a partner of the partnership, over the 1,000 readers in turn. */
  const readerGet = (path: (r: (typeof readers)[number]) => string) => {
    const pick = rr(readers)
    return load(
      publicUrl,
      [
        {
          method: 'GET',
          setupRequest: (req) => {
            const r = pick()
            return { ...req, path: path(r), headers: { authorization: r.auth } }
          }
        }
      ],
      duration
    )
  }
  const scenarios: Record<string, () => Promise<Sample>> = {
    baseline_get: () => {
      const pick = rr(readers)
      return load(
        `http://127.0.0.1:${basePort}`,
        [{ method: 'GET', setupRequest: (req) => ({ ...req, path: `/agreements/${pick().agreementId}` }) }],
        duration
      )
    },
    get_agreement: () => readerGet(paths.get_agreement),
    pgbench_tx: () => pgbench(DATABASE_URL, duration),
    sign_off: () => {
      return load(
        publicUrl,
        [
          {
            method: 'POST',
            setupRequest: (req) => {
              const p = queue[next++]
              if (!p) return { ...req, method: 'GET', path: '/v1/out-of-proposals' } // a 404: counted as a failure, never as throughput
              return {
                ...req,
                path: `/v1/partnerships/${p.partnershipId}/agreements/${p.agreementId}/versions/1/signatures`,
                headers: { authorization: proposalTokens.get(p.subject)!, 'content-type': 'application/json' },
                body: JSON.stringify({ contentHash: p.contentHash })
              }
            }
          }
        ],
        duration
      )
    },
    // Accord's own floor: its whole pipeline on a route with no statement and no caller (GET /healthz), which no
    // route can beat, and the cheapest authenticated read, one primary-key select like the baseline's (GET /v1/me).
    floor_healthz: () =>
      load(publicUrl, [{ method: 'GET', setupRequest: (req) => ({ ...req, path: '/healthz' }) }], duration),
    floor_me: () => readerGet(() => '/v1/me'),
    get_events: () => readerGet((r) => `/v1/partnerships/${r.partnershipId}/events?limit=50`),
    get_agenda: () => readerGet(paths.get_agenda),
    get_insights: () => readerGet(paths.get_insights),
    my_open_reviews: () => {
      const pick = rr(reviewers)
      return load(
        publicUrl,
        [
          {
            method: 'GET',
            setupRequest: (req) => ({ ...req, path: '/v1/me/reviews?status=open', headers: { authorization: pick() } })
          }
        ],
        duration
      )
    }
  }
  // The seeded chains verify (the seed appends the incidents', appreciations' and reviews' events too).
  for (const r of [readers[0]!, readers[readers.length - 1]!]) {
    const v = (await (
      await fetch(`${publicUrl}/v1/partnerships/${r.partnershipId}/audit/verify`, {
        headers: { authorization: r.auth }
      })
    ).json()) as { valid: boolean; eventCount: number }
    if (!v.valid) throw new Error(`the seeded chain of partnership ${r.partnershipId} does not verify`)
    log(`chain of partnership ${r.partnershipId}: ${v.eventCount} events, valid`)
  }
  const statements = await statementsPerRequest(env, readers)
  // BENCH_SCENARIOS=get_agreement,baseline_get runs a subset (for iterating; the summary then has gaps).
  const only = process.env.BENCH_SCENARIOS?.split(',')
  if (only) for (const k of Object.keys(scenarios)) if (!only.includes(k)) delete scenarios[k]
  const samples: Record<string, Sample[]> = Object.fromEntries(Object.keys(scenarios).map((k) => [k, []]))
  // A partner reads what they sign (the contentHash comes from a GET) with the same token, so each signer's
  // token is seen once before the sign-off load: a cold token costs one Ed25519 check and one user lookup.
  const signerTokens = [...proposalTokens.values()]
  let t = 0
  await autocannon({
    url: publicUrl,
    connections: CONNECTIONS,
    amount: signerTokens.length,
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => ({
          ...req,
          path: '/v1/me',
          headers: { authorization: signerTokens[t++ % signerTokens.length]! }
        })
      }
    ]
  })
  log(`warming up (${WARMUP_S} s per scenario, not recorded)…`)
  duration = WARMUP_S
  for (const [name, run] of Object.entries(scenarios)) if (name !== 'sign_off') await run() // sign-offs are single-use
  duration = DURATION_S
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, run] of Object.entries(scenarios)) {
      const s = await measured(
        name === 'baseline_get' ? baseline.pid : name === 'pgbench_tx' ? undefined : accord.pid,
        run
      )
      samples[name]!.push(s)
      log(
        `round ${round} ${name.padEnd(16)} ${s.rps.toFixed(0).padStart(7)} req/s  p50 ${String(s.p50).padStart(5)} ms  p99 ${String(s.p99).padStart(5)} ms  ${s.cpu ? `CPU µs/req: server ${s.cpu.server.toFixed(0)} postgres ${s.cpu.postgres.toFixed(0)} loader ${s.cpu.loader.toFixed(0)}` : ''}  Accord RSS ${statusMb(accord.pid!, 'VmRSS').toFixed(0)} MB${s.non2xx || s.errors ? `  non-2xx ${s.non2xx} errors ${s.errors}` : ''}`
      )
    }
  }
  const peakRss = statusMb(accord.pid!, 'VmHWM')
  // Both counts from one snapshot: up to 50 sign-offs are still in flight when a round ends, and one that
  // commits between two separate counts would show up in the second only (42 of them did, 2026-12-03).
  const [counts] = await sql`select
      (select count(*)::int from agreement_versions where status = 'active') as signed,
      (select count(*)::int from events where type = 'version.activated') as activations`
  const signed = counts!.signed as number
  const activations = counts!.activations as number

  const med = (name: string, f: 'rps' | 'p50' | 'p99') => median((samples[name] ?? []).map((s) => s[f]))
  // A ratio is taken within each round, between scenarios run back to back, then the median over rounds: this
  // machine's speed drifts between rounds (other tenants of the host), and pairing cancels the drift.
  const ratio = (name: string, base: string) =>
    Number(median((samples[name] ?? []).map((s, i) => s.rps / (samples[base]?.[i]?.rps ?? Number.NaN))).toFixed(3))
  const cpu = (name: string, k: keyof CpuSplit) => median((samples[name] ?? []).map((s) => s.cpu?.[k] ?? Number.NaN))
  const rows = Object.keys(scenarios).map((name) => ({
    name,
    rps: med(name, 'rps'),
    p50: med(name, 'p50'),
    p99: med(name, 'p99'),
    bad: samples[name]!.reduce((n, s) => n + s.non2xx + s.errors, 0),
    server: cpu(name, 'server'),
    postgres: cpu(name, 'postgres')
  }))
  process.stdout.write(
    '\n| scenario | req/s (median) | p50 ms | p99 ms | non-2xx + errors | server CPU µs/req | PostgreSQL CPU µs/req |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n'
  )
  for (const r of rows)
    process.stdout.write(
      `| ${r.name} | ${r.rps.toFixed(0)} | ${r.p50} | ${Number.isNaN(r.p99) ? '—' : r.p99} | ${r.bad} | ${Number.isNaN(r.server) ? '—' : r.server.toFixed(0)} | ${Number.isNaN(r.postgres) ? '—' : r.postgres.toFixed(0)} |\n`
    )
  process.stdout.write(
    `\nAccord peak RSS: ${peakRss.toFixed(0)} MB; active versions ${signed} (seeded ${seeded.readers.length}), version.activated events ${activations}\n`
  )
  process.stdout.write(
    `Statements per request (on the wire; a token's first request / after): ${Object.entries(statements)
      .map(([k, v]) => `${k} ${v.first} / ${v.again}`)
      .join(', ')}\n`
  )
  const summary = {
    get_agreement_rps: Math.round(med('get_agreement', 'rps')),
    get_agreement_ratio: ratio('get_agreement', 'baseline_get'),
    sign_off_rps: Math.round(med('sign_off', 'rps')),
    sign_off_ratio: ratio('sign_off', 'pgbench_tx'),
    get_p99_ms: med('get_agreement', 'p99'),
    sign_p99_ms: med('sign_off', 'p99'),
    events_rps: Math.round(med('get_events', 'rps')),
    events_ratio: ratio('get_events', 'baseline_get'),
    agenda_rps: Math.round(med('get_agenda', 'rps')),
    agenda_ratio: ratio('get_agenda', 'baseline_get'),
    agenda_p99_ms: med('get_agenda', 'p99'),
    insights_rps: Math.round(med('get_insights', 'rps')),
    insights_ratio: ratio('get_insights', 'baseline_get'),
    insights_p99_ms: med('get_insights', 'p99'),
    floor_healthz_ratio: ratio('floor_healthz', 'baseline_get'),
    floor_me_ratio: ratio('floor_me', 'baseline_get'),
    // Statements Accord sent to PostgreSQL per request, counted on the wire (statements.ts): with a token it has
    // seen (as under load), and with a token it has not (its first request also looks up the caller).
    statements_per_request: statements,
    my_reviews_rps: Math.round(med('my_open_reviews', 'rps')),
    my_reviews_ratio: ratio('my_open_reviews', 'baseline_get'),
    baseline_get_rps: Math.round(med('baseline_get', 'rps')),
    pgbench_tps: Math.round(med('pgbench_tx', 'rps')),
    rss_mb: Math.round(peakRss),
    get_agreement_ratio_of_medians: Number((med('get_agreement', 'rps') / med('baseline_get', 'rps')).toFixed(3)),
    sign_off_ratio_of_medians: Number((med('sign_off', 'rps') / med('pgbench_tx', 'rps')).toFixed(3)),
    // Any non-2xx answer or error in a measured round (a sign-off round that ran out of proposals, say):
    // the figures of that scenario then measure something else, and the run is not valid.
    failed_requests: rows.reduce((n, r) => n + r.bad, 0),
    rounds: ROUNDS,
    duration_s: DURATION_S,
    connections: CONNECTIONS
  }
  const accordExited = new Promise((resolve) => accord.once('exit', resolve))
  accord.kill('SIGTERM')
  await accordExited // lets a --cpu-prof (BENCH_NODE_ARGS) profile be written
  baseline.kill('SIGTERM')
  await sql.end()
  await database.close()
  // The live log's fan-out and the webhooks' throughput, each its own script (bench:sse, bench:webhooks) with
  // its own databases and instances, run once Accord above has stopped: their summaries join this one.
  const live = only === undefined || only.includes('sse') ? await childBench('bench/sse.ts') : null
  const hooks = only === undefined || only.includes('webhooks') ? await childBench('bench/webhooks.ts') : null
  const scaleOut = only === undefined || only.includes('instances') ? await childBench('bench/instances.ts') : null
  const verify = only === undefined || only.includes('verify') ? await childBench('bench/verify.ts') : null
  // Every sign-off that activated a version wrote its version.activated event in the same transaction.
  if (signed !== activations) {
    log(`VIOLATION: ${signed} active versions against ${activations} version.activated events`)
    process.exitCode = 1
  }
  if (summary.failed_requests > 0)
    log(
      `NOT VALID: ${summary.failed_requests} requests failed in measured rounds${next > queue.length ? ` (the sign-off ran out of its ${queue.length} proposals: raise BENCH_PROPOSALS_PER)` : ''}`
    )
  process.stdout.write(`${JSON.stringify({ ...summary, sse: live, webhooks: hooks, instances: scaleOut, verify })}\n`)
}

/** Runs another bench script to its end, passes its tables on, and returns the JSON summary it printed last. */
async function childBench(script: string): Promise<Record<string, unknown>> {
  log(`running ${script}…`)
  const { stdout } = await promisify(execFile)(process.execPath, [script], {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024
  }).catch((err: { stdout?: string; message: string }) => {
    // A bench that found a loss or a repeat exits non-zero: its figures still say what happened.
    if (err.stdout) return { stdout: err.stdout }
    throw err
  })
  // Its summary is the last JSON value it printed (on one line, or indented over several).
  const lines = stdout.trimEnd().split('\n')
  for (let i = lines.length - 1; i >= 0; i--) {
    if (!lines[i]!.startsWith('{')) continue
    try {
      const summary = JSON.parse(lines.slice(i).join('\n')) as Record<string, unknown>
      process.stdout.write(`${lines.slice(0, i).join('\n')}\n`)
      return summary
    } catch {}
  }
  throw new Error(`${script} printed no summary`)
}

try {
  if (process.argv.includes('--pglite')) await (await import('./pglite.ts')).benchPglite()
  else await main()
  process.exit(0)
} catch (err) {
  log(`bench failed: ${(err as Error).stack ?? String(err)}`)
  process.exit(1)
}

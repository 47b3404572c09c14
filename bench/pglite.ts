// npm run bench -- --pglite: Accord on embedded PGlite (no DATABASE_URL), against the same process shape without
// Accord: a bare Fastify over PGlite in one process (bench/baseline-pglite-server.ts), measured in the same run.
// PGlite is one process per data directory: the bench seeds a directory first, closes it, copies it for the
// baseline, and only then starts Accord on the one and the baseline on the other.
import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { sql as raw } from 'drizzle-orm'
import { loadConfig } from '../src/config.ts'
import { createDb } from '../src/db/client.ts'
import { execute } from '../src/db/driver.ts'
import { loadKek } from '../src/keys/kek.ts'
import { loadServiceKeys } from '../src/keys/key.service.ts'
import { accordEnv, freePort, median, resetPeak, serverArgs, start, statusMb } from './common.ts'
import { pgliteSql } from './pglite-sql.ts'
import { seed } from './seed.ts'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10)
const WARMUP_S = Number(process.env.BENCH_WARMUP_S ?? 3)
const CONNECTIONS = 50
/** Fewer than on PostgreSQL by default: PGlite seeds in this one process, and one connection serves everything. */
const PARTNERSHIPS = Number(process.env.BENCH_PARTNERSHIPS ?? 1000)
/** Enough for every sign-off round: PGlite signs about 2,000 a second on a quiet machine once they are grouped. */
const PROPOSALS_PER = Number(process.env.BENCH_PROPOSALS_PER ?? 80)
const INCIDENTS_PER = Number(process.env.BENCH_INCIDENTS_PER ?? 20)
const log = (s: string) => process.stderr.write(`${s}\n`)

interface Sample {
  rps: number
  p50: number
  p99: number
  bad: number
  /** The non-2xx answers by status, and timeouts (autocannon gives up on a request after 10 s). */
  why: string
}

async function load(url: string, requests: autocannon.Request[], duration: number): Promise<Sample> {
  const r = await autocannon({ url, connections: CONNECTIONS, duration, requests })
  const statuses = Object.entries(r.statusCodeStats as Record<string, { count: number }>)
    .filter(([code]) => !code.startsWith('2'))
    .map(([code, { count }]) => `${code}×${count}`)
  const why = [...statuses, ...(r.timeouts ? [`timeouts×${r.timeouts}`] : [])].join(' ')
  return { rps: r['2xx'] / duration, p50: r.latency.p50, p99: r.latency.p99, bad: r.non2xx + r.errors, why }
}

/** Accord's environment on PGlite: `npm start`'s, with DATA_DIR and without DATABASE_URL. */
function pgliteEnv(dataDir: string, port: number, publicUrl: string): Record<string, string> {
  const { DATABASE_URL: _, ...env } = accordEnv({ databaseUrl: '', port, publicUrl })
  return { ...env, DATA_DIR: dataDir }
}

/** Starts Accord on `dataDir`; returns it with the time to its first answer and its RSS once idle. */
async function startAccord(dataDir: string, port: number, publicUrl: string) {
  const t0 = performance.now()
  const child = await start(
    serverArgs(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean)),
    pgliteEnv(dataDir, port, publicUrl),
    `${publicUrl}/healthz`
  )
  const firstResponseMs = performance.now() - t0
  await new Promise((r) => setTimeout(r, 2000))
  return {
    child,
    firstResponseMs,
    idleRss: statusMb(child.pid!, 'VmRSS'),
    startPeakRss: statusMb(child.pid!, 'VmHWM')
  }
}

async function stop(child: import('node:child_process').ChildProcess) {
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
}

export async function benchPglite() {
  const work = mkdtempSync(join(tmpdir(), 'accord-bench-pglite-'))
  const dataDir = join(work, 'accord')
  const baselineDir = join(work, 'baseline')
  const port = await freePort()
  const publicUrl = `http://127.0.0.1:${port}`
  try {
    // `npm start`'s first start, on an empty directory: it creates and migrates the database.
    let first: { firstResponseMs: number; idleRss: number; startPeakRss: number } | null = null
    if (process.env.BENCH_FIRST_START !== '0') {
      const started = await startAccord(join(work, 'first'), port, publicUrl)
      first = started
      log(
        `first start: first response after ${first.firstResponseMs.toFixed(0)} ms, idle RSS ${first.idleRss.toFixed(0)} MB (peak ${first.startPeakRss.toFixed(0)} MB)`
      )
      await stop(started.child)
      rmSync(join(work, 'first'), { recursive: true, force: true })
    }

    const config = loadConfig({ DATA_DIR: dataDir, PUBLIC_URL: publicUrl, LOG_LEVEL: 'silent' })
    const database = await createDb(config.database)
    await database.migrate()
    const kek = loadKek(config.secrets) // <DATA_DIR>/secret.key: the one Accord will read
    const keys = await loadServiceKeys(database.db, () => new Date(), kek)
    log(`seeding ${PARTNERSHIPS} partnerships into ${dataDir}…`)
    const t0 = Date.now()
    const seeded = await seed(
      pgliteSql({ query: async (text, params) => ({ rows: await execute(database.db, text, params) }) }),
      keys,
      kek,
      {
        issuer: publicUrl,
        partnerships: PARTNERSHIPS,
        proposalsPer: PROPOSALS_PER,
        eventHeavy: Math.min(1000, PARTNERSHIPS),
        withReviews: Math.min(1000, PARTNERSHIPS),
        incidentsPer: INCIDENTS_PER,
        appreciationsPer: INCIDENTS_PER,
        completedReviews: 6
      },
      log
    )
    log(`seeded in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    for (const statement of [
      'create table bench_versions (id int primary key, status text, activated_at timestamptz)',
      "insert into bench_versions select g, 'proposed', null from generate_series(1, 100000) g",
      'create table bench_signatures (id bigserial primary key, version_id int, signed_at timestamptz)',
      'create table bench_events (id bigserial primary key, version_id int, at timestamptz)',
      'vacuum analyze',
      'checkpoint'
    ])
      await database.rows(raw.raw(statement))
    await database.close()
    cpSync(dataDir, baselineDir, { recursive: true })

    const restart = await startAccord(dataDir, port, publicUrl)
    const accord = restart.child
    log(
      `restart on the seeded directory: first response after ${restart.firstResponseMs.toFixed(0)} ms, idle RSS ${restart.idleRss.toFixed(0)} MB (peak ${restart.startPeakRss.toFixed(0)} MB)`
    )
    const basePort = await freePort()
    const baseUrl = `http://127.0.0.1:${basePort}`
    const baseline = await start(
      ['bench/baseline-pglite-server.ts'],
      { DATA_DIR: baselineDir, PORT: String(basePort) },
      `${baseUrl}/agreements/00000000-0000-0000-0000-000000000000`
    )

    const token = (sub: string) =>
      keys.signJwt(
        {},
        { issuer: publicUrl, audience: config.auth.audience, subject: sub, ttlSeconds: 3600, now: new Date() }
      )
    const readers = await Promise.all(
      seeded.readers.slice(0, 1000).map(async (r) => ({ ...r, auth: `Bearer ${await token(r.subject)}` }))
    )
    const proposalTokens = new Map<string, string>()
    for (const p of seeded.proposals)
      if (!proposalTokens.has(p.subject)) proposalTokens.set(p.subject, `Bearer ${await token(p.subject)}`)
    // One proposal per partnership in turn, as in `npm run bench`.
    const byPartnership = new Map<string, typeof seeded.proposals>()
    for (const p of seeded.proposals)
      byPartnership.set(p.partnershipId, [...(byPartnership.get(p.partnershipId) ?? []), p])
    const queue = Array.from({ length: PROPOSALS_PER }, (_, k) =>
      [...byPartnership.values()].map((ps) => ps[k]).filter((p) => p !== undefined)
    ).flat()
    let next = 0
    let ri = 0
    const reader = () => readers[ri++ % readers.length]!

    let duration = DURATION_S
    const scenarios: Record<string, () => Promise<Sample>> = {
      baseline_get: () =>
        load(
          baseUrl,
          [{ method: 'GET', setupRequest: (req) => ({ ...req, path: `/agreements/${reader().agreementId}` }) }],
          duration
        ),
      get_agreement: () =>
        load(
          publicUrl,
          [
            {
              method: 'GET',
              setupRequest: (req) => {
                const r = reader()
                return {
                  ...req,
                  path: `/v1/partnerships/${r.partnershipId}/agreements/${r.agreementId}`,
                  headers: { authorization: r.auth }
                }
              }
            }
          ],
          duration
        ),
      baseline_tx: () =>
        load(
          baseUrl,
          [{ method: 'POST', path: '/sign-off', headers: { 'content-type': 'application/json' }, body: '{}' }],
          duration
        ),
      sign_off: () =>
        load(
          publicUrl,
          [
            {
              method: 'POST',
              setupRequest: (req) => {
                const p = queue[next++]
                if (!p) return { ...req, method: 'GET', path: '/v1/out-of-proposals' } // a 404: a failure, never throughput
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
    }
    const only = process.env.BENCH_SCENARIOS?.split(',')
    if (only) for (const k of Object.keys(scenarios)) if (!only.includes(k)) delete scenarios[k]
    // Each signer's token seen once, as a partner reads what they sign first (as in `npm run bench`).
    const signerTokens = [...proposalTokens.values()]
    let t = 0
    await autocannon({
      url: publicUrl,
      connections: CONNECTIONS,
      amount: signerTokens.length,
      requests: [
        {
          method: 'GET',
          setupRequest: (req) => ({ ...req, path: '/v1/me', headers: { authorization: signerTokens[t++]! } })
        }
      ]
    })
    // From here the peak is the one under load (the start's, higher, is reported with the start figures).
    resetPeak(accord.pid!)
    resetPeak(baseline.pid!)
    log(`warming up (${WARMUP_S} s per scenario, not recorded)…`)
    duration = WARMUP_S
    for (const [name, run] of Object.entries(scenarios)) if (name !== 'sign_off') await run()
    duration = DURATION_S
    const samples: Record<string, Sample[]> = Object.fromEntries(Object.keys(scenarios).map((k) => [k, []]))
    for (let round = 1; round <= ROUNDS; round++)
      for (const [name, run] of Object.entries(scenarios)) {
        const s = await run()
        samples[name]!.push(s)
        log(
          `round ${round} ${name.padEnd(14)} ${s.rps.toFixed(0).padStart(6)} req/s  p50 ${String(s.p50).padStart(4)} ms  p99 ${String(s.p99).padStart(4)} ms  Accord RSS ${statusMb(accord.pid!, 'VmRSS').toFixed(0)} MB  baseline RSS ${statusMb(baseline.pid!, 'VmRSS').toFixed(0)} MB${s.bad ? `  non-2xx + errors ${s.bad} (${s.why})` : ''}`
        )
      }
    const peakRss = statusMb(accord.pid!, 'VmHWM')
    const baselinePeakRss = statusMb(baseline.pid!, 'VmHWM')
    await stop(accord)
    await stop(baseline)
    // Every sign-off activated its version: counted on the directory Accord wrote, once it has stopped.
    const after = await createDb(loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'silent' }).database)
    const [counts] = await after.rows<{ active: number; activated: number }>(
      raw`select (select count(*)::int from agreement_versions where status = 'active') as active, (select count(*)::int from events where type = 'version.activated') as activated`
    )
    await after.close()

    const med = (name: string, f: 'rps' | 'p50' | 'p99') => median((samples[name] ?? []).map((s) => s[f]))
    // Within each round, between scenarios run back to back, then the median over rounds (as `npm run bench`).
    const ratio = (name: string, base: string) =>
      Number(median((samples[name] ?? []).map((s, i) => s.rps / (samples[base]?.[i]?.rps ?? Number.NaN))).toFixed(3))
    process.stdout.write(
      '\n| scenario (PGlite) | req/s (median) | p50 ms | p99 ms | non-2xx + errors |\n| --- | ---: | ---: | ---: | ---: |\n'
    )
    for (const name of Object.keys(scenarios))
      process.stdout.write(
        `| ${name} | ${med(name, 'rps').toFixed(0)} | ${med(name, 'p50')} | ${med(name, 'p99')} | ${samples[name]!.reduce((n, s) => n + s.bad, 0)} |\n`
      )
    process.stdout.write(
      `\nAccord peak RSS under load: ${peakRss.toFixed(0)} MB (baseline process: ${baselinePeakRss.toFixed(0)} MB; the peaks of the start, before the load: Accord ${restart.startPeakRss.toFixed(0)} MB${first ? `, ${first.startPeakRss.toFixed(0)} MB on its first start` : ''}); active versions ${counts!.active} (seeded ${seeded.readers.length}), version.activated events ${counts!.activated}\n`
    )
    const failed = Object.values(samples).reduce((n, ss) => n + ss.reduce((m, s) => m + s.bad, 0), 0)
    if (failed > 0) log(`NOT VALID: ${failed} requests failed in measured rounds`)
    const summary = {
      database: 'pglite',
      get_agreement_rps: Math.round(med('get_agreement', 'rps')),
      get_agreement_ratio: ratio('get_agreement', 'baseline_get'),
      sign_off_rps: Math.round(med('sign_off', 'rps')),
      sign_off_ratio: ratio('sign_off', 'baseline_tx'),
      get_p99_ms: med('get_agreement', 'p99'),
      sign_p99_ms: med('sign_off', 'p99'),
      baseline_get_rps: Math.round(med('baseline_get', 'rps')),
      baseline_tx_rps: Math.round(med('baseline_tx', 'rps')),
      rss_mb: Math.round(peakRss),
      baseline_rss_mb: Math.round(baselinePeakRss),
      first_start: first && {
        first_response_ms: Math.round(first.firstResponseMs),
        idle_rss_mb: Math.round(first.idleRss),
        peak_rss_mb: Math.round(first.startPeakRss)
      },
      restart: {
        first_response_ms: Math.round(restart.firstResponseMs),
        idle_rss_mb: Math.round(restart.idleRss),
        peak_rss_mb: Math.round(restart.startPeakRss)
      },
      failed_requests: failed,
      partnerships: PARTNERSHIPS,
      rounds: ROUNDS,
      duration_s: DURATION_S,
      connections: CONNECTIONS
    }
    process.stdout.write(`${JSON.stringify(summary)}\n`)
  } finally {
    if (!process.env.BENCH_KEEP_DIR) rmSync(work, { recursive: true, force: true })
  }
}

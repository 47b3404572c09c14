// npm run bench:instances: sign-offs through two Accord instances on one PostgreSQL database.
//  1. Throughput: interleaved rounds of the same sign-off load (50 connections, each request the last signature
//     of a fresh proposal, spread over partnerships) sent to one instance, then split over two; the ratio is
//     taken within each round. On a machine with two cores the second instance mostly shares the first one's
//     CPU: the figure says what a second process costs or gains here, not on a bigger host.
//  2. Exactly once: RACE proposals each get the same last signature sent to both instances at the same moment.
//     Exactly one of the two may succeed (201), the other must be refused (409 already-signed); every proposal
//     must then be active once, with one `version.activated` event, and every touched chain must verify.
// Loopback only, bounded in time. Prints a table and, last, one JSON line; exits 1 on any violation.
import autocannon from 'autocannon'
import postgres from 'postgres'
import { loadConfig } from '../src/config.ts'
import { createDb } from '../src/db/client.ts'
import { loadKek } from '../src/keys/kek.ts'
import { loadServiceKeys } from '../src/keys/key.service.ts'
import { accordEnv, freePort, freshDatabase, median, serverArgs, start } from './common.ts'
import { seed } from './seed.ts'

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const DB_NAME = 'accord_bench_instances'
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2)
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5)
// 5,000 × 20 proposals: enough for the warm-ups and every round at about 4,000 sign-offs/s. A round that uses up
// the seeded proposals anyway stops there, is rated over the time it ran, and is reported (ran_out_rounds).
const PARTNERSHIPS = Number(process.env.BENCH_INSTANCES_PARTNERSHIPS ?? 5000)
const PROPOSALS_PER = Number(process.env.BENCH_INSTANCES_PROPOSALS_PER ?? 20)
const RACE = Number(process.env.BENCH_INSTANCES_RACE ?? 500)
const CONNECTIONS = 50
const POOL = process.env.BENCH_POOL ?? '4'
const log = (s: string) => process.stderr.write(`${s}\n`)

interface Proposal {
  subject: string
  partnershipId: string
  agreementId: string
  contentHash: string
}
interface Sample {
  rps: number
  p99: number
  ok: number
  bad: number
  /** The seeded proposals ran out before the round's end: it stopped there, and rps is over the time it ran. */
  ranOut: boolean
}

async function main() {
  const DATABASE_URL = await freshDatabase(ADMIN_URL, DB_NAME)
  const ports = [await freePort(), await freePort()]
  const origins = ports.map((p) => `http://127.0.0.1:${p}`)
  const issuer = origins[0]!
  const instances = []
  for (const [k, port] of ports.entries())
    instances.push(
      await start(
        serverArgs(),
        // Both take the first one's tokens: one issuer, one signing key in the shared database.
        { ...accordEnv({ databaseUrl: DATABASE_URL, port, publicUrl: issuer }), DATABASE_POOL_MAX: POOL },
        `${origins[k]}/healthz`
      )
    )
  log(`two instances on ${origins.join(' and ')} (PostgreSQL ${DB_NAME}, pool ${POOL} each)`)

  const config = loadConfig({ DATABASE_URL, PUBLIC_URL: issuer, LOG_LEVEL: 'silent' })
  const database = await createDb(config.database)
  const kek = loadKek(config.secrets)
  const keys = await loadServiceKeys(database.db, () => new Date(), kek)
  const sql = postgres(DATABASE_URL, { max: 4, onnotice: () => {} })
  log(`seeding ${PARTNERSHIPS} partnerships with ${PROPOSALS_PER} proposals each, waiting for a last signature…`)
  const seeded = await seed(
    sql,
    keys,
    kek,
    {
      issuer,
      partnerships: PARTNERSHIPS,
      proposalsPer: PROPOSALS_PER,
      eventHeavy: 0,
      withReviews: 0,
      incidentsPer: 0,
      appreciationsPer: 0,
      completedReviews: 0
    },
    log
  )
  await sql.unsafe('vacuum analyze')
  const tokens = new Map<string, string>()
  for (const p of seeded.proposals)
    if (!tokens.has(p.subject))
      tokens.set(
        p.subject,
        `Bearer ${await keys.signJwt({}, { issuer, audience: config.auth.audience, subject: p.subject, ttlSeconds: 3600, now: new Date() })}`
      )
  // One proposal per partnership in turn, as real traffic spreads; the race takes its own from the end.
  const byPartnership = new Map<string, Proposal[]>()
  for (const p of seeded.proposals)
    byPartnership.set(p.partnershipId, [...(byPartnership.get(p.partnershipId) ?? []), p])
  const queue = Array.from({ length: PROPOSALS_PER }, (_, k) =>
    [...byPartnership.values()].map((ps) => ps[k]).filter((p) => p !== undefined)
  ).flat()
  const racing = queue.splice(queue.length - RACE, RACE)
  let next = 0
  const signRequest = (p: Proposal) => ({
    method: 'POST' as const,
    path: `/v1/partnerships/${p.partnershipId}/agreements/${p.agreementId}/versions/1/signatures`,
    headers: { authorization: tokens.get(p.subject)!, 'content-type': 'application/json' },
    body: JSON.stringify({ contentHash: p.contentHash })
  })
  // The load of one measurement: every tracker it started, whether the queue ran out (then all of them stop, so
  // that no round is rated over seconds of nothing but the placeholder request).
  // (autocannon's promise is its tracker, which has stop(); its types give only the promise.)
  type Run = Promise<autocannon.Result> & Pick<autocannon.Instance, 'stop'>
  let current: { trackers: Run[]; ranOut: boolean } | null = null
  const load = (origin: string, connections: number, duration: number): Run =>
    autocannon({
      url: origin,
      connections,
      duration,
      requests: [
        {
          setupRequest: (req) => {
            const p = queue[next++]
            if (p) return { ...req, ...signRequest(p) }
            if (current && !current.ranOut) {
              current.ranOut = true
              for (const t of current.trackers) t.stop()
            }
            return { ...req, method: 'GET', path: '/v1/out-of-proposals' }
          }
        }
      ]
    }) as Run
  const measure = async (origins: string[], duration: number): Promise<Sample> => {
    const m: NonNullable<typeof current> = { trackers: [], ranOut: false }
    current = m
    m.trackers = origins.map((o) => load(o, CONNECTIONS / origins.length, duration))
    const results = await Promise.all(m.trackers)
    current = null
    const ok = results.reduce((n, r) => n + r['2xx'], 0)
    // autocannon's own duration: the seconds it really ran (less than asked when the queue ran out).
    const ran = Math.max(...results.map((r) => r.duration))
    return {
      rps: ok / ran,
      p99: Math.max(...results.map((r) => r.latency.p99)),
      ok,
      // The placeholder requests (404) are not failures of Accord; a sign-off here never gets a 404.
      bad: results.reduce(
        (n, r) => n + r.non2xx + r.errors - (m.ranOut ? (r.statusCodeStats?.['404']?.count ?? 0) : 0),
        0
      ),
      ranOut: m.ranOut
    }
  }
  // Each signer's token seen once on each instance (a partner reads what they sign first).
  for (const origin of origins)
    for (const auth of tokens.values()) await fetch(`${origin}/v1/me`, { headers: { authorization: auth } })
  log('warming up (2 s each, not recorded)…')
  const warm = [await measure([origins[0]!], 2), await measure(origins, 2)]

  const samples: Record<'one' | 'two', Sample[]> = { one: [], two: [] }
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, over] of [
      ['one', [origins[0]!]],
      ['two', origins]
    ] as const) {
      const s = await measure([...over], DURATION_S)
      samples[name].push(s)
      log(
        `round ${round} ${name} instance(s): ${s.rps.toFixed(0)} sign-offs/s, p99 ${s.p99} ms, failed ${s.bad}` +
          (s.ranOut ? ' (the seeded proposals ran out: raise BENCH_INSTANCES_PARTNERSHIPS)' : '')
      )
    }
  }
  const signedUnderLoad = [...warm, ...samples.one, ...samples.two].reduce((n, s) => n + s.ok, 0)

  log(`racing ${RACE} last signatures, each sent to both instances at once…`)
  const outcomes = new Map<string, number>()
  let bothSucceeded = 0
  let noneSucceeded = 0
  for (let k = 0; k < racing.length; k += 25) {
    await Promise.all(
      racing.slice(k, k + 25).map(async (p) => {
        const r = signRequest(p)
        const statuses = await Promise.all(
          origins.map(async (o) => {
            const res = await fetch(`${o}${r.path}`, { method: 'POST', headers: r.headers, body: r.body })
            const body = (await res.json()) as { code?: string }
            return res.status === 201 ? '201' : `${res.status} ${body.code}`
          })
        )
        for (const s of statuses) outcomes.set(s, (outcomes.get(s) ?? 0) + 1)
        const won = statuses.filter((s) => s === '201').length
        if (won > 1) bothSucceeded++
        if (won === 0) noneSucceeded++
      })
    )
  }

  // What the database says: every successful sign-off activated its version once, with one event.
  const [counts] = await sql`select
      (select count(*)::int from agreement_versions where status = 'active') as active,
      (select count(*)::int from events where type = 'version.activated') as activated,
      (select count(*)::int from (select agreement_id from agreement_versions where status = 'active'
        group by agreement_id having count(*) > 1) x) as doubly_active`
  // At least every acknowledged sign-off activated its version; at most every one sent did (autocannon stops
  // counting at the end of a round while up to 50 requests are still in flight, and those complete).
  const expectedActive = seeded.readers.length + signedUnderLoad + (RACE - noneSucceeded)
  const sentActive = seeded.readers.length + Math.min(next, queue.length) + (RACE - noneSucceeded)
  // Every chain a race touched verifies, through either instance.
  let brokenChains = 0
  const touched = [...new Set(racing.map((p) => p.partnershipId))].slice(0, 100)
  for (const [k, pid] of touched.entries()) {
    const p = racing.find((x) => x.partnershipId === pid)!
    const res = await fetch(`${origins[k % 2]}/v1/partnerships/${pid}/audit/verify`, {
      headers: { authorization: tokens.get(p.subject)! }
    })
    if (!((await res.json()) as { valid: boolean }).valid) brokenChains++
  }

  const result = {
    instances: 2,
    rounds: ROUNDS,
    duration_s: DURATION_S,
    one_instance_rps: Math.round(median(samples.one.map((s) => s.rps))),
    two_instances_rps: Math.round(median(samples.two.map((s) => s.rps))),
    two_over_one: Number(median(samples.two.map((s, i) => s.rps / samples.one[i]!.rps)).toFixed(3)),
    one_instance_p99_ms: median(samples.one.map((s) => s.p99)),
    two_instances_p99_ms: median(samples.two.map((s) => s.p99)),
    failed_requests: samples.one.concat(samples.two).reduce((n, s) => n + s.bad, 0),
    ran_out_rounds: samples.one.concat(samples.two).filter((s) => s.ranOut).length,
    race: {
      proposals: RACE,
      outcomes: Object.fromEntries(outcomes),
      both_succeeded: bothSucceeded,
      none_succeeded: noneSucceeded
    },
    active_versions: counts!.active as number,
    acknowledged_active_versions: expectedActive,
    sent_active_versions: sentActive,
    version_activated_events: counts!.activated as number,
    doubly_active_agreements: counts!.doubly_active as number,
    chains_verified: touched.length,
    broken_chains: brokenChains
  }
  process.stdout.write(
    `\n| instances | sign-offs/s (median) | p99 ms | ratio to one (within rounds) |\n| ---: | ---: | ---: | ---: |\n| 1 | ${result.one_instance_rps} | ${result.one_instance_p99_ms} | 1 |\n| 2 | ${result.two_instances_rps} | ${result.two_instances_p99_ms} | ${result.two_over_one} |\n\n` +
      `race: ${RACE} last signatures sent to both instances at once: ${[...outcomes].map(([s, n]) => `${s} ×${n}`).join(', ')}; both succeeded ${bothSucceeded}, none ${noneSucceeded}\n` +
      `active versions ${result.active_versions} (acknowledged ${expectedActive}, sent ${sentActive}), version.activated events ${result.version_activated_events}, agreements active twice ${result.doubly_active_agreements}, broken chains ${brokenChains} of ${touched.length}\n\n${JSON.stringify(result)}\n`
  )
  for (const i of instances) i.kill('SIGTERM')
  await sql.end()
  await database.close()
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} })
  await admin.unsafe(`drop database if exists ${DB_NAME} with (force)`)
  await admin.end()
  const violations =
    bothSucceeded +
    noneSucceeded +
    result.doubly_active_agreements +
    brokenChains +
    Math.max(0, expectedActive - result.active_versions) +
    Math.max(0, result.active_versions - sentActive) +
    Math.abs(result.version_activated_events - result.active_versions)
  if (violations > 0) {
    log(`VIOLATIONS: ${violations}`)
    process.exitCode = 1
  }
  // Not a violation of exactly-once, but its rates are of shorter rounds than asked: the run says so and fails.
  if (result.ran_out_rounds > 0) {
    log(`${result.ran_out_rounds} measured round(s) ran out of seeded proposals: raise BENCH_INSTANCES_PARTNERSHIPS`)
    process.exitCode = 1
  }
}

await main()

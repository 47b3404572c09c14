// npm run bench:scale: the hot read and the scheduler's due-review query at 10,000 and at 1,000,000
// agreements, on PostgreSQL: latency at both sizes and the query plans (EXPLAIN ANALYZE) at the larger.
// Loopback only, bounded (a few minutes), stops by itself. Prints a table, the plans, then one JSON line.
import { type ChildProcess, spawn } from 'node:child_process'
import autocannon from 'autocannon'
import postgres from 'postgres'
import { AGREEMENT_DETAIL_JSON, AGREEMENT_REVISION_FOR_MEMBER } from '../src/agreements/agreement.render.ts'
import { loadConfig } from '../src/config.ts'
import { createDb } from '../src/db/client.ts'
import { loadServiceKeys } from '../src/keys/key.service.ts'
import { dueAgreementsQuery } from '../src/reviews/review.repo.ts'
import { freePort, freshDatabase, root, startEnv, startFlags } from './common.ts'
import { seed } from './seed.ts'

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const DB_NAME = 'accord_scale'
const BASE = 10_000
const TARGET = Number(process.env.BENCH_SCALE_AGREEMENTS ?? 1_000_000)
const log = (s: string) => process.stderr.write(`${s}\n`)

let accord: ChildProcess | undefined
process.on('exit', () => accord?.kill('SIGTERM'))

async function main() {
  const DATABASE_URL = await freshDatabase(ADMIN_URL, DB_NAME)
  const port = await freePort()
  const publicUrl = `http://127.0.0.1:${port}`
  const config = loadConfig({ DATABASE_URL, PUBLIC_URL: publicUrl, LOG_LEVEL: 'silent' })
  const database = await createDb(config.database)
  await database.migrate()
  const keys = await loadServiceKeys(database.db, () => new Date())
  const sql = postgres(DATABASE_URL, { max: 2, onnotice: () => {} })
  log(`seeding ${BASE} partnerships, one active agreement each…`)
  const seeded = await seed(
    sql,
    keys,
    {
      issuer: publicUrl,
      partnerships: BASE,
      proposalsPer: 0,
      eventHeavy: 0,
      withReviews: 1000,
      incidentsPer: 20,
      appreciationsPer: 20,
      completedReviews: 6
    },
    log
  )
  // Half the seeded agreements are due for review, so the due-review query has work at both sizes.
  await sql`update agreements set next_review_at = now() - interval '1 hour' where id in (select id from agreements order by id limit ${BASE / 2})`

  accord = spawn(process.execPath, [...startFlags, 'src/server.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      ...startEnv,
      DATABASE_URL,
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: publicUrl,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PER_MINUTE: '1000000',
      SCHEDULER_INTERVAL_MS: '0'
    },
    stdio: ['ignore', 'ignore', 'inherit']
  })
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${publicUrl}/healthz`)).ok) break
    } catch {}
    await new Promise((r) => setTimeout(r, 100))
  }
  const readers = await Promise.all(
    seeded.readers.slice(0, 1000).map(async (r) => ({
      ...r,
      auth: `Bearer ${await keys.signJwt({}, { issuer: publicUrl, audience: config.auth.audience, subject: r.subject, ttlSeconds: 3600, now: new Date() })}`
    }))
  )

  const due = dueAgreementsQuery(database.db, new Date(), 100).toSQL()
  const userIds = new Map(
    (await sql`select subject, id from users where subject = any(${readers.map((r) => r.subject)})`).map((u) => [
      u.subject as string,
      u.id as string
    ])
  )
  const detailParamsOf = (r: (typeof readers)[number]) => [r.partnershipId, r.agreementId, userIds.get(r.subject)!]
  const detailParams = detailParamsOf(readers[0]!)
  /** A statement's own execution time in the server (EXPLAIN ANALYZE), 200 runs, sorted. */
  const serverTimes = async (text: string, paramsOf: (k: number) => unknown[]) => {
    const times: number[] = []
    for (let k = 0; k < 200; k++) {
      const [plan] = await sql.unsafe(`explain (analyze, format json) ${text}`, paramsOf(k) as never[])
      times.push((plan!['QUERY PLAN'] as Array<{ 'Execution Time': number }>)[0]!['Execution Time'])
    }
    return times.sort((a, b) => a - b)
  }

  const measure = async (label: string) => {
    await sql.unsafe('vacuum analyze')
    let i = 0
    const pick = () => readers[i++ % readers.length]!
    const getPath = (r: (typeof readers)[number]) => `/v1/partnerships/${r.partnershipId}/agreements/${r.agreementId}`
    const requests: autocannon.Request[] = [
      {
        method: 'GET',
        setupRequest: (req) => {
          const r = pick()
          return { ...req, path: getPath(r), headers: { authorization: r.auth } }
        }
      }
    ]
    await autocannon({ url: publicUrl, connections: 10, duration: 3, requests })
    const http = await autocannon({ url: publicUrl, connections: 10, duration: 8, requests })
    // Latency of one request at a time, to the microsecond (autocannon's histogram counts whole
    // milliseconds, and a loaded GET here takes less than one): 2,000 GETs, one connection.
    const latencies: number[] = []
    let probeErrors = 0
    for (let k = 0; k < 2000; k++) {
      const r = pick()
      const t0 = performance.now()
      const res = await fetch(`${publicUrl}${getPath(r)}`, { headers: { authorization: r.auth } })
      await res.arrayBuffer()
      latencies.push(performance.now() - t0)
      if (res.status !== 200) probeErrors++
    }
    latencies.sort((a, b) => a - b)
    // The statements' own time in the server (EXPLAIN ANALYZE's execution time), 200 runs each:
    // sub-millisecond queries measured through a client would mostly measure the round trip.
    const dueTimes = await serverTimes(due.sql, () => due.params)
    const renderTimes = await serverTimes(AGREEMENT_DETAIL_JSON, (k) => detailParamsOf(readers[k % readers.length]!))
    const ms = (x: number) => Number(x.toFixed(3))
    const [{ n }] = (await sql`select count(*)::int as n from agreements`) as unknown as [{ n: number }]
    const row = {
      label,
      agreements: n,
      get_rps: Math.round(http['2xx'] / 8),
      get_p50_ms: ms(latencies[1000]!),
      get_p99_ms: ms(latencies[1980]!),
      render_query_p50_ms: ms(renderTimes[100]!),
      due_query_p50_ms: ms(dueTimes[100]!),
      due_query_p99_ms: ms(dueTimes[198]!),
      errors: http.non2xx + http.errors + probeErrors
    }
    log(`${label}: ${JSON.stringify(row)}`)
    return row
  }

  const small = await measure('10k')
  log(`adding ${TARGET - BASE} agreements (with a version and a signature each) in bulk…`)
  const per = 10
  const extraPartnerships = Math.ceil((TARGET - BASE) / per)
  const [owner] = await sql`select id from users limit 1`
  await sql.unsafe(`
    insert into partnerships (id, name, timezone, status, revision, created_at, updated_at)
      select uuidv7_like, 'Filler ' || g, 'Europe/Paris', 'active', 1, now(), now()
      from (select g, (lpad(to_hex(g), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid as uuidv7_like from generate_series(1, ${extraPartnerships}) g) s`)
  await sql.unsafe(`
    insert into agreements (id, partnership_id, title, category, lifecycle, active_version, open_proposal, last_version_number, next_review_at, revision_requested, ever_proposed, revision, created_by, created_at, updated_at)
      select gen_random_uuid(), (lpad(to_hex(1 + (g - 1) / ${per}), 8, '0') || '-0000-7000-8000-' || lpad(to_hex(1 + (g - 1) / ${per}), 12, '0'))::uuid,
        'Filler', 'transparency', 'active', 1, null, 1, now() + (g % 365) * interval '1 day', false, true, 1, '${owner!.id}', now(), now()
      from generate_series(1, ${TARGET - BASE}) g`)
  await sql.unsafe(`
    insert into agreement_versions (id, agreement_id, number, kind, status, content, content_hash, author_id, required_signers, revision, created_at, proposed_at, activated_at)
      select gen_random_uuid(), a.id, 1, 'terms', 'active', '{"title":"Filler"}'::jsonb, 'sha256:filler', a.created_by, '[]'::jsonb, 1, now(), now(), now()
      from agreements a where a.title = 'Filler'`)
  await sql.unsafe(`
    insert into signatures (id, version_id, signer_id, content_hash, signed_at, receipt)
      select gen_random_uuid(), v.id, v.author_id, v.content_hash, now(), 'filler' from agreement_versions v where v.content_hash = 'sha256:filler'`)
  const large = await measure('1M')

  const explain = async (text: string, params: unknown[]) =>
    (await sql.unsafe(`explain (analyze, buffers, costs off, timing off, summary off) ${text}`, params as never[]))
      .map((r) => r['QUERY PLAN'])
      .join('\n')
  // GET agreement: the check that serves a kept body (membership + ETag version), and the render when there is none.
  const plans = {
    get_agreement_check: await explain(AGREEMENT_REVISION_FOR_MEMBER, detailParams),
    get_agreement_render: await explain(AGREEMENT_DETAIL_JSON, detailParams),
    due_reviews: await explain(due.sql, due.params)
  }
  process.stdout.write(
    `\n| size | agreements | GET req/s (10 conns) | GET p50 ms (1 conn) | GET p99 ms (1 conn) | render query p50 ms (server) | due query p50 ms (server) | due query p99 ms (server) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n`
  )
  for (const r of [small, large])
    process.stdout.write(
      `| ${r.label} | ${r.agreements} | ${r.get_rps} | ${r.get_p50_ms} | ${r.get_p99_ms} | ${r.render_query_p50_ms} | ${r.due_query_p50_ms} | ${r.due_query_p99_ms} |\n`
    )
  process.stdout.write(
    `\nGET agreement at ${large.agreements} agreements, the check of a kept body:\n${plans.get_agreement_check}\n\nGET agreement, the render:\n${plans.get_agreement_render}\n\nDue-review plan:\n${plans.due_reviews}\n\n`
  )
  const ratio = (a: number, b: number) => Number((a / Math.max(b, 0.001)).toFixed(2))
  process.stdout.write(
    `${JSON.stringify({ agreements_small: small.agreements, agreements_large: large.agreements, get_p50_ratio: ratio(large.get_p50_ms, small.get_p50_ms), get_p99_ratio: ratio(large.get_p99_ms, small.get_p99_ms), render_p50_ratio: ratio(large.render_query_p50_ms, small.render_query_p50_ms), due_p50_ratio: ratio(large.due_query_p50_ms, small.due_query_p50_ms), get_uses_index: ![plans.get_agreement_check, plans.get_agreement_render].some((p) => /Seq Scan on (agreements|agreement_versions|signatures|memberships)\b/.test(p)), due_uses_index: !/Seq Scan on agreements\b/.test(plans.due_reviews), small, large })}\n`
  )
  accord.kill('SIGTERM')
  await sql.end()
  await database.close()
}

try {
  await main()
  process.exit(0)
} catch (err) {
  log(`bench:scale failed: ${(err as Error).stack ?? String(err)}`)
  process.exit(1)
}

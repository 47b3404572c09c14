import { performance } from 'node:perf_hooks'
import postgres from 'postgres'
import { chainEvents, type NewEvent } from '../src/audit/event.rules.ts'
import { loadConfig } from '../src/config.ts'
import { createDb } from '../src/db/client.ts'
import { newId } from '../src/db/columns.ts'
import { loadKek } from '../src/keys/kek.ts'
import { loadServiceKeys } from '../src/keys/key.service.ts'
import { accordEnv, freePort, freshDatabase, median, resetPeak, serverArgs, start, statusMb } from './common.ts'
import { seed } from './seed.ts'

const ADMIN_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const DB_NAME = process.env.BENCH_VERIFY_DB ?? 'accord_bench_verify'
const EVENTS = Number(process.env.BENCH_VERIFY_EVENTS ?? 100_000)
const RUNS = Number(process.env.BENCH_VERIFY_RUNS ?? 5)
const log = (s: string) => process.stderr.write(`${s}\n`)

/** The shapes of data the API's events carry, in turn (flat scalars, arrays, dates, a number, free text). */
function eventOf(k: number, pid: string, actors: readonly string[]): NewEvent {
  const actorId = actors[k % actors.length]!
  const agreementId = newId()
  switch (k % 8) {
    case 0:
      return {
        partnershipId: pid,
        type: 'partnership.updated',
        actorId,
        subject: { type: 'partnership', id: pid },
        data: { name: `Us, ${k}` }
      }
    case 1:
      return {
        partnershipId: pid,
        type: 'version.signed',
        actorId,
        subject: { type: 'version', id: `${agreementId}/3` },
        data: { agreementId, number: 3 }
      }
    case 2:
      return {
        partnershipId: pid,
        type: 'incident.reported',
        actorId,
        subject: { type: 'incident', id: newId() },
        data: { agreementId, versionNumber: 2, clauseKey: 'no-hidden-chats' }
      }
    case 3:
      return {
        partnershipId: pid,
        type: 'webhook.created',
        actorId,
        subject: { type: 'webhook', id: newId() },
        data: { eventTypes: ['version.activated', 'review.*'] }
      }
    case 4:
      return {
        partnershipId: pid,
        type: 'review.completed',
        actorId,
        subject: { type: 'review', id: newId() },
        data: { agreementId, outcome: 'renewed', rating: 4 }
      }
    case 5:
      return {
        partnershipId: pid,
        type: 'invitation.created',
        actorId,
        subject: { type: 'invitation', id: newId() },
        data: { role: 'observer', expiresAt: new Date(1_800_000_000_000 + k).toISOString() }
      }
    case 6:
      return {
        partnershipId: pid,
        type: 'proposal.countered',
        actorId,
        subject: { type: 'version', id: `${agreementId}/4` },
        data: { agreementId, number: 4, by: 5, counter: true }
      }
    default:
      return {
        partnershipId: pid,
        type: 'webhook.paused',
        actorId: null,
        subject: { type: 'webhook', id: newId() },
        data: { reason: 'Ça ne répond plus — 受信できません "quoted" \\ \n' }
      }
  }
}

async function main() {
  const DATABASE_URL = await freshDatabase(ADMIN_URL, DB_NAME)
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const accord = await start(
    serverArgs(),
    accordEnv({ databaseUrl: DATABASE_URL, port, publicUrl: origin }),
    `${origin}/healthz`
  )
  const config = loadConfig({ DATABASE_URL, PUBLIC_URL: origin, LOG_LEVEL: 'silent' })
  const database = await createDb(config.database)
  const kek = loadKek(config.secrets)
  const keys = await loadServiceKeys(database.db, () => new Date(), kek)
  const sql = postgres(DATABASE_URL, { max: 2, onnotice: () => {} })
  const seeded = await seed(
    sql,
    keys,
    kek,
    {
      issuer: origin,
      partnerships: 1,
      proposalsPer: 0,
      eventHeavy: 0,
      withReviews: 0,
      incidentsPer: 0,
      appreciationsPer: 0,
      completedReviews: 0
    },
    () => {}
  )
  const reader = seeded.readers[0]!
  const pid = reader.partnershipId
  const actors = (await sql`select user_id from memberships where partnership_id = ${pid}`).map(
    (r) => r.user_id as string
  )
  log(`appending ${EVENTS.toLocaleString('en')} events to one partnership's log…`)
  let [head] =
    (await sql`select seq, hash from events where partnership_id = ${pid} order by seq desc limit 1`) as unknown as Array<{
      seq: number
      hash: string
    }>
  const at0 = Date.now() - EVENTS * 1000
  for (let done = 0; done < EVENTS; done += 2000) {
    const rows = []
    for (let k = done; k < Math.min(EVENTS, done + 2000); k++) {
      const [e] = chainEvents(head ?? null, [eventOf(k, pid, actors)], new Date(at0 + k * 1000 + (k % 1000)))
      head = { seq: e!.seq, hash: e!.hash }
      rows.push({
        partnership_id: pid,
        seq: e!.seq,
        type: e!.type,
        actor_id: e!.actorId,
        subject_type: e!.subjectType,
        subject_id: e!.subjectId,
        data: sql.json(e!.data as never),
        at: e!.at,
        prev_hash: e!.prevHash,
        hash: e!.hash
      })
    }
    await sql`insert into events ${sql(rows as never)}`
  }
  await sql.unsafe('vacuum analyze events')
  await sql.unsafe('checkpoint')
  const total = head!.seq
  const auth = `Bearer ${await keys.signJwt({}, { issuer: origin, audience: config.auth.audience, subject: reader.subject, ttlSeconds: 3600, now: new Date() })}`
  const headers = { authorization: auth, 'content-type': 'application/json' }
  const base = `${origin}/v1/partnerships/${pid}`
  const checkpoint = ((await (await fetch(`${base}/audit/checkpoint`, { headers })).json()) as { checkpoint: string })
    .checkpoint
  const failures: string[] = []

  const getVerify = async () =>
    (await fetch(`${base}/audit/verify`, { headers })).json() as Promise<Record<string, unknown>>
  const postVerify = async () =>
    (
      await fetch(`${base}/audit/verify`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ checkpoints: [checkpoint] })
      })
    ).json() as Promise<Record<string, unknown>>
  const timed = async <T>(fn: () => Promise<T>): Promise<[number, T]> => {
    const t0 = performance.now()
    const v = await fn()
    return [performance.now() - t0, v]
  }
  const baselineRead = async () => {
    const rows = await sql`select * from events where partnership_id = ${pid} order by seq`
    return rows.length
  }
  // The first verification recomputes every event (nothing is remembered yet): timed on its own.
  const [coldMs, cold] = await timed(getVerify)
  if (cold.valid !== true) failures.push(`first GET verify: ${JSON.stringify(cold).slice(0, 300)}`)
  await baselineRead()
  const idleRss = statusMb(accord.pid!, 'VmRSS')
  resetPeak(accord.pid!)
  const get: number[] = []
  const post: number[] = []
  const read: number[] = []
  for (let r = 0; r < RUNS; r++) {
    const [tb, n] = await timed(baselineRead)
    if (n !== total) failures.push(`baseline read ${n} rows, expected ${total}`)
    read.push(tb)
    const [tg, g] = await timed(getVerify)
    if (g.valid !== true || g.eventCount !== total) failures.push(`GET verify: ${JSON.stringify(g).slice(0, 300)}`)
    get.push(tg)
    const [tp, p] = await timed(postVerify)
    const results = p.results as Array<{ status: string }> | undefined
    if (p.chainBrokenAt !== null || results?.[0]?.status !== 'ok')
      failures.push(`POST verify: ${JSON.stringify(p).slice(0, 300)}`)
    post.push(tp)
  }
  const peakRss = statusMb(accord.pid!, 'VmHWM')

  // One link broken near the end, behind the triggers: both verifications must name it.
  const broken = total - 10
  await sql.begin(async (tx) => {
    await tx.unsafe('set local session_replication_role = replica')
    await tx`update events set data = ${tx.json({ name: 'rewritten' } as never)} where partnership_id = ${pid} and seq = ${broken}`
  })
  const [tBroken, g] = await timed(getVerify)
  if (g.valid !== false || g.firstBrokenSeq !== broken || g.reason !== 'hash-mismatch')
    failures.push(`GET verify after the break at ${broken}: ${JSON.stringify(g).slice(0, 300)}`)
  const p = await postVerify()
  if (p.chainBrokenAt !== broken)
    failures.push(`POST verify after the break at ${broken}: ${JSON.stringify(p).slice(0, 300)}`)

  const summary = {
    events: total,
    firstGetVerifyMs: Math.round(coldMs),
    getVerifyMs: { median: Math.round(median(get)), min: Math.round(Math.min(...get)) },
    postVerifyMs: { median: Math.round(median(post)), min: Math.round(Math.min(...post)) },
    baselineReadMs: { median: Math.round(median(read)), min: Math.round(Math.min(...read)) },
    getVsRead: Number((median(get) / median(read)).toFixed(2)),
    brokenFoundMs: Math.round(tBroken),
    rssMb: { idle: Math.round(idleRss), peakWhileVerifying: Math.round(peakRss) },
    failures
  }
  const pad = (s: string, n: number) => s.padEnd(n)
  console.log(`\naudit/verify on one partnership of ${total.toLocaleString('en')} events, ${RUNS} runs (ms):`)
  console.log(`${pad('', 34)}median     min`)
  for (const [name, xs] of [
    ['GET …/audit/verify', get],
    ['POST …/audit/verify (1 checkpoint)', post],
    ['baseline: read the rows (postgres.js)', read]
  ] as const)
    console.log(
      `${pad(name, 34)}${median(xs).toFixed(0).padStart(6)}  ${Math.min(...xs)
        .toFixed(0)
        .padStart(6)}`
    )
  console.log(
    `GET verify / reading the rows: ${summary.getVsRead}×; a break at seq ${broken} found in ${summary.brokenFoundMs} ms`
  )
  console.log(
    `Accord RSS: ${summary.rssMb.idle} MB before, peak ${summary.rssMb.peakWhileVerifying} MB while verifying`
  )
  if (failures.length) console.log(`FAILURES:\n  ${failures.join('\n  ')}`)
  console.log(JSON.stringify(summary))
  await sql.end()
  await database.close()
  accord.kill('SIGTERM')
  const admin = postgres(ADMIN_URL, { max: 1, onnotice: () => {} })
  await admin.unsafe(`drop database if exists ${DB_NAME} with (force)`).catch(() => {})
  await admin.end()
  process.exit(failures.length ? 1 : 0)
}

await main()

// A bounded soak on PostgreSQL: mixed traffic at 50 connections for --soak-seconds, the API's RSS
// read from /proc every second. A leak shows as RSS still climbing once warmed up; a slow leak in
// time (a growing queue, a cache without bound) as a p99 that drifts up minute after minute.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { freePort, freshDatabase } from '../../bench/common.ts'
import { apiEnv } from './api-kill.ts'
import { baseUrlOf, errorLines, rssMb, startApi, stopApi } from './api-process.ts'
import { keepFiles, onCleanup } from './cleanup.ts'
import { type Actor, type Api, apiOf, is2xx } from './client.ts'
import { type Tally, violate } from './tally.ts'
import { inPool, log, percentile, type Rng, round } from './util.ts'
import { contentOf } from './world.ts'

const CONNECTIONS = 50
/** Growth of RSS from warm-up to the end that counts as a leak. */
const MAX_GROWTH_PCT = 10
/** A p99 at the end more than this times the one after warm-up is not "stable". */
const MAX_P99_RATIO = 2

export interface SoakResult {
  seconds: number
  connections: number
  requests: number
  rps: number
  errors: number
  errorsBy: Record<string, number>
  rssMb: { afterWarmup: number | null; end: number | null; peak: number | null; growthPct: number | null }
  windowS: number
  latencyMs: Array<{ fromS: number; requests: number; p50: number | null; p99: number | null }>
  p99Ratio: number | null
}

interface World {
  a: Actor
  b: Actor
  pid: string
  aid: string
  number: number
}

/** One worker's partnership: two partners and an active agreement, set up through the API. */
async function worldOf(api: Api, runId: string, i: number): Promise<World> {
  const [a, b] = await Promise.all([api.actor(`${runId}-soak${i}-a`), api.actor(`${runId}-soak${i}-b`)])
  const must = async (method: string, path: string, actor: Actor, body?: unknown) => {
    const r = await api.request(method, path, { token: actor.token, body })
    if (!is2xx(r))
      throw new Error(`soak set-up: ${method} ${path} answered ${r.status ?? r.error} ${r.text.slice(0, 200)}`)
    return r.json
  }
  const pid = (await must('POST', '/v1/partnerships', a, { name: `soak ${i}`, timezone: 'Europe/Paris' })).id as string
  const invitation = await must('POST', `/v1/partnerships/${pid}/invitations`, a, { role: 'partner' })
  await must('POST', '/v1/invitations/accept', b, { token: invitation.token })
  const agreement = await must('POST', `/v1/partnerships/${pid}/agreements`, a, { content: contentOf(`soak ${i}`) })
  await must('POST', `/v1/partnerships/${pid}/agreements/${agreement.id}/versions/1/signatures`, b, {
    contentHash: agreement.proposal.contentHash
  })
  return { a, b, pid, aid: agreement.id, number: 1 }
}

export async function runSoak(o: {
  seconds: number
  rng: Rng
  tally: Tally
  runId: string
  adminUrl: string
}): Promise<SoakResult> {
  const dbName = `accord_soak_${o.runId.replace(/\W/g, '_')}`
  const databaseUrl = await freshDatabase(o.adminUrl, dbName)
  onCleanup(`database ${dbName}`, async () => {
    const admin = postgres(o.adminUrl, { max: 1, onnotice: () => {} })
    await admin.unsafe(`drop database if exists ${dbName} with (force)`)
    await admin.end()
  })
  const dir = mkdtempSync(join(tmpdir(), 'accord-faults-soak-'))
  onCleanup(`temporary directory ${dir}`, () =>
    keepFiles ? log(`kept ${dir}`) : rmSync(dir, { recursive: true, force: true })
  )
  const port = await freePort()
  // The kept event pages (EVENTS_CACHE_MB) are memory by design: at the default 32 MB they fill through the whole
  // soak and read as growth. At 1 MB they are full within the warm-up, and every later page is kept by evicting
  // another, so what is measured after it is whether eviction gives the memory back.
  const spec = {
    port,
    logFile: join(dir, 'api.log'),
    env: { ...apiEnv(10_000), DATABASE_URL: databaseUrl, EVENTS_CACHE_MB: '1' }
  }
  const api = await startApi(spec)
  const client = apiOf(baseUrlOf(port), 30_000)
  const worlds: World[] = []
  await inPool(
    Array.from({ length: CONNECTIONS }, (_, i) => i),
    10,
    async (i) => {
      worlds[i] = await worldOf(client, o.runId, i)
    }
  )
  log(`soak: ${CONNECTIONS} partnerships set up; ${o.seconds} s of mixed traffic at ${CONNECTIONS} connections…`)

  const windowS = o.seconds >= 180 ? 60 : Math.max(5, Math.round(o.seconds / 6))
  const warmupS = Math.min(60, Math.max(5, Math.round(o.seconds / 5)))
  const latencies: number[][] = []
  const errorsBy: Record<string, number> = {}
  let requests = 0
  const rss: Array<{ t: number; mb: number }> = []
  const t0 = performance.now()
  const deadline = t0 + o.seconds * 1000
  const sampler = setInterval(() => {
    const mb = rssMb(api.pid)
    if (mb !== null) rss.push({ t: (performance.now() - t0) / 1000, mb })
  }, 1000)

  /** One request of the mix; a non-2xx answer or no answer is an error (nothing in this mix may fail). */
  const call = async (
    method: string,
    path: string,
    actor: Actor,
    o2: { body?: unknown; key?: boolean; ifMatch?: string | null; route: string }
  ) => {
    const r = await client.request(method, path, {
      token: actor.token,
      body: o2.body,
      key: o2.key ? crypto.randomUUID() : null,
      ifMatch: o2.ifMatch ?? null
    })
    const bucket = Math.floor((r.startedAt - t0) / 1000 / windowS)
    ;(latencies[bucket] ??= []).push(r.ms)
    requests++
    if (!is2xx(r)) {
      const label = `${o2.route} → ${r.status ?? r.error}${r.code ? ` ${r.code}` : ''}`
      errorsBy[label] = (errorsBy[label] ?? 0) + 1
      return null
    }
    return r
  }
  const base = (w: World) => `/v1/partnerships/${w.pid}/agreements/${w.aid}`
  const worker = async (w: World) => {
    while (performance.now() < deadline) {
      const pick = o.rng.next()
      const reader = o.rng.next() < 0.5 ? w.a : w.b
      if (pick < 0.3) await call('GET', base(w), reader, { route: 'GET agreement' })
      else if (pick < 0.45)
        await call('GET', `/v1/partnerships/${w.pid}/events?limit=50`, reader, { route: 'GET events' })
      else if (pick < 0.55) await call('GET', '/v1/me/reviews?status=open', reader, { route: 'GET me/reviews' })
      else if (pick < 0.75) {
        // A sign-off round: read, propose the next version (If-Match), the other partner signs: it activates.
        const read = await call('GET', base(w), w.a, { route: 'GET agreement' })
        if (!read) continue
        const proposed = await call('POST', `${base(w)}/versions`, w.a, {
          body: { basedOn: w.number, content: contentOf(`soak ${w.pid} v${w.number + 1}`) },
          key: true,
          ifMatch: read.etag,
          route: 'POST versions'
        })
        if (!proposed) continue
        const signed = await call('POST', `${base(w)}/versions/${proposed.json.number}/signatures`, w.b, {
          body: { contentHash: proposed.json.contentHash },
          key: true,
          route: 'POST signatures'
        })
        if (signed) w.number = proposed.json.number
      } else if (pick < 0.85) {
        const invited = await call('POST', `/v1/partnerships/${w.pid}/invitations`, w.a, {
          body: { role: 'partner' },
          key: true,
          route: 'POST invitations'
        })
        if (invited)
          await call('DELETE', `/v1/partnerships/${w.pid}/invitations/${invited.json.id}`, w.a, {
            route: 'DELETE invitation'
          })
      } else {
        const opened = await call('POST', `${base(w)}/reviews`, w.a, { key: true, route: 'POST reviews' })
        if (!opened) continue
        for (const who of [w.a, w.b])
          await call('PUT', `${base(w)}/reviews/${opened.json.id}/responses/me`, who, {
            body: { outcome: 'keep', rating: 4, note: 'still working' },
            route: 'PUT review answer'
          })
      }
    }
  }
  let lastReport = 0
  const reporter = setInterval(() => {
    const t = (performance.now() - t0) / 1000
    if (t - lastReport < 60 && o.seconds > 120) return
    lastReport = t
    log(
      `soak: ${Math.round(t)} s, ${requests} requests, ${Object.values(errorsBy).reduce((a, b) => a + b, 0)} errors, RSS ${rss.at(-1)?.mb.toFixed(0) ?? '?'} MB`
    )
  }, 10_000)
  await Promise.all(worlds.map(worker))
  clearInterval(sampler)
  clearInterval(reporter)
  const elapsedS = (performance.now() - t0) / 1000

  const median = (xs: number[]) => percentile(xs, 50)
  const window = Math.min(30, Math.max(3, Math.round(o.seconds / 6)))
  const afterWarmup = median(rss.filter((s) => s.t >= warmupS && s.t < warmupS + window).map((s) => s.mb))
  const end = median(rss.filter((s) => s.t >= elapsedS - window).map((s) => s.mb))
  const growthPct = afterWarmup !== null && end !== null ? ((end - afterWarmup) / afterWarmup) * 100 : null
  const latencyMs = latencies.map((xs, i) => ({
    fromS: i * windowS,
    requests: xs?.length ?? 0,
    p50: round(percentile(xs ?? [], 50), 1),
    p99: round(percentile(xs ?? [], 99), 1)
  }))
  // Full windows after warm-up only (the first holds the warm-up, the last may be a few requests); the
  // median of the last third against that of the first third, so one noisy minute on a shared machine is not a trend.
  const steady = latencyMs
    .filter((w) => w.fromS >= warmupS && w.fromS + windowS <= o.seconds && w.p99 !== null)
    .map((w) => w.p99!)
  const third = Math.max(1, Math.floor(steady.length / 3))
  const p99First = median(steady.slice(0, third))
  const p99Last = median(steady.slice(-third))
  const p99Ratio = steady.length >= 2 && p99First && p99Last ? round(p99Last / p99First, 2) : null
  const errors = Object.values(errorsBy).reduce((a, b) => a + b, 0)
  const result: SoakResult = {
    seconds: o.seconds,
    connections: CONNECTIONS,
    requests,
    rps: Math.round(requests / elapsedS),
    errors,
    errorsBy,
    rssMb: {
      afterWarmup: round(afterWarmup),
      end: round(end),
      peak: round(Math.max(...rss.map((s) => s.mb))),
      growthPct: round(growthPct, 1)
    },
    windowS,
    latencyMs,
    p99Ratio
  }
  if (errors > 0) violate(o.tally, 'soakFailures', `${errors} requests failed in the soak: ${JSON.stringify(errorsBy)}`)
  if (growthPct !== null && growthPct > MAX_GROWTH_PCT)
    violate(
      o.tally,
      'soakFailures',
      `RSS grew ${growthPct.toFixed(1)} % after warm-up (${afterWarmup?.toFixed(0)} → ${end?.toFixed(0)} MB)`
    )
  if (p99Ratio !== null && p99Ratio > MAX_P99_RATIO)
    violate(o.tally, 'soakFailures', `p99 went from ${p99First} ms (first third) to ${p99Last} ms (last third)`)
  if (api.gone()) violate(o.tally, 'soakFailures', `the API exited during the soak (${await api.exited})`)
  const code = await stopApi(api)
  if (code !== '0') violate(o.tally, 'serverErrors', `soak: SIGTERM: the API exited ${code}, not 0`)
  for (const line of errorLines(spec.logFile).slice(0, 20)) log(`  API error log (soak): ${line.slice(0, 400)}`)
  log(
    `soak: ${requests} requests (${result.rps}/s), ${errors} errors; RSS ${result.rssMb.afterWarmup} → ${result.rssMb.end} MB (${result.rssMb.growthPct} %), peak ${result.rssMb.peak}; p99 per ${windowS} s: ${latencyMs.map((w) => w.p99).join(' ')}`
  )
  return result
}

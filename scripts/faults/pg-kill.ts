// Immediate stops of PostgreSQL under the same load, the API left running. While the database is
// down every request must be answered 503 problem+json within seconds (never a hang, never a 500);
// once it is back the same process must serve writes again on its own; nothing acknowledged before,
// during or after the outage may be missing.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, freshDatabase } from '../../bench/common.ts'
import { apiEnv } from './api-kill.ts'
import { baseUrlOf, countLines, errorLines, startApi, stopApi } from './api-process.ts'
import { checkAnswers } from './checks.ts'
import { keepFiles, onCleanup } from './cleanup.ts'
import { type Api, apiOf, is2xx, type Reply } from './client.ts'
import { checkPostgres } from './integrity.ts'
import type { Journal } from './journal.ts'
import { runLanes } from './lanes.ts'
import { createPrivateCluster } from './private-pg.ts'
import { type Tally, violate } from './tally.ts'
import { log, type Rng, sleep } from './util.ts'
import { checkCycle } from './verify.ts'
import { newLaneEnv, newRegistry } from './world.ts'

const REQUEST_TIMEOUT_MS = 3000
/** "503 … answered within seconds, never a hang" (README): the bound each answer during an outage must meet. */
export const OUTAGE_BOUND_MS = REQUEST_TIMEOUT_MS + 2000

export interface PgKillResult {
  kills: number
  /** From PostgreSQL accepting connections again to the first write the API acknowledged. */
  recoveryMs: number[]
  /** How long each answer given while PostgreSQL was down took (nearly all 503). */
  outageAnswerMs: number[]
  /** Status (or error) of every answer given while PostgreSQL was down, counted. */
  outageStatuses: Record<string, number>
  /** Outages the API process did not survive (it had to be started again to go on). */
  apiCrashes: number
  /** Responses the API sent without recording them under their Idempotency-Key (its own warning). */
  recordFailures: number
}

/** A write every 50 ms (a rename with If-Match: *), to time when the API serves writes again. */
function startProbe(api: Api, token: string, pid: string): { replies: Reply[]; stop(): Promise<void> } {
  const replies: Reply[] = []
  let running = true
  const loop = (async () => {
    for (let i = 0; running; i++) {
      replies.push(
        await api.request('PATCH', `/v1/partnerships/${pid}`, {
          token,
          body: { name: `probe ${i}` },
          ifMatch: '*',
          timeoutMs: 15_000
        })
      )
      await sleep(50)
    }
  })()
  return {
    replies,
    stop: async () => {
      running = false
      await loop
    }
  }
}

export async function runPgKills(o: {
  kills: number
  rng: Rng
  tally: Tally
  runId: string
  lanesPerKind: number
}): Promise<PgKillResult> {
  const cluster = await createPrivateCluster()
  const databaseUrl = await freshDatabase(cluster.adminUrl, 'accord')
  const dir = mkdtempSync(join(tmpdir(), 'accord-faults-pgkill-'))
  onCleanup(`temporary directory ${dir}`, () =>
    keepFiles ? log(`kept ${dir}`) : rmSync(dir, { recursive: true, force: true })
  )
  const port = await freePort()
  const spec = {
    port,
    logFile: join(dir, 'api.log'),
    env: { ...apiEnv(REQUEST_TIMEOUT_MS), DATABASE_URL: databaseUrl, DATABASE_CONNECT_TIMEOUT_S: '2' }
  }
  let api = await startApi(spec)
  const client = apiOf(baseUrlOf(port))
  const journal: Journal = { ops: [] }
  const registry = newRegistry()
  const prober = await client.actor(`${o.runId}-probe`)
  const probePid = (
    await client.request('POST', '/v1/partnerships', { token: prober.token, body: { name: 'probe', timezone: 'UTC' } })
  ).json.id as string
  const result: PgKillResult = {
    kills: 0,
    recoveryMs: [],
    outageAnswerMs: [],
    outageStatuses: {},
    apiCrashes: 0,
    recordFailures: 0
  }

  for (let k = 1; k <= o.kills; k++) {
    const cycle = `D${k}`
    const from = journal.ops.length
    const env = newLaneEnv({
      api: client,
      journal,
      registry,
      rng: o.rng,
      tally: o.tally,
      runId: o.runId,
      cycle,
      persistent: true
    })
    const lanes = runLanes(env, o.lanesPerKind)
    const probe = startProbe(client, prober.token, probePid)
    await sleep(o.rng.int(1000, 2500))
    await cluster.crash()
    const downAt = performance.now() // pg_ctl returned: every backend is gone
    const downFor = o.rng.int(1000, 5000)
    await sleep(downFor)
    const startAt = performance.now()
    await cluster.start()
    const upAt = performance.now() // pg_ctl start -w returned: recovery done, accepting connections
    let recovered: Reply | undefined
    while (!recovered && !api.gone() && performance.now() - upAt < 60_000) {
      await sleep(50)
      recovered = probe.replies.find((r) => r.startedAt >= upAt && is2xx(r))
    }
    if (api.gone()) {
      // A defect of its own (the service must ride out an outage): recorded, then the API is started
      // again so the rest of the cycle still checks that nothing acknowledged was lost.
      result.apiCrashes++
      const why =
        errorLines(spec.logFile)
          .filter((l) => l.includes('"stack"'))
          .at(-1)
          ?.slice(0, 300) ?? '(no error logged)'
      violate(
        o.tally,
        'serverErrors',
        `cycle ${cycle}: the API process exited (${await api.exited}) during the outage instead of answering 503 and recovering: ${why}`
      )
      api = await startApi(spec)
    } else if (!recovered) {
      violate(o.tally, 'hangs', `cycle ${cycle}: the API did not serve a write within 60 s of PostgreSQL being back`)
    } else {
      result.recoveryMs.push(recovered.startedAt + recovered.ms - upAt)
    }
    await sleep(2000) // load goes on after the recovery: what is acknowledged now must survive the next stop too
    env.stop()
    await Promise.all([lanes, probe.stop()])
    result.kills++

    const ops = journal.ops.slice(from)
    const answers = [...ops.flatMap((op) => op.attempts), ...probe.replies]
    for (const a of answers) {
      if (a.status === null && a.error === 'ECONNREFUSED') continue // the process was gone (counted above)
      if (a.status === null && a.error === 'TimeoutError') continue // a hang: checkAnswers counts the ops', the probe's below
      if (a.ms > OUTAGE_BOUND_MS)
        violate(
          o.tally,
          'hangs',
          `cycle ${cycle}: an answer (${a.status ?? a.error}) took ${Math.round(a.ms)} ms, over the ${OUTAGE_BOUND_MS} ms bound`
        )
      // Asked and answered while PostgreSQL was certainly down: this is what "503 within seconds" is about.
      if (a.startedAt >= downAt && a.startedAt + a.ms <= startAt) {
        const label = a.status === null ? String(a.error) : `${a.status}${a.code ? ` ${a.code}` : ''}`
        result.outageStatuses[label] = (result.outageStatuses[label] ?? 0) + 1
        result.outageAnswerMs.push(a.ms)
        if (a.status !== 503 && a.status !== null)
          violate(
            o.tally,
            'serverErrors',
            `cycle ${cycle}: answered ${label} while PostgreSQL was down (expected 503): ${a.text.slice(0, 200)}`
          )
      }
    }
    const probeHangs = probe.replies.filter((r) => r.status === null && r.error === 'TimeoutError').length
    if (probeHangs > 0)
      violate(o.tally, 'hangs', `cycle ${cycle}: ${probeHangs} probe writes had no answer within 15 s`)
    const checked = await checkCycle({
      api: client,
      tally: o.tally,
      registry,
      rng: o.rng,
      ops,
      earlier: journal.ops.slice(0, from),
      leaseMs: 2 * REQUEST_TIMEOUT_MS
    })
    checkAnswers(o.tally, ops)
    log(
      `PostgreSQL stop ${k}/${o.kills}: down ${downFor} ms; writes again ${recovered ? Math.round(result.recoveryMs.at(-1)!) : '—'} ms after it was back; ${ops.length} writes sent, ${checked.unknown} unknown retried; answers while down (so far): ${JSON.stringify(result.outageStatuses)}; violations so far ${o.tally.violations.length}`
    )
  }

  await checkCycle({
    api: client,
    tally: o.tally,
    registry,
    rng: o.rng,
    ops: [],
    earlier: journal.ops,
    leaseMs: 2 * REQUEST_TIMEOUT_MS,
    everything: true
  })
  const code = await stopApi(api)
  if (code !== '0') violate(o.tally, 'serverErrors', `SIGTERM: the API exited ${code}, not 0`)
  for (const line of errorLines(spec.logFile).slice(0, 20))
    log(`  API error log (PostgreSQL stops): ${line.slice(0, 400)}`)
  const integrity = await checkPostgres(databaseUrl)
  for (const p of integrity.problems) violate(o.tally, 'corruption', `private cluster: ${p}`)
  await cluster.destroy()
  result.recordFailures = countLines(spec.logFile, 'could not record the idempotent response')
  return result
}

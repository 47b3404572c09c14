// kill -9 of the API under concurrent writes, restarted on the same database, then judged (see
// verify.ts). On PGlite the restart is also PGlite's own crash recovery of DATA_DIR; on PostgreSQL
// (a fresh database on the shared server, which is never crashed) it tests the API alone.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { freePort, freshDatabase } from '../../bench/common.ts'
import { type ApiProcess, baseUrlOf, countLines, errorLines, startApi, stopApi } from './api-process.ts'
import { checkAnswers } from './checks.ts'
import { keepFiles, onCleanup } from './cleanup.ts'
import { apiOf } from './client.ts'
import { checkPglite, checkPostgres, type Integrity } from './integrity.ts'
import type { Journal } from './journal.ts'
import { runLanes } from './lanes.ts'
import { type Tally, violate } from './tally.ts'
import { log, type Rng } from './util.ts'
import { checkCycle } from './verify.ts'
import { newLaneEnv, newRegistry } from './world.ts'

/** Small, so a dead process's Idempotency-Key lease (2 × this) lapses within seconds of a restart. */
export const REQUEST_TIMEOUT_MS = 2000

export function apiEnv(requestTimeoutMs: number): Record<string, string> {
  return {
    REQUEST_TIMEOUT_MS: String(requestTimeoutMs),
    SCHEDULER_INTERVAL_MS: '500',
    RATE_LIMIT_PER_MINUTE: '1000000',
    LOG_LEVEL: 'warn',
    DEV_TOKENS: 'true',
    TOKEN_TTL_SECONDS: '86400',
    SHUTDOWN_GRACE_MS: '3000'
  }
}

export interface ApiKillResult {
  cycles: number
  restartMs: number[]
  ops: number
  timedOut: number
  /** Responses the API sent without recording them under their Idempotency-Key (its own warning). */
  recordFailures: number
  integrity: Integrity
}

export async function runApiKills(o: {
  db: 'pglite' | 'postgres'
  cycles: number
  rng: Rng
  tally: Tally
  runId: string
  adminUrl: string
  lanesPerKind: number
}): Promise<ApiKillResult> {
  const dir = mkdtempSync(join(tmpdir(), `accord-faults-${o.db}-`))
  onCleanup(`temporary directory ${dir}`, () =>
    keepFiles ? log(`kept ${dir}`) : rmSync(dir, { recursive: true, force: true })
  )
  const dbName = `accord_faults_${o.runId.replace(/\W/g, '_')}`
  let databaseUrl: string | null = null
  if (o.db === 'postgres') {
    databaseUrl = await freshDatabase(o.adminUrl, dbName)
    onCleanup(`database ${dbName}`, async () => {
      const admin = postgres(o.adminUrl, { max: 1, onnotice: () => {} })
      await admin.unsafe(`drop database if exists ${dbName} with (force)`)
      await admin.end()
    })
  }
  const dataDir = join(dir, 'data')
  const port = await freePort()
  const spec = {
    port,
    logFile: join(dir, 'api.log'),
    env: { ...apiEnv(REQUEST_TIMEOUT_MS), ...(databaseUrl ? { DATABASE_URL: databaseUrl } : { DATA_DIR: dataDir }) }
  }
  let api: ApiProcess = await startApi(spec)
  const client = apiOf(baseUrlOf(port))
  const journal: Journal = { ops: [] }
  const registry = newRegistry()
  const restartMs: number[] = []
  let timedOut = 0

  for (let c = 1; c <= o.cycles; c++) {
    const cycle = `${o.db === 'pglite' ? 'L' : 'P'}${c}`
    const from = journal.ops.length
    const env = newLaneEnv({
      api: client,
      journal,
      registry,
      rng: o.rng,
      tally: o.tally,
      runId: o.runId,
      cycle,
      persistent: false
    })
    const lanes = runLanes(env, o.lanesPerKind)
    const killAfter = o.rng.int(300, 3000)
    await new Promise((resolve) => setTimeout(resolve, killAfter))
    if (api.gone())
      violate(o.tally, 'serverErrors', `the API exited by itself (${await api.exited}) during cycle ${cycle}`)
    const inFlight = journal.ops.slice(from).filter((op) => op.attempts.length === 0).length
    const killedAt = performance.now()
    api.child.kill('SIGKILL') // first, then stop the lanes: the kill must land while writes are in flight
    env.stop()
    await api.exited
    await lanes
    api = await startApi(spec)
    restartMs.push(performance.now() - killedAt)
    const ops = journal.ops.slice(from)
    const checked = await checkCycle({
      api: client,
      tally: o.tally,
      registry,
      rng: o.rng,
      ops,
      earlier: journal.ops.slice(0, from),
      leaseMs: 2 * REQUEST_TIMEOUT_MS
    })
    timedOut += checkAnswers(o.tally, ops).timedOut
    log(
      `${o.db} cycle ${c}/${o.cycles}: killed after ${killAfter} ms with ${inFlight} writes in flight; ${ops.length} writes sent, ${checked.unknown} unknown retried, ${checked.replayed} replays checked, ${checked.partnerships} chains; back in ${Math.round(restartMs.at(-1)!)} ms; violations so far ${o.tally.violations.length}`
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
  for (const line of errorLines(spec.logFile).slice(0, 20)) log(`  API error log (${o.db}): ${line.slice(0, 400)}`)
  const integrity = o.db === 'pglite' ? await checkPglite(dataDir) : await checkPostgres(databaseUrl!)
  for (const p of integrity.problems) violate(o.tally, 'corruption', `${o.db}: ${p}`)
  log(
    `${o.db}: amcheck read ${integrity.indexes} indexes and ${integrity.tables} tables: ${integrity.problems.length} problems`
  )
  return {
    cycles: o.cycles,
    restartMs,
    ops: journal.ops.length,
    timedOut,
    recordFailures: countLines(spec.logFile, 'could not record the idempotent response'),
    integrity
  }
}

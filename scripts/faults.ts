// npm run faults: a Jepsen-style crash harness for Accord. Bounded, loopback only, cleans up after
// itself (also on Ctrl-C). Phases, each optional:
//   1. kill -9 of the API under concurrent writes, restart, check (PGlite and/or PostgreSQL);
//   2. immediate stops of a private PostgreSQL cluster under the same load, the API left running;
//   3. a soak at 50 connections on PostgreSQL with the API's RSS sampled every second.
// Progress goes to stderr; stdout gets exactly one JSON line. Exit 1 when an invariant is violated.
// Flags: --db pglite|postgres|both  --cycles N  --pg-kills N  --soak-seconds N  --seed N
import { type ApiKillResult, runApiKills } from './faults/api-kill.ts'
import { parseOptions } from './faults/args.ts'
import { cleanupAll, cleanupOnSignals } from './faults/cleanup.ts'
import { type PgKillResult, runPgKills } from './faults/pg-kill.ts'
import { runSoak, type SoakResult } from './faults/soak.ts'
import { newTally, violationCount } from './faults/tally.ts'
import { log, percentile, rngOf, round } from './faults/util.ts'

const started = Date.now()
cleanupOnSignals()
let exitCode = 1
try {
  const options = parseOptions(process.argv.slice(2))
  const runId = `fx${options.seed.toString(36)}`
  const rng = rngOf(options.seed)
  const tally = newTally()
  log(
    `npm run faults: seed ${options.seed}, ${options.cycles} API kills on ${options.db}, ${options.pgKills} PostgreSQL stops, soak ${options.soakSeconds} s`
  )
  // Which phase found what: the counters below are the run's totals.
  const violationsBy: Record<string, number> = {}
  const phase = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    const before = violationCount(tally)
    const result = await run()
    violationsBy[name] = violationCount(tally) - before
    return result
  }
  const kills: Partial<Record<'pglite' | 'postgres', ApiKillResult>> = {}
  for (const db of ['pglite', 'postgres'] as const) {
    if (options.cycles > 0 && (options.db === db || options.db === 'both')) {
      kills[db] = await phase(db, () =>
        runApiKills({ db, cycles: options.cycles, rng, tally, runId, adminUrl: options.adminUrl, lanesPerKind: 2 })
      )
    }
  }
  const pg: PgKillResult | null =
    options.pgKills > 0
      ? await phase('pgKills', () => runPgKills({ kills: options.pgKills, rng, tally, runId, lanesPerKind: 2 }))
      : null
  const soak: SoakResult | null =
    options.soakSeconds > 0
      ? await phase('soak', () =>
          runSoak({ seconds: options.soakSeconds, rng, tally, runId, adminUrl: options.adminUrl })
        )
      : null
  const restart = (db: 'pglite' | 'postgres') => round(percentile(kills[db]?.restartMs ?? [], 99))
  const summary = {
    cycles: { pglite: kills.pglite?.cycles ?? 0, postgres: kills.postgres?.cycles ?? 0, pgKills: pg?.kills ?? 0 },
    acknowledgedWrites: tally.acknowledgedWrites,
    lostWrites: tally.lostWrites,
    doubleActivations: tally.doubleActivations,
    brokenChains: tally.brokenChains,
    idempotencyViolations: tally.idempotencyViolations,
    failedButApplied: tally.failedButApplied,
    serverErrors: tally.serverErrors,
    hangs: tally.hangs,
    corruption: tally.corruption,
    inconsistencies: tally.inconsistencies,
    unresolved: tally.unresolved,
    violationsBy,
    recoveryMsP99: round(percentile(pg?.recoveryMs ?? [], 99)),
    outage503MsP99: round(percentile(pg?.outageAnswerMs ?? [], 99)),
    outageAnswers: pg?.outageStatuses ?? {},
    pgKillApiCrashes: pg?.apiCrashes ?? 0,
    idempotencyRecordFailures:
      (kills.pglite?.recordFailures ?? 0) + (kills.postgres?.recordFailures ?? 0) + (pg?.recordFailures ?? 0),
    apiRestartMsP99: { pglite: restart('pglite'), postgres: restart('postgres') },
    soak: soak && {
      seconds: soak.seconds,
      connections: soak.connections,
      requests: soak.requests,
      rps: soak.rps,
      errors: soak.errors,
      rssMb: soak.rssMb,
      p99Ratio: soak.p99Ratio,
      windowS: soak.windowS,
      p50Ms: soak.latencyMs.map((w) => w.p50),
      p99Ms: soak.latencyMs.map((w) => w.p99)
    },
    seed: options.seed,
    durationS: Math.round((Date.now() - started) / 1000)
  }
  for (const [text, n] of Object.entries(tally.notes)) log(`note (${n}×): ${text}`)
  const violations = violationCount(tally)
  log(
    violations === 0
      ? 'no invariant violated'
      : `${violations} invariant violations:\n  ${tally.violations.slice(0, 50).join('\n  ')}`
  )
  process.stdout.write(`${JSON.stringify(summary)}\n`)
  exitCode = violations === 0 ? 0 : 1
} catch (err) {
  log(`faults: ${(err as Error).stack ?? String(err)}`)
} finally {
  await cleanupAll()
}
process.exit(exitCode)

// Does PGlite keep what it acknowledged when its process is SIGKILLed? A child opens a DATA_DIR in
// one configuration and commits rows one by one, printing each id once its COMMIT returned; the
// parent kills it at a random moment, reopens the directory and looks for every printed id. A
// second test kills the child during its very first open (initdb into an empty DATA_DIR), then
// reopens. Run: node scripts/faults/pglite-durability.ts [--rounds N] (prints one JSON line).
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { log, rngOf, sleep } from './util.ts'

const CONFIGS: Record<string, Record<string, unknown>> = {
  // What src/db/client.ts builds: new PGlite(dataDir).
  default: {},
  // Acknowledges before PGlite's own filesystem sync (meant for IndexedDB/OPFS).
  relaxedDurability: { relaxedDurability: true }
}

async function child(dir: string, config: string, from: number): Promise<void> {
  const { PGlite } = await import('@electric-sql/pglite')
  const pg = new PGlite(dir, CONFIGS[config])
  await pg.waitReady
  await pg.exec('create table if not exists acked (id int primary key, payload text not null)')
  process.stdout.write('ready\n')
  for (let id = from; ; id++) {
    await pg.query('insert into acked (id, payload) values ($1, $2)', [id, 'x'.repeat(200 + (id % 1000))])
    process.stdout.write(`${id}\n`)
  }
}

/** Runs a child until killed; resolves with the ids it acknowledged, and whether it got as far as "ready". */
async function killAfter(
  dir: string,
  config: string,
  from: number,
  ms: number
): Promise<{ acked: number[]; ready: boolean }> {
  const proc: ChildProcess = spawn(process.execPath, [import.meta.filename, 'child', dir, config, String(from)], {
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const acked: number[] = []
  let ready = false
  let buffered = ''
  proc.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    const lines = buffered.split('\n')
    buffered = lines.pop()!
    for (const line of lines) line === 'ready' ? (ready = true) : acked.push(Number(line))
  })
  const exited = new Promise((resolve) => proc.once('exit', resolve))
  await sleep(ms)
  proc.kill('SIGKILL')
  await exited
  return { acked, ready }
}

/** How long a child takes to open an empty DATA_DIR (to aim the first-open kills). */
async function timeFirstOpen(config: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'accord-pglite-time-'))
  try {
    const started = performance.now()
    const proc = spawn(process.execPath, [import.meta.filename, 'child', join(dir, 'data'), config, '1'], {
      stdio: ['ignore', 'pipe', 'inherit']
    })
    await new Promise<void>((resolve) =>
      proc.stdout.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready')) resolve()
      })
    )
    const ms = performance.now() - started
    proc.kill('SIGKILL')
    await new Promise((resolve) => proc.once('exit', resolve))
    return Math.round(ms)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Reopens the directory in this process: the ids present, or why it could not be opened. */
async function reopen(dir: string, config: string): Promise<{ ids: Set<number> } | { error: string }> {
  const { PGlite } = await import('@electric-sql/pglite')
  try {
    const pg = new PGlite(dir, CONFIGS[config])
    await pg.waitReady
    const exists = await pg.query<{ n: number }>("select count(*)::int as n from pg_tables where tablename = 'acked'")
    const ids = exists.rows[0]!.n
      ? new Set((await pg.query<{ id: number }>('select id from acked')).rows.map((r) => r.id))
      : new Set<number>()
    await pg.close()
    return { ids }
  } catch (err) {
    return { error: (err as Error).message }
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { rounds: { type: 'string', default: '10' }, seed: { type: 'string', default: '1' } }
  })
  const rounds = Number(values.rounds)
  const rng = rngOf(Number(values.seed))
  const results: Record<string, unknown> = {}
  for (const config of Object.keys(CONFIGS)) {
    const dir = mkdtempSync(join(tmpdir(), `accord-pglite-${config}-`))
    let acked = 0
    let lost = 0
    let openFailures = 0
    let next = 1
    try {
      for (let r = 0; r < rounds; r++) {
        const run = await killAfter(dir, config, next, rng.int(1500, 4000))
        const back = await reopen(dir, config)
        if ('error' in back) {
          openFailures++
          log(`${config}: round ${r + 1}: the DATA_DIR no longer opens: ${back.error}`)
          break
        }
        const missing = run.acked.filter((id) => !back.ids.has(id))
        acked += run.acked.length
        lost += missing.length
        next = Math.max(next, ...back.ids) + 1
        log(
          `${config}: round ${r + 1}/${rounds}: ${run.acked.length} commits acknowledged before the kill, ${missing.length} missing after reopening`
        )
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    // The first open of an empty DATA_DIR runs initdb in memory (seconds, nothing on disk yet), then
    // writes the ~1,000 files of the cluster in its last second or so: kill it in that window.
    const firstOpenMs = await timeFirstOpen(config)
    let firstOpenBroken = 0
    for (let r = 0; r < rounds; r++) {
      const fresh = mkdtempSync(join(tmpdir(), `accord-pglite-first-${config}-`))
      try {
        const ms = rng.int(Math.round(firstOpenMs * 0.75), Math.round(firstOpenMs * 1.05))
        const run = await killAfter(join(fresh, 'data'), config, 1, ms)
        const back = await reopen(join(fresh, 'data'), config)
        if ('error' in back) {
          firstOpenBroken++
          log(
            `${config}: killed ${ms} ms into its first open (ready: ${run.ready}): the DATA_DIR no longer opens: ${back.error.slice(0, 200)}`
          )
        } else
          log(
            `${config}: killed ${ms} ms into its first open (of ~${firstOpenMs} ms; ready: ${run.ready}): it opens again`
          )
      } finally {
        rmSync(fresh, { recursive: true, force: true })
      }
    }
    results[config] = { rounds, acked, lost, openFailures, firstOpenMs, firstOpenKills: rounds, firstOpenBroken }
  }
  process.stdout.write(`${JSON.stringify(results)}\n`)
}

if (process.argv[2] === 'child') await child(process.argv[3]!, process.argv[4]!, Number(process.argv[5]))
else await main()

// What the bench scripts share: how Accord is started, a free loopback port, a median and a process's memory.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import postgres from 'postgres'

export const root = new URL('..', import.meta.url).pathname

const startScript = (
  JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }
).scripts.start.split(/\s+/)

/** The Node flags `npm start` runs Accord with (the V8 heap sizing that bounds its memory), so the benches measure the same process. */
export const startFlags = startScript.filter((a) => a.startsWith('--'))

let built = false
/**
 * The arguments `npm start` runs Node with, the Node flags and the bundle it starts (dist/server.js, built here
 * once per process as npm start's prestart builds it), with `extra` flags before the bundle: every bench and the
 * crash harness run the very process that ships.
 */
export function serverArgs(extra: readonly string[] = []): string[] {
  if (!built) {
    execFileSync(process.execPath, [join(root, 'scripts', 'build.ts')], { cwd: root, stdio: 'inherit' })
    built = true
  }
  return [...startFlags, ...extra, startScript.at(-1)!]
}

/** The environment `npm start` sets before Node (glibc's malloc arenas), for the same reason. */
export const startEnv: Record<string, string> = Object.fromEntries(
  startScript.filter((a) => /^[A-Z_]+=/.test(a)).map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)])
)

/**
 * What every bench starts Accord with: `npm start`'s environment, production, on loopback at `port` with
 * `publicUrl` as its issuer, the rate limit and the scheduler out of the way. Each bench adds its own settings.
 */
export const accordEnv = (o: { databaseUrl: string; port: number; publicUrl: string }): Record<string, string> => ({
  ...startEnv,
  DATABASE_URL: o.databaseUrl,
  PORT: String(o.port),
  HOST: '127.0.0.1',
  PUBLIC_URL: o.publicUrl,
  NODE_ENV: 'production',
  LOG_LEVEL: 'warn',
  RATE_LIMIT_PER_MINUTE: '1000000',
  SCHEDULER_INTERVAL_MS: '0'
})

export const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port
      s.close(() => resolve(p))
    })
  })

/** Drops and recreates database `name` on the server of `adminUrl`; returns its URL. */
export async function freshDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`drop database if exists ${name} with (force)`)
  await admin.unsafe(`create database ${name}`)
  await admin.end()
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return url.toString()
}

const children: ChildProcess[] = []
process.on('exit', () => {
  for (const c of children) c.kill('SIGTERM')
})

/** Starts a child Node process (killed when the bench exits) and resolves once `probe` (a URL on it) answers. */
export async function start(args: string[], env: Record<string, string>, probe: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', process.env.BENCH_CHILD_LOGS ? 'inherit' : 'ignore', 'inherit']
  })
  children.push(child)
  let exited: number | null = null
  child.on('exit', (code) => {
    exited = code ?? -1
  })
  for (let i = 0; i < 600; i++) {
    if (exited !== null) throw new Error(`${args.join(' ')} exited ${exited}`)
    try {
      if ((await fetch(probe)).status < 500) return child
    } catch {}
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${args.join(' ')} did not start`)
}

/** The median, NaNs left out (NaN when nothing is left). */
export const median = (all: number[]): number => {
  const s = all.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b)
  if (s.length === 0) return Number.NaN
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

/** A process's RSS (VmRSS) or peak RSS (VmHWM) from /proc, in MB; NaN once it is gone. */
export function statusMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) / 1024 : Number.NaN
  } catch {
    return Number.NaN
  }
}

/** CPU seconds (user + system) of a process, from /proc (clock ticks are 1/100 s on Linux). */
export const cpuOf = (pid: number): number => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(f[11]) + Number(f[12])) / 100
  } catch {
    return 0
  }
}

/** Resets a process's peak RSS (VmHWM) to its RSS now, so that the peak read later is the one since. */
export const resetPeak = (pid: number): void => writeFileSync(`/proc/${pid}/clear_refs`, '5')

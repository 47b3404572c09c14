// Starting, killing and watching the API as a real process: the crash harness needs a process it
// can SIGKILL, with the Node flags and environment of `npm start` (bench/common.ts reads them from
// package.json, so the harness tests the process that ships).
import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { root, serverArgs, startEnv } from '../../bench/common.ts'
import { onCleanup } from './cleanup.ts'
import { sleep } from './util.ts'

export interface ApiProcess {
  readonly pid: number
  readonly child: ChildProcess
  /** Resolves with the exit code (or the signal's name) when the process is gone. */
  readonly exited: Promise<string>
  /** True once the process has exited, for whatever reason. */
  gone(): boolean
}

export interface ApiSpec {
  port: number
  /** Accord's own environment (DATABASE_URL or DATA_DIR, timeouts…), added to npm start's. */
  env: Record<string, string>
  /** stdout and stderr of every start of this API are appended here (pino JSON at LOG_LEVEL=warn). */
  logFile: string
}

export const baseUrlOf = (port: number): string => `http://127.0.0.1:${port}`

/** Starts the API and resolves once /readyz answers 200 (database reachable and migrated). */
export async function startApi(spec: ApiSpec, readyWithinMs = 90_000): Promise<ApiProcess> {
  const out = openSync(spec.logFile, 'a')
  const child = spawn(process.execPath, serverArgs(), {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      ...startEnv,
      ...spec.env,
      PORT: String(spec.port),
      HOST: '127.0.0.1',
      PUBLIC_URL: baseUrlOf(spec.port)
    },
    stdio: ['ignore', out, out]
  })
  closeSync(out)
  let done = false
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => {
      done = true
      resolve(signal ?? String(code))
    })
  )
  const forget = onCleanup(`API pid ${child.pid}`, async () => {
    if (!done) {
      child.kill('SIGKILL')
      await exited
    }
  })
  void exited.then(() => forget())
  const api: ApiProcess = { pid: child.pid!, child, exited, gone: () => done }
  const deadline = Date.now() + readyWithinMs
  while (Date.now() < deadline) {
    if (done) throw new Error(`the API exited (${await exited}) before it was ready:\n${tail(spec.logFile)}`)
    try {
      const res = await fetch(`${baseUrlOf(spec.port)}/readyz`, { signal: AbortSignal.timeout(2000) })
      await res.arrayBuffer()
      if (res.status === 200) return api
    } catch {}
    await sleep(25)
  }
  child.kill('SIGKILL')
  throw new Error(`the API was not ready within ${readyWithinMs} ms:\n${tail(spec.logFile)}`)
}

/** kill -9: no handler runs, no connection closes cleanly, nothing is flushed by the process itself. */
export async function killApi(api: ApiProcess): Promise<void> {
  if (!api.gone()) api.child.kill('SIGKILL')
  await api.exited
}

/** SIGTERM, as an orchestrator stops it; resolves with the exit code (0 expected). */
export async function stopApi(api: ApiProcess): Promise<string> {
  if (!api.gone()) api.child.kill('SIGTERM')
  return api.exited
}

/** Resident memory of a process in MB, from /proc (VmRSS); null once it is gone. */
export function rssMb(pid: number): number | null {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmRSS:'))
    const kb = Number(/(\d+) kB/.exec(line ?? '')?.[1])
    return Number.isFinite(kb) ? kb / 1024 : null
  } catch {
    return null
  }
}

/** The last lines of a log, for a failure message. */
export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

/** How many log lines carry this message. */
export function countLines(file: string, message: string): number {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.includes(message)).length
  } catch {
    return 0
  }
}

/** Lines the API logged at error level or above (pino level ≥ 50): each one is a server defect to report. */
export function errorLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => /"level":(5|6)\d/.test(l))
  } catch {
    return []
  }
}

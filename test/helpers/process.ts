import { type ChildProcess, spawn } from 'node:child_process'
import http from 'node:http'
import net from 'node:net'
import { fileURLToPath } from 'node:url'

// Real server processes for the tests that need one: `node src/server.ts` with only the configuration given.

const root = fileURLToPath(new URL('../..', import.meta.url))
const entry = fileURLToPath(new URL('../../src/server.ts', import.meta.url))
const BOOT_TIMEOUT_MS = 60_000 // PGlite boots in ~6 s alone, ~15 s with two at once on 2 CPUs; more under a parallel run
export const EXIT_TIMEOUT_MS = 15_000

export async function freePort(): Promise<number> {
  const probe = net.createServer()
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', resolve)
  })
  const { port } = probe.address() as net.AddressInfo
  await new Promise<void>((resolve) => probe.close(() => resolve()))
  return port
}

export interface Proc {
  readonly child: ChildProcess
  readonly port: number
  /** Every stdout line so far. */
  readonly lines: string[]
  stderr(): string
  /** Resolves with the first stdout line matching, rejects on timeout or exit. */
  waitForLine(match: RegExp, timeoutMs?: number): Promise<string>
  /** Resolves when the process exits (or rejects after timeoutMs). */
  exit(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Starts `node src/server.ts` with only the given configuration (plus PATH): nothing else leaks in. */
export function startServer(t: { teardown(fn: () => unknown): void }, env: Record<string, string>, port = 0): Proc {
  const child = spawn(process.execPath, [entry], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const lines: string[] = []
  const waiters = new Set<() => void>()
  let pending = ''
  let stderr = ''
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk
    const parts = pending.split('\n')
    pending = parts.pop()!
    lines.push(...parts.filter((l) => l.length > 0))
    for (const w of waiters) w()
  })
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  const exitPromise = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      if (pending) lines.push(pending)
      exited = { code, signal }
      for (const w of waiters) w()
      resolve(exited)
    })
  })
  t.teardown(() => {
    if (!exited) child.kill('SIGKILL')
  })

  const within = <T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> => {
    let timer: NodeJS.Timeout | undefined
    return Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `${what} did not happen within ${timeoutMs} ms; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`
              )
            ),
          timeoutMs
        )
      })
    ]).finally(() => clearTimeout(timer))
  }

  return {
    child,
    port,
    lines,
    stderr: () => stderr,
    waitForLine(match, timeoutMs = BOOT_TIMEOUT_MS) {
      return within(
        new Promise<string>((resolve, reject) => {
          const check = () => {
            const found = lines.find((l) => match.test(l))
            if (found !== undefined) {
              waiters.delete(check)
              resolve(found)
            } else if (exited) {
              waiters.delete(check)
              reject(new Error(`exited (${JSON.stringify(exited)}) before a line matched ${match}; stderr:\n${stderr}`))
            }
          }
          waiters.add(check)
          check()
        }),
        timeoutMs,
        `a stdout line matching ${match}`
      )
    },
    exit(timeoutMs = EXIT_TIMEOUT_MS) {
      return within(exitPromise, timeoutMs, 'exit')
    }
  }
}

export async function bootServer(t: { teardown(fn: () => unknown): void }, env: Record<string, string>): Promise<Proc> {
  const port = await freePort()
  const proc = startServer(
    t,
    { PORT: String(port), HOST: '127.0.0.1', DATA_DIR: ':memory:', LOG_LEVEL: 'info', ...env },
    port
  )
  return proc
}

export interface Res {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
  json(): any
}

/** One request on its own connection (no keep-alive), so nothing lingers into the shutdown. */
export function request(
  port: number,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: unknown }
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body)
    const headers: Record<string, string> = { ...options.headers }
    if (payload !== undefined) headers['content-type'] = 'application/json'
    const req = http.request(
      { host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path, headers, agent: false },
      (res) => {
        let body = ''
        res
          .setEncoding('utf8')
          .on('data', (c: string) => {
            body += c
          })
          .on('end', () => {
            resolve({ status: res.statusCode!, headers: res.headers, body, json: () => JSON.parse(body) })
          })
      }
    )
    req.on('error', reject)
    req.end(payload)
  })
}

/** Tries to open a TCP connection; resolves with the error code, or 'connected'. */
export function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1')
    s.once('connect', () => {
      s.destroy()
      resolve('connected')
    })
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
  })
}

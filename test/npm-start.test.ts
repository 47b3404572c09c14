import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { onPostgres } from './helpers/app.ts'
import { freePort } from './helpers/process.ts'

// `npm start` runs the server beneath npm (npm → sh -c → node, unless the script execs). A process manager or
// a container runtime signals npm, not node: whichever of the two gets the signal, or dies, the server stops.
const root = fileURLToPath(new URL('..', import.meta.url))
const BOOT_MS = 90_000
const STOP_MS = 20_000

const skip = onPostgres ? 'npm start runs on the embedded database: this runs once, on the PGlite pass' : false

const listening = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** `npm start` in its own process group, exactly as the README runs it, on a free port and a throwaway DATA_DIR. */
async function npmStart(t: {
  teardown(fn: () => unknown): void
}): Promise<{ npm: number; server: number; port: number }> {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'accord-npm-start-'))
  const child = spawn('npm', ['start'], {
    cwd: root,
    detached: true,
    stdio: 'ignore',
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      PORT: String(port),
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn'
    }
  })
  const npm = child.pid!
  t.teardown(() => {
    try {
      process.kill(-npm, 'SIGKILL')
    } catch {}
    rmSync(dataDir, { recursive: true, force: true })
  })
  await until('the server listening', () => listening(port), BOOT_MS)
  const server = Number(
    execFileSync('pgrep', ['-g', String(npm), '-f', 'dist/server.js'], { encoding: 'utf8' })
      .trim()
      .split('\n')[0]
  )
  return { npm, server, port }
}

t.test('SIGTERM to npm stops the server', { skip }, async (t) => {
  const { npm, server, port } = await npmStart(t)
  t.ok(alive(server), `the server runs (pid ${server})`)
  process.kill(npm, 'SIGTERM')
  await until('the server exiting', () => !alive(server), STOP_MS)
  t.notOk(await listening(port), 'nothing listens any more')
  await until('npm exiting', () => !alive(npm), STOP_MS)
  t.pass('npm exited too')
})

t.test('SIGTERM to the server stops it, and npm with it', { skip }, async (t) => {
  const { npm, server, port } = await npmStart(t)
  process.kill(server, 'SIGTERM')
  await until('the server exiting', () => !alive(server), STOP_MS)
  t.notOk(await listening(port), 'nothing listens any more')
  await until('npm exiting', () => !alive(npm), STOP_MS)
  t.pass('npm exited too')
})

t.test('npm killed outright (SIGKILL, nothing forwarded): the server notices and stops', { skip }, async (t) => {
  const { npm, server, port } = await npmStart(t)
  process.kill(npm, 'SIGKILL')
  await until('the server exiting', () => !alive(server), STOP_MS)
  t.notOk(await listening(port), 'nothing listens any more')
})

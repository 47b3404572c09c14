import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { EnvSchema } from '../../src/config.env.ts'
import { tryConnect } from '../helpers/process.ts'

/**
 * The README is executable: its server block starts the API with the README's own command, then
 * its quick start and its walkthrough run exactly as written, each in a fresh `bash -euo pipefail`
 * (so a variable the session does not set, or an error status from curl, fails the test). The one
 * thing set from outside is DATA_DIR, a throwaway directory instead of ./data; every other Accord
 * variable is removed from the environment, so the README's defaults (127.0.0.1:3000, PGlite) apply.
 */

const root = fileURLToPath(new URL('../..', import.meta.url))
const README_URL = 'http://127.0.0.1:3000' // where the README says `npm start` listens
const BOOT_TIMEOUT_MS = 90_000 // PGlite boots in ~6 s alone; much more while the rest of the suite runs
const BLOCK_TIMEOUT_MS = 120_000
const STOP_TIMEOUT_MS = 15_000

/** The ```sh block that follows `<!-- ci: name -->`; exactly one per name. */
function blockOf(markdown: string, name: string): string {
  const re = new RegExp(`<!-- ci: ${name} -->\\n\`\`\`sh\\n([\\s\\S]*?)\\n\`\`\`\\n`, 'g')
  const found = [...markdown.matchAll(re)]
  if (found.length !== 1)
    throw new Error(
      `README.md must have exactly one \`\`\`sh block right after <!-- ci: ${name} --> (found ${found.length})`
    )
  return found[0]![1]!
}

/** The names of the variables src/config.ts reads (the keys of EnvSchema, src/config.env.ts). */
function configVariables(): string[] {
  return Object.keys(EnvSchema.shape).filter((k) => /^[A-Z][A-Z0-9_]*$/.test(k))
}

// tap's process tracking puts its coverage hook back into NODE_OPTIONS of every process this test
// spawns; `env -u` drops it at exec time, so the README's commands run as they do in a user's shell.
const unsetInstrumentation = ['-u', 'NODE_OPTIONS']

interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  ms: number
}

/** Runs a README block as written, in its own `bash -euo pipefail`. */
function runBlock(script: string, env: NodeJS.ProcessEnv): Promise<Run> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn('env', [...unsetInstrumentation, 'bash', '-euo', 'pipefail', '-c', script], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c
    })
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c
    })
    const timer = setTimeout(() => {
      killGroup(child, 'SIGKILL')
      stderr += `\n(killed after ${BLOCK_TIMEOUT_MS} ms)`
    }, BLOCK_TIMEOUT_MS)
    child.once('error', reject)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, ms: Math.round(performance.now() - started) })
    })
  })
}

/** Signals every process of a detached child's group (npm start runs npm → sh → node). */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal)
  } catch {
    /* already gone */
  }
}

/** SIGTERM to the whole group (npm may exit before the server has closed), SIGKILL if it lingers. */
async function stopGroup(child: ChildProcess): Promise<void> {
  const alive = () => {
    try {
      process.kill(-child.pid!, 0)
      return true
    } catch {
      return false
    }
  }
  killGroup(child, 'SIGTERM')
  const deadline = performance.now() + STOP_TIMEOUT_MS
  while (alive() && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  if (alive()) killGroup(child, 'SIGKILL')
}

/** "METHOD url → status" of every error answer in the server's log (it logs no bodies), to show where a block failed. */
function failedRequests(log: string): string[] {
  const urls = new Map<string, string>()
  const failed: string[] = []
  for (const line of log.split('\n')) {
    let entry: { requestId?: string; req?: { method: string; url: string }; res?: { statusCode: number } }
    try {
      entry = JSON.parse(line)
    } catch {
      continue
    }
    if (entry.req && entry.requestId) urls.set(entry.requestId, `${entry.req.method} ${entry.req.url}`)
    if (entry.res && entry.res.statusCode >= 400)
      failed.push(`${urls.get(entry.requestId ?? '') ?? '?'} → ${entry.res.statusCode}`)
  }
  return failed
}

const onPostgres = Boolean(process.env.TEST_DATABASE_URL)

t.test(
  'README.md runs as written against `npm start`',
  {
    skip: onPostgres
      ? 'the README runs on its default database (embedded PGlite), once, in the PGlite pass; this is the PostgreSQL pass (TEST_DATABASE_URL)'
      : false
  },
  async (t) => {
    const readme = await readFile(path.join(root, 'README.md'), 'utf8')
    const serverBlock = blockOf(readme, 'server')
    const quickStart = blockOf(readme, 'quick-start')
    const walkthrough = blockOf(readme, 'walkthrough')

    // The server block is the README's two commands: install and start, then the tests. The install CI has
    // done (npm ci; running it again here would rewrite node_modules under the other test files); the start
    // command this test runs as written; the tests are what runs this file.
    const commands = serverBlock
      .split('\n')
      .map((l) => l.replace(/\s+#.*$/, '').trim())
      .filter(Boolean)
    t.same(commands, ['npm install && npm start', 'npm test'], 'the README opens with its two commands')
    const startCommand = commands[0]!.split('&&').at(-1)!.trim()
    t.ok(serverBlock.includes(README_URL), `it says the API listens on ${README_URL}, where the blocks call it`)

    if ((await tryConnect(3000)) === 'connected') {
      t.fail(
        `port 3000 on 127.0.0.1 is already in use. The README's quick start and walkthrough talk to ${README_URL} exactly as written, so this test starts \`${startCommand}\` there: stop whatever listens on 3000 (another \`npm start\`?) and run it again.`
      )
      return
    }

    const dataDir = await mkdtemp(path.join(tmpdir(), 'accord-readme-'))
    t.teardown(() => rm(dataDir, { recursive: true, force: true }))
    // The user's environment, minus Accord's own variables (so the README's defaults apply) and the
    // test runner's (TAP_*, _TAPJS_*), plus DATA_DIR.
    const strip = new Set(configVariables())
    t.ok(
      strip.has('PORT') && strip.has('DATABASE_URL') && strip.size > 15 && !strip.has('NODE_OPTIONS'),
      'the configuration variables were read from the schema of src/config.env.ts'
    )
    const env: NodeJS.ProcessEnv = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !strip.has(k) && !/^(_?TAP|_TAPJS)/.test(k))
    )
    env.DATA_DIR = dataDir

    const startedAt = performance.now()
    const server = spawn('env', [...unsetInstrumentation, 'bash', '-c', startCommand], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true
    })
    let out = ''
    let err = ''
    let exited: string | null = null
    const changed = new Set<() => void>()
    server.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c
      for (const f of changed) f()
    })
    server.stderr!.setEncoding('utf8').on('data', (c: string) => {
      err += c
    })
    const exit = new Promise<void>((resolve) =>
      server.once('exit', (code, signal) => {
        exited = `code ${code}, signal ${signal}`
        for (const f of changed) f()
        resolve()
      })
    )
    t.teardown(() => stopGroup(server))

    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `\`${startCommand}\` did not log that it listens within ${BOOT_TIMEOUT_MS} ms\nstdout:\n${out}\nstderr:\n${err}`
            )
          ),
        BOOT_TIMEOUT_MS
      )
      const check = () => {
        if (/Accord is listening on/.test(out)) {
          clearTimeout(timer)
          changed.delete(check)
          resolve()
        } else if (exited) {
          clearTimeout(timer)
          changed.delete(check)
          reject(
            new Error(
              `\`${startCommand}\` exited (${exited}) before listening${/EADDRINUSE/.test(out + err) ? ': port 3000 was taken meanwhile by another process' : ''}\nstdout:\n${out}\nstderr:\n${err}`
            )
          )
        }
      }
      changed.add(check)
      check()
    })
    t.match(
      out,
      `Accord is listening on ${README_URL} with PGlite (${dataDir})`,
      `\`${startCommand}\` listens on ${README_URL}, with PGlite in the temporary DATA_DIR (${Math.round(performance.now() - startedAt)} ms)`
    )

    const quick = await runBlock(quickStart, env)
    t.equal(quick.code, 0, `the quick start succeeds (${quick.ms} ms)`, {
      stdout: quick.stdout,
      stderr: quick.stderr,
      failedRequests: failedRequests(out)
    })
    t.match(JSON.parse(quick.stdout.trim() || '{}'), { displayName: 'Alice' }, "and GET /v1/me answers Alice's profile")

    const walk = await runBlock(walkthrough, env)
    t.equal(walk.code, 0, `the walkthrough succeeds (${walk.ms} ms)`, {
      stdout: walk.stdout,
      stderr: walk.stderr,
      failedRequests: failedRequests(out)
    })
    const minted = walk.stderr
      .split('\n')
      .filter((l) => l.startsWith('accord: minted by the server at http://127.0.0.1:3000'))
    t.equal(minted.length, 2, 'npm run token says, for each token, which server minted it')
    t.equal(
      walk.stderr
        .split('\n')
        .filter((l) => l !== '' && !minted.includes(l))
        .join('\n'),
      '',
      'and nothing else is written on stderr'
    )
    t.match(
      walk.stdout,
      /receipt verified: \{[^}]*contentHash: 'sha256:[0-9a-f]{64}'/,
      "jose verifies Bob's receipt against /.well-known/jwks.json"
    )
    t.match(walk.stdout, /"status":"completed","outcome":"keep"/, 'the early review closes with keep')
    t.match(walk.stdout, /^\d+ version\.activated$/m, 'the events list the activation')
    const verifications = [...walk.stdout.matchAll(/^\{\n {2}"valid": (true|false),[\s\S]*?^\}$/gm)].map((m) =>
      JSON.parse(m[0])
    )
    t.equal(verifications.length, 1, 'the audit chain is verified once')
    t.match(
      verifications.at(-1),
      { valid: true, firstBrokenSeq: null, reason: null },
      'and the final verify says valid'
    )
    t.match(walk.stdout, /^SUMMARY:Review: Phone transparency$/m, 'the calendar feed lists the next review')
    t.match(
      out,
      /"url":"\/v1\/partnerships\/[0-9a-f-]{36}\/audit\/verify"/,
      'this server (not another one on port 3000) answered the walkthrough'
    )

    const stopping = performance.now()
    await stopGroup(server)
    await exit
    t.equal(
      await tryConnect(3000),
      'ECONNREFUSED',
      `SIGTERM to the process group stops the server within ${Math.round(performance.now() - stopping)} ms: port 3000 is free again`
    )
  }
)

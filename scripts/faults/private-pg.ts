// A private PostgreSQL cluster the harness may crash at will: never the machine's shared server,
// which other work depends on. initdb refuses to run as root, so the cluster belongs to the
// `postgres` user, in a temporary directory that user owns.
import { execFile } from 'node:child_process'
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { freePort } from '../../bench/common.ts'
import { onCleanup } from './cleanup.ts'

const run = promisify(execFile)
const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'

export interface PrivateCluster {
  readonly port: number
  /** Superuser URL of its `postgres` database. */
  readonly adminUrl: string
  /** pg_ctl start -w: returns once the cluster accepts connections (crash recovery done). */
  start(): Promise<void>
  /** pg_ctl stop -m immediate: every backend dies at once, no checkpoint; the next start recovers from the WAL. */
  crash(): Promise<void>
  /** Stops it (if running) and removes its directory. */
  destroy(): Promise<void>
}

async function asPostgres(command: string, args: string[]): Promise<string> {
  const { stdout } = await run('runuser', ['-u', 'postgres', '--', join(BIN, command), ...args], { timeout: 120_000 })
  return stdout
}

/** initdb into a fresh directory and start it on a free loopback port, with fsync on (the default, stated). */
export async function createPrivateCluster(): Promise<PrivateCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'accord-faults-pg-'))
  chownSync(dir, uidOf('postgres'), gidOf('postgres'))
  const dataDir = join(dir, 'data')
  const port = await freePort()
  let running = false
  const cluster: PrivateCluster = {
    port,
    adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      await asPostgres('pg_ctl', [
        '-D',
        dataDir,
        '-l',
        join(dir, 'server.log'),
        '-w',
        '-t',
        '120',
        '-o',
        `-c port=${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=on -c synchronous_commit=on -c max_connections=100`,
        'start'
      ])
      running = true
    },
    async crash() {
      await asPostgres('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop'])
      running = false
    },
    async destroy() {
      if (running) await asPostgres('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => {})
      running = false
      rmSync(dir, { recursive: true, force: true })
    }
  }
  onCleanup(`private PostgreSQL cluster in ${dir}`, () => cluster.destroy())
  await asPostgres('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'])
  await cluster.start()
  return cluster
}

// The ids of a system user, from the password database (no native module needed).
const passwdOf = (name: string): string[] =>
  readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`))
    ?.split(':') ?? []
function uidOf(name: string): number {
  const f = passwdOf(name)
  if (!f[2]) throw new Error(`no user ${name}`)
  return Number(f[2])
}
function gidOf(name: string): number {
  const f = passwdOf(name)
  if (!f[3]) throw new Error(`no user ${name}`)
  return Number(f[3])
}

import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'

/** Who holds an embedded data directory: written by the process that opened it, removed when it closes. */
export interface DataDirHolder {
  pid: number
  url: string
  startedAt: string
}

const LOCK_FILE = 'accord.lock'

function alive(pid: number): boolean {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' // exists, owned by someone else
  }
  // A pid reused by an unrelated program after a crash is not a holder (Linux: its command line says).
  try {
    return /node/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'))
  } catch {
    return true
  }
}

/** The live process holding `dataDir`, if any (a lock left by a crashed process is not one). */
export function dataDirHolder(dataDir: string): DataDirHolder | null {
  let holder: DataDirHolder
  try {
    holder = JSON.parse(readFileSync(join(dataDir, LOCK_FILE), 'utf8')) as DataDirHolder
  } catch {
    return null
  }
  return typeof holder.pid === 'number' && alive(holder.pid) ? holder : null
}

export class DataDirHeld extends Error {
  override name = 'DataDirHeld'
  readonly dataDir: string
  readonly holder: DataDirHolder
  constructor(dataDir: string, holder: DataDirHolder) {
    super(
      `DATA_DIR ${dataDir} is in use by another Accord process (pid ${holder.pid}, ${holder.url}, since ${holder.startedAt}): two processes on one embedded database would corrupt it`
    )
    this.dataDir = dataDir
    this.holder = holder
  }
}

/**
 * Takes `dataDir` for this process: PGlite has no lock of its own, and two
 * processes writing one directory corrupt it. The lock file says who holds it
 * (so `npm run token` can find the running server); one left by a process that
 * died is taken over. Returns the release function.
 */
export function lockDataDir(dataDir: string, url: string): () => void {
  mkdirSync(dataDir, { recursive: true })
  const path = join(dataDir, LOCK_FILE)
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number
    try {
      fd = openSync(path, 'wx', 0o600)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const holder = dataDirHolder(dataDir)
      if (holder) throw new DataDirHeld(dataDir, holder)
      rmSync(path, { force: true }) // left by a process that died
      continue
    }
    writeSync(
      fd,
      JSON.stringify({ pid: process.pid, url, startedAt: new Date().toISOString() } satisfies DataDirHolder)
    )
    closeSync(fd)
    return () => {
      if (dataDirHolder(dataDir)?.pid === process.pid) rmSync(path, { force: true })
    }
  }
  throw new DataDirHeld(dataDir, dataDirHolder(dataDir) ?? { pid: -1, url: 'unknown', startedAt: 'unknown' })
}

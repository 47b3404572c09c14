import { randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import type { Config } from '../config.ts'
import { KEY_BYTES, open, seal } from '../lib/seal.ts'

/**
 * The key-encryption key (KEK) that seals secrets at rest: the service's private signing keys and webhook
 * secrets. It comes from SECRET_KEY; unset, from `<DATA_DIR>/secret.key` (made on first start, mode 0600);
 * with DATA_DIR=:memory: and no SECRET_KEY, from an ephemeral key of this process (nothing persisted
 * survives the process anyway; every app of one process, e.g. a test file's instances, shares it).
 * The key never leaves this module: callers seal and open with a purpose naming what and which row.
 */
export interface Kek {
  readonly source: 'SECRET_KEY' | 'key file' | 'ephemeral'
  /** Seals under the current key (SECRET_KEY). */
  seal(plaintext: string, purpose: string): string
  /**
   * Opens under the current key, else under each of SECRET_KEY_EXTRA (a rotation in progress, README "Secrets
   * at rest"). Throws SealOpenError when no key opens the value for this purpose.
   */
  open(sealed: string, purpose: string): string
  /** The same KEK without its extra keys: what a re-seal seals under (and the only key it then needs). */
  readonly current: Kek
}

/** The KEK cannot be had or does not fit the data: the process must not start. */
export class KekError extends Error {
  override name = 'KekError'
}

let ephemeral: Buffer | undefined

/** A KEK over 32 raw bytes, opening also with `extra` keys (never sealing with them). */
export function kekOf(key: Uint8Array, source: Kek['source'], extra: readonly Uint8Array[] = []): Kek {
  const k = Buffer.from(key)
  const others = extra.map((e) => Buffer.from(e)).filter((e) => !e.equals(k))
  const current: Kek = {
    source,
    seal: (plaintext, purpose) => seal(k, plaintext, purpose),
    open: (sealed, purpose) => open(k, sealed, purpose),
    get current() {
      return current
    }
  }
  if (others.length === 0) return current
  return {
    source,
    seal: current.seal,
    open(sealed, purpose) {
      try {
        return open(k, sealed, purpose)
      } catch (err) {
        for (const o of others) {
          try {
            return open(o, sealed, purpose)
          } catch {}
        }
        throw err
      }
    },
    current
  }
}

/** The KEK the configuration names (see Kek); creates the key file when it is missing. */
export function loadKek(secrets: Config['secrets']): Kek {
  const extra = secrets.extraKeys.map((k) => Buffer.from(k, 'base64'))
  if (secrets.key !== null) return kekOf(Buffer.from(secrets.key, 'base64'), 'SECRET_KEY', extra)
  if (secrets.keyFile === null) {
    ephemeral ??= randomBytes(KEY_BYTES)
    return kekOf(ephemeral, 'ephemeral')
  }
  return kekOf(readOrCreateKeyFile(secrets.keyFile), 'key file', extra)
}

/** The new key of a rotation (NEW_SECRET_KEY). */
export function loadNewKek(secrets: Config['secrets']): Kek {
  if (secrets.newKey === null) throw new KekError('NEW_SECRET_KEY is required: the key to seal every secret under')
  return kekOf(Buffer.from(secrets.newKey, 'base64'), 'SECRET_KEY')
}

function readOrCreateKeyFile(path: string): Buffer {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  try {
    writeKeyFile(path, randomBytes(KEY_BYTES), 'wx')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  const mode = statSync(path).mode & 0o777
  if ((mode & 0o077) !== 0)
    throw new KekError(
      `${path} is readable by others (mode ${mode.toString(8).padStart(4, '0')}): it holds the key of every secret; chmod 600 it`
    )
  const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64')
  if (key.length !== KEY_BYTES) throw new KekError(`${path} does not hold the base64 of ${KEY_BYTES} bytes`)
  return key
}

/** Writes a key file with mode 0600: `wx` fails if it exists (two processes never both make one). */
function writeKeyFile(path: string, key: Uint8Array, flags: 'wx'): void {
  const fd = openSync(path, flags, 0o600)
  try {
    writeSync(fd, `${Buffer.from(key).toString('base64')}\n`)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** Replaces the key file's key (after a rotation): a new file beside it, then renamed over it. */
export function replaceKeyFile(path: string, key: string): void {
  const next = `${dirname(path)}/.secret.key.${process.pid}`
  writeKeyFile(next, Buffer.from(key, 'base64'), 'wx')
  renameSync(next, path)
}

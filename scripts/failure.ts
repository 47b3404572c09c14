import { ConfigError } from '../src/config.ts'
import { DataDirHeld } from '../src/db/data-dir-lock.ts'
import { KekError } from '../src/keys/kek.ts'

/**
 * How an operator's script reports what stopped it, and exits 1: a failure the operator can act on (the
 * configuration, a data directory held by a server, a secret key that does not fit) in one line; anything
 * else with its stack, since it is a defect to report.
 */
export function reportFailure(err: unknown): void {
  const known = err instanceof ConfigError || err instanceof DataDirHeld || err instanceof KekError
  process.stderr.write(`accord: ${known ? err.message : ((err as Error).stack ?? String(err))}\n`)
  process.exitCode = 1
}

// The command line of npm run faults. Defaults are the full run of the issue; CI passes a short one.
import { parseArgs } from 'node:util'

export interface Options {
  db: 'pglite' | 'postgres' | 'both'
  /** API kills per database. */
  cycles: number
  /** Immediate stops of the private PostgreSQL cluster. */
  pgKills: number
  /** Length of the soak on PostgreSQL; 0 skips it. */
  soakSeconds: number
  seed: number
  /** The shared PostgreSQL server that hosts the databases of the API-kill runs and of the soak. */
  adminUrl: string
}

const usage =
  'usage: npm run faults -- [--db pglite|postgres|both] [--cycles N] [--pg-kills N] [--soak-seconds N] [--seed N]'

export function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      db: { type: 'string', default: 'both' },
      cycles: { type: 'string', default: '20' },
      'pg-kills': { type: 'string', default: '5' },
      'soak-seconds': { type: 'string', default: '600' },
      seed: { type: 'string' },
      help: { type: 'boolean', default: false }
    },
    strict: true
  })
  if (values.help) {
    process.stderr.write(`${usage}\n`)
    process.exit(0)
  }
  const count = (name: string, raw: string): number => {
    const n = Number(raw)
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number ≥ 0 (got "${raw}")\n${usage}`)
    return n
  }
  if (values.db !== 'pglite' && values.db !== 'postgres' && values.db !== 'both')
    throw new Error(`--db must be pglite, postgres or both\n${usage}`)
  return {
    db: values.db,
    cycles: count('cycles', values.cycles),
    pgKills: count('pg-kills', values['pg-kills']),
    soakSeconds: count('soak-seconds', values['soak-seconds']),
    seed: values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : count('seed', values.seed),
    adminUrl: process.env.FAULTS_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
  }
}

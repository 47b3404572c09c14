// npm run token -- <sub> [--name "Name"] [--scope "…"]: prints a bearer token from the service's own issuer on
// stdout, and on stderr which server (or database) minted it and the issuer it names.
//
// Whom it asks, in order: the server holding DATA_DIR (its lock file names its URL, whatever PORT this shell
// has), else the server at PUBLIC_URL (or HOST:PORT). When none answers it mints from the database itself:
// PostgreSQL, or a PGlite DATA_DIR that no process holds (never one a server has open).
import { parseArgs } from 'node:util'
import { type Config, ConfigError, loadConfig } from '../src/config.ts'
import { createDb, type Database } from '../src/db/client.ts'
import { DataDirHeld, dataDirHolder } from '../src/db/data-dir-lock.ts'
import { mintDevToken } from '../src/dev/dev.service.ts'
import { loadKek } from '../src/keys/kek.ts'
import { loadServiceKeys } from '../src/keys/key.service.ts'

const usage = 'usage: npm run token -- <sub> [--name "Display Name"] [--scope "agreements:read agreements:write"]'
const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { name: { type: 'string' }, scope: { type: 'string' } }
})
const sub = positionals[0]
if (!sub) fail(usage, 2)

let config: Config
try {
  config = loadConfig()
} catch (err) {
  fail(err instanceof ConfigError ? err.message : String(err))
}
if (!config.auth.devTokens)
  fail(
    'development tokens are off here (NODE_ENV=production, a HOST that is not a loopback address, or DEV_TOKENS=false); set DEV_TOKENS=true to allow them explicitly'
  )

const body = { sub, ...(values.name ? { name: values.name } : {}), ...(values.scope ? { scope: values.scope } : {}) }
const dataDir = config.database.kind === 'pglite' ? config.database.dataDir : null
const holder = dataDir ? dataDirHolder(dataDir) : null
const url = holder?.url ?? config.publicUrl

// A server that holds DATA_DIR may still be starting (PGlite takes seconds): it is waited for, never bypassed.
const deadline = Date.now() + (holder ? 60_000 : 0)
let token: string | undefined
for (;;) {
  try {
    const res = await fetch(`${url}/v1/dev/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5000)
    })
    if (res.status !== 201) fail(`the server at ${url} answered ${res.status}: ${await res.text()}`)
    token = ((await res.json()) as { accessToken: string }).accessToken
    process.stderr.write(`accord: minted by the server at ${url} (issuer ${url})\n`)
    break
  } catch (err) {
    if (holder === null) {
      token = await mintFromDatabase()
      break
    }
    if (Date.now() > deadline || dataDirHolder(dataDir!) === null) {
      fail(
        `the server holding DATA_DIR ${dataDir} (pid ${holder.pid}, ${holder.url}) did not answer: ${(err as Error).message}`
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}
process.stdout.write(`${token}\n`)

/** No server answered: mint with the key kept in the database, for a server started with this same configuration. */
async function mintFromDatabase(): Promise<string> {
  let database: Database
  try {
    database = await createDb(config!.database, { holderUrl: 'npm run token' })
  } catch (err) {
    if (err instanceof DataDirHeld) fail(err.message)
    throw err
  }
  try {
    await database.migrate()
    const keys = await loadServiceKeys(database.db, () => new Date(), loadKek(config!.secrets))
    const minted = (await mintDevToken({ config: config!, keys, now: () => new Date() }, body)).accessToken
    const where = dataDir ? `DATA_DIR ${dataDir}` : 'the PostgreSQL database of DATABASE_URL'
    process.stderr.write(
      `accord: no server answered at ${url}; minted from ${where} with issuer ${config!.publicUrl}: it is accepted by a server started with the same DATA_DIR or DATABASE_URL and PUBLIC_URL (or HOST and PORT)\n`
    )
    return minted
  } finally {
    await database.close()
  }
}

function fail(message: string, code = 1): never {
  process.stderr.write(`accord: ${message}\n`)
  process.exit(code)
}

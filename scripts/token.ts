// npm run token -- <sub> [name] [scope…]: prints a bearer token from the service's own issuer.
// It asks the running server first (POST /v1/dev/tokens); when none answers it opens the database
// itself, which is safe for PGlite only because no server holds the data directory then.
import { parseArgs } from 'node:util'
import { ConfigError, loadConfig } from '../src/config.ts'
import { createDb } from '../src/db/client.ts'
import { mintDevToken } from '../src/dev/dev.service.ts'
import { loadServiceKeys } from '../src/keys/key.service.ts'

const usage = 'usage: npm run token -- <sub> [--name "Display Name"] [--scope "agreements:read agreements:write"]'
const { positionals, values } = parseArgs({ allowPositionals: true, options: { name: { type: 'string' }, scope: { type: 'string' } } })
const sub = positionals[0]
if (!sub) {
  process.stderr.write(`${usage}\n`)
  process.exit(2)
}

let config
try { config = loadConfig() } catch (err) {
  process.stderr.write(`accord: ${err instanceof ConfigError ? err.message : String(err)}\n`)
  process.exit(1)
}
if (!config.auth.devTokens) {
  process.stderr.write('accord: development tokens are off here (NODE_ENV=production, a HOST that is not a loopback address, or DEV_TOKENS=false); set DEV_TOKENS=true to allow them explicitly\n')
  process.exit(1)
}

const body = { sub, ...(values.name ? { name: values.name } : {}), ...(values.scope ? { scope: values.scope } : {}) }
let token: string | undefined
try {
  const res = await fetch(`http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${config.port}/v1/dev/tokens`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(3000)
  })
  if (res.status === 201) token = ((await res.json()) as { accessToken: string }).accessToken
  else process.stderr.write(`accord: the running server answered ${res.status}: ${await res.text()}\n`)
} catch {
  const database = await createDb(config.database)
  await database.migrate()
  const keys = await loadServiceKeys(database.db, () => new Date())
  token = (await mintDevToken({ config, keys, now: () => new Date() }, body)).accessToken
  await database.close()
}
if (!token) process.exit(1)
process.stdout.write(`${token}\n`)

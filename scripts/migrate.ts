// Applies pending migrations to the configured database (npm run db:migrate); the server also does this at start.
import { ConfigError, loadConfig } from '../src/config.ts'
import { createDb } from '../src/db/client.ts'

try {
  const config = loadConfig()
  const database = await createDb(config.database)
  await database.migrate()
  process.stdout.write(`migrations applied (${config.database.kind})\n`)
  await database.close()
} catch (err) {
  process.stderr.write(`accord: ${err instanceof ConfigError ? err.message : (err as Error).message}\n`)
  process.exit(1)
}

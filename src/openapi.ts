import { buildApp } from './app.ts'
import { loadConfig } from './config.ts'
import { createDb } from './db/client.ts'
import { assembleDeps } from './deps.ts'

/**
 * The OpenAPI document, generated from the same zod schemas that validate
 * requests. Built on a throwaway in-memory database with the development
 * configuration, so the committed file does not depend on the machine.
 */
export async function generateOpenApi(): Promise<string> {
  const config = loadConfig({ NODE_ENV: 'development', DATA_DIR: ':memory:', LOG_LEVEL: 'silent' })
  const database = await createDb(config.database)
  try {
    await database.migrate()
    const app = await buildApp(await assembleDeps(config, database), { logger: false })
    await app.ready()
    const doc = app.swagger()
    await app.close()
    return `${JSON.stringify(doc, null, 2)}\n`
  } finally {
    await database.close()
  }
}

import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.ts'
import { type Config, ConfigError, loadConfig } from './config.ts'
import { createDb, type Database } from './db/client.ts'
import { DataDirHeld } from './db/data-dir-lock.ts'
import { refusedStartupParameter } from './db/errors.ts'
import { assembleDeps, type Deps } from './deps.ts'
import { KekError } from './keys/kek.ts'
import { startScheduler } from './scheduler/scheduler.ts'
import { startDeliveryWorker } from './webhooks/delivery.worker.ts'

/**
 * Process entry: configuration → database → migrations → app → listen. On
 * SIGTERM/SIGINT it stops accepting, lets in-flight requests finish (up to
 * SHUTDOWN_GRACE_MS), closes the database and exits 0.
 */
async function main(): Promise<void> {
  let config: Config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`accord: ${err.message}\n`)
      process.exit(1)
    }
    throw err
  }
  let database: Database
  try {
    database = await createDb(config.database, { holderUrl: config.publicUrl })
  } catch (err) {
    if (err instanceof DataDirHeld) {
      process.stderr.write(`accord: ${err.message}\n`)
      process.exit(1)
    }
    throw err
  }
  try {
    await database.migrate()
  } catch (err) {
    const parameter = refusedStartupParameter(err)
    if (parameter === null) throw err
    process.stderr.write(
      `accord: the database refused the startup parameter ${parameter}: behind a transaction pooler such as PgBouncer set DATABASE_STATEMENT_TIMEOUT_MS=0 and put the timeouts on the database role (README: Behind PgBouncer)\n`
    )
    await database.close()
    process.exit(1)
  }
  let deps: Deps
  try {
    deps = await assembleDeps(config, database)
  } catch (err) {
    if (err instanceof KekError) {
      process.stderr.write(`accord: ${err.message}\n`)
      await database.close()
      process.exit(1)
    }
    throw err
  }
  const app = await buildApp(deps)
  const scheduler = config.schedulerIntervalMs > 0 ? startScheduler(deps, app.log, config.schedulerIntervalMs) : null
  const webhookWorker =
    config.webhooks.workerIntervalMs > 0 ? startDeliveryWorker(deps, app.log, config.webhooks.workerIntervalMs) : null
  // Within the grace period whatever the database is doing: a scheduler pass or queries stuck on a database
  // that went away each get a part of it, so the process exits 0 on SIGTERM instead of being cut at the end.
  app.addHook('onClose', async () => {
    await Promise.race([
      Promise.all([scheduler?.stop(), webhookWorker?.stop()]),
      new Promise((resolve) => setTimeout(resolve, config.shutdownGraceMs / 4).unref())
    ])
    await database.close(config.shutdownGraceMs / 4)
  })

  const graceful = closeWithGrace({ delay: config.shutdownGraceMs, logger: app.log }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal }, 'shutting down: finishing in-flight requests')
    await app.close()
  })
  if (config.startedByNpm)
    stopWithNpm(() => {
      app.log.info('npm, which started this server, is gone: shutting down')
      graceful.close()
    })

  await app.listen({ port: config.port, host: config.host })
  const where =
    config.database.kind === 'postgres' ? 'PostgreSQL' : `PGlite (${config.database.dataDir ?? 'in memory'})`
  app.log.info(`Accord is listening on ${config.publicUrl} with ${where}; API docs at ${config.publicUrl}/docs`)
  if (config.auth.devTokens)
    app.log.warn(
      `development tokens are ON: anyone who can reach ${config.publicUrl} can mint a token for anyone (POST /v1/dev/tokens); DEV_TOKENS=false turns them off`
    )
}

/**
 * Under `npm start` (which execs node, so a signal sent to npm is forwarded to
 * us), npm may still die without forwarding anything (SIGKILL, a crash): the
 * server must not outlive it, serving on as an orphan nobody manages. Started
 * any other way (node directly, a container's init), nothing is watched.
 */
function stopWithNpm(stop: () => void): void {
  const parent = process.ppid
  const timer = setInterval(() => {
    if (process.ppid === parent) return
    clearInterval(timer)
    stop()
  }, 1000)
  timer.unref()
}

await main()

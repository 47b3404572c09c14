import { defineConfig } from 'drizzle-kit'

// Migrations are generated from the schema barrel (npm run db:generate) and committed; every process applies
// them at start (Database.migrate in src/db/client.ts, under an advisory lock), never drizzle-kit push.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './migrations',
  casing: 'snake_case',
  strict: true,
  verbose: true
})

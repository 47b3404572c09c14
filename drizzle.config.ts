import { defineConfig } from 'drizzle-kit'

// Migrations are generated from the schema barrel and committed; they are applied
// at start by src/db/migrate.ts (never by drizzle-kit push).
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './migrations',
  casing: 'snake_case',
  strict: true,
  verbose: true
})
